import { isObject, type ChatChunk, type ChatCompletion, type ChatRequestBody, type ChatUsage, type JsonObject } from './chatTypes';

type Block = JsonObject;
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

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (typeof p === 'string' ? p : isObject(p) && typeof p.text === 'string' ? p.text : '')).join('');
}

function imageBlock(part: JsonObject): Block | undefined {
  const img = isObject(part.image_url) ? part.image_url : undefined;
  const url = typeof img?.url === 'string' ? img.url : typeof part.image_url === 'string' ? part.image_url : undefined;
  if (url === undefined) return undefined;
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (m) return { type: 'image', source: { type: 'base64', media_type: m[1], data: m[2] } };
  return { type: 'image', source: { type: 'url', url } };
}

function userBlocks(content: unknown): Block[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  const out: Block[] = [];
  for (const p of content) {
    if (typeof p === 'string') out.push({ type: 'text', text: p });
    else if (isObject(p) && p.type === 'text' && typeof p.text === 'string') out.push({ type: 'text', text: p.text });
    else if (isObject(p) && p.type === 'image_url') {
      const b = imageBlock(p);
      if (b) out.push(b);
    }
  }
  return out;
}

function parseArguments(args: unknown): unknown {
  if (typeof args !== 'string' || args === '') return {};
  try {
    const v: unknown = JSON.parse(args);
    return isObject(v) ? v : { value: v };
  } catch {
    return {};
  }
}

function assistantBlocks(m: JsonObject): Block[] {
  const out: Block[] = [];
  const text = textOf(m.content);
  if (text !== '') out.push({ type: 'text', text });
  if (Array.isArray(m.tool_calls)) {
    for (const c of m.tool_calls) {
      if (!isObject(c) || !isObject(c.function)) continue;
      out.push({ type: 'tool_use', id: String(c.id ?? ''), name: String(c.function.name ?? ''), input: parseArguments(c.function.arguments) });
    }
  }
  return out;
}

function toolChoice(choice: unknown): JsonObject | undefined {
  if (choice === 'auto') return { type: 'auto' };
  if (choice === 'required') return { type: 'any' };
  if (choice === 'none') return { type: 'none' };
  if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string') return { type: 'tool', name: choice.function.name };
  return undefined;
}

/**
 * Translates an OpenAI chat request into an Anthropic messages request: system and developer
 * messages become `system`, tool results become `tool_result` blocks of a user turn, assistant tool
 * calls become `tool_use` blocks, consecutive turns of one role are merged, images become image
 * blocks, `stop` becomes `stop_sequences`, tools and `tool_choice` are mapped, `temperature` is
 * capped at 1 and a JSON-schema `response_format` becomes `output_config.format`.
 *
 * @example
 * ```ts
 * toAnthropicRequest({ model: 'x', messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'hi' }] }, 'claude-x', 300, false);
 * // { model: 'claude-x', max_tokens: 300, system: 'Be brief', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }
 * ```
 */
export function toAnthropicRequest(body: ChatRequestBody, model: string, maxTokens: number, stream: boolean): JsonObject {
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  const push = (role: 'user' | 'assistant', blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    if (last && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  for (const m of body.messages) {
    if (!isObject(m)) continue;
    switch (m.role) {
      case 'system':
      case 'developer': {
        const t = textOf(m.content);
        if (t !== '') system.push(t);
        break;
      }
      case 'assistant':
        push('assistant', assistantBlocks(m));
        break;
      case 'tool':
      case 'function':
        push('user', [{ type: 'tool_result', tool_use_id: String(m.tool_call_id ?? m.name ?? ''), content: textOf(m.content) }]);
        break;
      default:
        push('user', userBlocks(m.content));
    }
  }
  const out: JsonObject = { model, max_tokens: maxTokens, messages };
  if (system.length > 0) out.system = system.join('\n\n');
  if (stream) out.stream = true;
  if (typeof body.temperature === 'number') out.temperature = Math.min(1, Math.max(0, body.temperature));
  if (typeof body.top_p === 'number') out.top_p = body.top_p;
  if (typeof body.stop === 'string') out.stop_sequences = [body.stop];
  else if (Array.isArray(body.stop)) out.stop_sequences = body.stop.filter((s) => typeof s === 'string');
  if (Array.isArray(body.tools)) {
    out.tools = body.tools
      .filter((t): t is JsonObject => isObject(t) && isObject(t.function))
      .map((t) => {
        const f = t.function as JsonObject;
        return { name: f.name, ...(f.description !== undefined ? { description: f.description } : {}), input_schema: f.parameters ?? { type: 'object', properties: {} } };
      });
  }
  const choice = toolChoice(body.tool_choice);
  if (choice) out.tool_choice = choice;
  const rf = body.response_format;
  if (isObject(rf) && rf.type === 'json_schema' && isObject(rf.json_schema)) {
    out.output_config = { format: { type: 'json_schema', schema: rf.json_schema.schema ?? {} } };
  }
  return out;
}

function usageOf(u: unknown, outputTokens?: number): ChatUsage {
  const o = isObject(u) ? u : {};
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const input = n(o.input_tokens) + n(o.cache_creation_input_tokens) + n(o.cache_read_input_tokens);
  const output = outputTokens ?? n(o.output_tokens);
  return { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
}

/**
 * Translates an Anthropic message into an OpenAI `chat.completion` (text joined, `tool_use` blocks
 * as `tool_calls`, `stop_reason` as `finish_reason`, cache tokens counted as prompt tokens).
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
