import { anthropicToolId, assistantBlocks, LegacyCallIds, textContent, userBlocks, type Block } from './anthropicContent';
import { anthropicOutputConfig, anthropicSampling, anthropicStopSequences, anthropicToolChoice, anthropicTools, assertAnthropicOptions } from './anthropicOptions';
import { isObject, type ChatChunk, type ChatCompletion, type ChatRequestBody, type ChatUsage, type JsonObject } from './chatTypes';
import { ChatRequestError, invalidType } from './ChatRequestError';
import { assertChatMessages } from './checkChatMessages';

interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

const STOP_REASONS: Readonly<Record<string, string>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/**
 * OpenAI `finish_reason` of an Anthropic `stop_reason`.
 *
 * @example
 * ```ts
 * finishReason('max_tokens'); // 'length'
 * ```
 */
export function finishReason(stopReason: unknown): string {
  return typeof stopReason === 'string' ? (STOP_REASONS[stopReason] ?? 'stop') : 'stop';
}

/**
 * Translates an OpenAI chat request into an Anthropic messages request: system and developer
 * messages become `system`, tool results become `tool_result` blocks of a user turn, assistant tool
 * calls become `tool_use` blocks (ids outside `[a-zA-Z0-9_-]` mapped alike in both, legacy
 * `function_call` turns given unique `<name>_<n>` ids), consecutive turns of one role are merged,
 * empty and whitespace-only texts are left out and trailing whitespace of a final assistant turn
 * (a prefill) is trimmed, images become image blocks and base64 PDF files document blocks, `stop`
 * becomes `stop_sequences`, tools, `tool_choice` and `parallel_tool_calls` are mapped,
 * `temperature` is capped at 1, `user` becomes `metadata.user_id` and a JSON-schema
 * `response_format` becomes `output_config.format`.
 *
 * Nothing is dropped silently: content, roles and options with no faithful Anthropic form (audio
 * parts, `n` above 1, `logprobs`, JSON mode without a schema, unknown options, a request with no
 * user or assistant message, a `temperature` that is not a number from 0 to 2, ...) throw a {@link ChatRequestError} naming their path
 * (`messages[0].content[1]`); the options in `ANTHROPIC_IGNORED_OPTIONS` (sampling and caching
 * hints such as `seed` and `presence_penalty`) are left out. Error messages name the model the
 * client asked for (`body.model`), never `model`.
 *
 * @example
 * ```ts
 * toAnthropicRequest({ model: 'x', messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'hi' }] }, 'claude-x', 300, false);
 * // { model: 'claude-x', max_tokens: 300, system: 'Be brief', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }
 * ```
 */
export function toAnthropicRequest(body: ChatRequestBody, model: string, maxTokens: number, stream: boolean): JsonObject {
  const alias = body.model;
  if (!Array.isArray(body.messages)) throw invalidType('messages', 'an array', body.messages);
  assertChatMessages(body.messages);
  assertAnthropicOptions(body);
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  // Legacy function_call turns get ids of their own, none of which repeats a tool call's id.
  const toolCallIds = new Set<string>();
  for (const m of body.messages) {
    const calls = (m as { tool_calls?: unknown }).tool_calls;
    if (!Array.isArray(calls)) continue;
    for (const c of calls) {
      const id = (c as { id?: unknown } | null)?.id;
      if (typeof id === 'string') toolCallIds.add(anthropicToolId(id));
    }
  }
  const legacy = new LegacyCallIds(toolCallIds);
  const push = (role: 'user' | 'assistant', blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    if (last && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  body.messages.forEach((m, i) => {
    const at = { path: `messages[${i}]`, model: alias };
    switch (m.role) {
      case 'system':
      case 'developer': {
        const t = textContent(m.content, at);
        if (t !== '') system.push(t);
        break;
      }
      case 'user':
        push('user', userBlocks(m.content, at));
        break;
      case 'assistant':
        push('assistant', assistantBlocks(m, at, legacy));
        break;
      case 'tool':
      case 'function': {
        const [idField, id] = m.role === 'tool' ? ['tool_call_id', m.tool_call_id] : ['name', m.name];
        if (typeof id !== 'string' || id === '') throw invalidType(`${at.path}.${idField}`, 'a string', id);
        const toolUseId = m.role === 'tool' ? anthropicToolId(id) : legacy.result(id);
        push('user', [{ type: 'tool_result', tool_use_id: toolUseId, content: textContent(m.content, at) }]);
        break;
      }
      default:
        throw new ChatRequestError(
          `${at.path}.role`,
          'unsupported_value',
          `Unsupported value: role ${JSON.stringify(m.role)} in '${at.path}.role' is not supported with model \`${alias}\`. Supported roles: system, developer, user, assistant, tool, function.`,
        );
    }
  });
  trimFinalAssistantTurn(messages);
  if (messages.length === 0) {
    throw new ChatRequestError('messages', 'invalid_value', `Invalid value for 'messages': model \`${alias}\` needs at least one user or assistant message with content besides system messages.`);
  }
  const out: JsonObject = { model, max_tokens: maxTokens, messages };
  if (system.length > 0) out.system = system.join('\n\n');
  if (stream) out.stream = true;
  Object.assign(out, anthropicSampling(body));
  const stop = anthropicStopSequences(body.stop);
  if (stop) out.stop_sequences = stop;
  const tools = anthropicTools(body.tools, alias);
  if (tools) out.tools = tools;
  const choice = anthropicToolChoice(body.tool_choice, body.parallel_tool_calls, (tools?.length ?? 0) > 0, alias);
  if (choice) out.tool_choice = choice;
  const outputConfig = anthropicOutputConfig(body.response_format, alias);
  if (outputConfig) out.output_config = outputConfig;
  const user = typeof body.safety_identifier === 'string' && body.safety_identifier !== '' ? body.safety_identifier : body.user;
  if (typeof user === 'string' && user !== '') out.metadata = { user_id: user };
  return out;
}

/**
 * Trims the trailing whitespace of the last text block of a final assistant turn, which Anthropic
 * takes as a prefill and refuses when it ends with whitespace; a block left empty is dropped, and
 * a turn left empty too.
 */
function trimFinalAssistantTurn(messages: AnthropicMessage[]): void {
  const last = messages[messages.length - 1];
  if (!last || last.role !== 'assistant') return;
  let i = last.content.length - 1;
  while (i >= 0 && !(last.content[i]!.type === 'text' && typeof last.content[i]!.text === 'string')) i--;
  if (i < 0) return;
  const text = (last.content[i]!.text as string).trimEnd();
  if (text !== '') last.content[i] = { ...last.content[i]!, text };
  else last.content.splice(i, 1);
  if (last.content.length === 0) messages.pop();
}

/**
 * OpenAI usage of an Anthropic one: cache writes and reads count as prompt tokens, reads also as
 * `prompt_tokens_details.cached_tokens` (as OpenAI reports its cache hits).
 */
function usageOf(u: unknown, outputTokens?: number): ChatUsage {
  const o = isObject(u) ? u : {};
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const cached = n(o.cache_read_input_tokens);
  const input = n(o.input_tokens) + n(o.cache_creation_input_tokens) + cached;
  const output = outputTokens ?? n(o.output_tokens);
  return { prompt_tokens: input, completion_tokens: output, total_tokens: input + output, prompt_tokens_details: { cached_tokens: cached } };
}

/**
 * Translates an Anthropic message into an OpenAI `chat.completion` (text joined, `tool_use` blocks
 * as `tool_calls`, `stop_reason` as `finish_reason`, cache tokens counted as prompt tokens, cache reads also as
 * `usage.prompt_tokens_details.cached_tokens`).
 *
 * @example
 * ```ts
 * fromAnthropicMessage({ id: 'msg_1', model: 'claude-x', content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', usage: { input_tokens: 3, output_tokens: 1 } }, 0);
 * ```
 */
export function fromAnthropicMessage(msg: JsonObject, createdSeconds: number): ChatCompletion {
  const blocks = Array.isArray(msg.content) ? msg.content.filter(isObject) : [];
  const text = blocks.filter((b) => b.type === 'text' && typeof b.text === 'string').map((b) => b.text as string).join('');
  const tools = blocks
    .filter((b) => b.type === 'tool_use')
    .map((b) => ({ id: String(b.id ?? ''), type: 'function', function: { name: String(b.name ?? ''), arguments: JSON.stringify(b.input ?? {}) } }));
  const message: JsonObject = { role: 'assistant', content: tools.length > 0 && text === '' ? null : text, refusal: null };
  if (tools.length > 0) message.tool_calls = tools;
  return {
    id: String(msg.id ?? ''),
    object: 'chat.completion',
    created: createdSeconds,
    model: String(msg.model ?? ''),
    choices: [{ index: 0, message, finish_reason: finishReason(msg.stop_reason), logprobs: null }],
    usage: usageOf(msg.usage),
  };
}

/**
 * Turns Anthropic stream events into OpenAI chunks, one event at a time: `message_start` gives the
 * role chunk, text and tool-input deltas give content and `tool_calls` chunks, `message_delta` the
 * finish reason, `message_stop` a final usage chunk (`choices: []`) and {@link finished}. An
 * `error` event throws its payload (the caller wraps it).
 *
 * @example
 * ```ts
 * const t = new AnthropicStreamTranslator(Math.floor(Date.now() / 1000));
 * for await (const e of parseSse(body)) for (const chunk of t.push(e.event, JSON.parse(e.data))) send(chunk);
 * ```
 */
export class AnthropicStreamTranslator {
  /** True once `message_stop` arrived. */
  finished = false;
  /** Usage so far (final after `message_stop`). */
  usage: ChatUsage | undefined;
  private id = '';
  private model = '';
  private startUsage: unknown;
  private outputTokens = 0;
  private readonly toolIndex = new Map<number, number>();
  private finishSent = false;

  constructor(private readonly created: number) {}

  private chunk(delta: JsonObject, finish: string | null = null): ChatChunk {
    return { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] };
  }

  /** Chunks for one event; throws `{ error }` payloads of `error` events. */
  push(event: string | undefined, data: JsonObject): ChatChunk[] {
    const type = typeof data.type === 'string' ? data.type : event;
    switch (type) {
      case 'message_start': {
        const m = isObject(data.message) ? data.message : {};
        this.id = String(m.id ?? '');
        this.model = String(m.model ?? '');
        this.startUsage = m.usage;
        this.usage = usageOf(m.usage, 0);
        return [this.chunk({ role: 'assistant', content: '' })];
      }
      case 'content_block_start': {
        const b = isObject(data.content_block) ? data.content_block : {};
        if (b.type !== 'tool_use') return [];
        const index = typeof data.index === 'number' ? data.index : 0;
        const toolIndex = this.toolIndex.size;
        this.toolIndex.set(index, toolIndex);
        return [this.chunk({ tool_calls: [{ index: toolIndex, id: String(b.id ?? ''), type: 'function', function: { name: String(b.name ?? ''), arguments: '' } }] })];
      }
      case 'content_block_delta': {
        const d = isObject(data.delta) ? data.delta : {};
        if (d.type === 'text_delta' && typeof d.text === 'string') return [this.chunk({ content: d.text })];
        if (d.type === 'input_json_delta' && typeof d.partial_json === 'string') {
          const toolIndex = this.toolIndex.get(typeof data.index === 'number' ? data.index : 0) ?? 0;
          return [this.chunk({ tool_calls: [{ index: toolIndex, function: { arguments: d.partial_json } }] })];
        }
        return [];
      }
      case 'message_delta': {
        const u = isObject(data.usage) ? data.usage : {};
        if (typeof u.output_tokens === 'number') this.outputTokens = u.output_tokens;
        this.usage = usageOf(this.startUsage, this.outputTokens);
        const d = isObject(data.delta) ? data.delta : {};
        if (d.stop_reason === undefined || d.stop_reason === null) return [];
        this.finishSent = true;
        return [this.chunk({}, finishReason(d.stop_reason))];
      }
      case 'message_stop': {
        this.finished = true;
        this.usage = usageOf(this.startUsage, this.outputTokens);
        const out: ChatChunk[] = this.finishSent ? [] : [this.chunk({}, 'stop')];
        out.push({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage: this.usage });
        return out;
      }
      case 'error':
        throw isObject(data.error) ? data.error : data;
      default:
        return []; // ping, content_block_stop, unknown future events
    }
  }
}
