import { anthropicRateLimitHeaders, formatRfc3339 } from './headers';
import type { ChatRequest, ErrorResponse, Protocol, ProviderError, ReplyMeta, SseEvent } from './protocol';
import { chunkText, estimateTokens, type Reply, type ReplyFormat } from './replies';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
type InvalidRequest = Extract<ProviderError, { type: 'invalid_request' }>;

function blockText(block: unknown): string {
  if (typeof block === 'string') return block;
  if (!isObj(block)) return '';
  if (typeof block.text === 'string') return block.text;
  if (block.type === 'tool_use') return JSON.stringify(block.input ?? {});
  if (block.type === 'tool_result') return contentText(block.content);
  return '';
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map(blockText).join('');
  return '';
}

/** The system prompt and every message's text, concatenated. */
function promptText(system: unknown, messages: unknown[]): string {
  const out = [contentText(system)].filter(Boolean);
  for (const m of messages) if (isObj(m)) out.push(contentText(m.content));
  return out.join('\n');
}

/**
 * Anthropic replies with JSON when a tool is forced (`tool_choice` `tool`/`any`), when
 * `output_config.format` is a JSON schema, or when the system prompt mentions JSON.
 */
function replyFormat(body: Obj): ReplyFormat | InvalidRequest {
  const tools = Array.isArray(body.tools) ? body.tools.filter(isObj) : [];
  const choice = isObj(body.tool_choice) ? body.tool_choice : undefined;
  if (choice?.type === 'tool') {
    const tool = tools.find((t) => t.name === choice.name);
    if (!tool) return { type: 'invalid_request', message: `tool_choice.name: Tool '${String(choice.name)}' not found in provided tools` };
    return { type: 'tool', name: String(tool.name ?? 'tool'), schema: tool.input_schema ?? {} };
  }
  if (tools.length > 0 && choice?.type === 'any') {
    const tool = tools[0]!;
    return { type: 'tool', name: String(tool.name ?? 'tool'), schema: tool.input_schema ?? {} };
  }
  const format = isObj(body.output_config) && isObj(body.output_config.format) ? body.output_config.format : undefined;
  if (format?.type === 'json_schema') return { type: 'json_schema', schema: format.schema ?? {} };
  if (/\bjson\b/i.test(contentText(body.system))) return { type: 'json_object' };
  return { type: 'text' };
}

function err(status: number, type: string, message: string): ErrorResponse {
  return { status, body: { type: 'error', error: { type, message } } };
}

const STOP = { stop: 'end_turn', length: 'max_tokens', tool: 'tool_use' } as const;

function content(reply: Reply): unknown[] {
  if (reply.toolCall) return [{ type: 'tool_use', id: `toolu_${reply.toolCall.id.slice(5)}`, name: reply.toolCall.name, input: reply.toolCall.input }];
  return [{ type: 'text', text: reply.text }];
}

function usage(req: ChatRequest, outputTokens: number) {
  return { input_tokens: req.inputTokens, output_tokens: outputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
}

function rateLimitError(e: Extract<ProviderError, { type: 'rate_limit' }>): ErrorResponse {
  const r = e.rejection;
  if (!r) return err(429, 'rate_limit_error', `This request would exceed the rate limit for your organization on requests per minute for ${e.model}. Please try again later.`);
  if (r.dimension === 'concurrency') {
    return err(429, 'rate_limit_error', `Number of concurrent connections to ${e.model} has exceeded your rate limit (${r.limit}). Please try again later.`);
  }
  const names = { rpm: 'requests per minute', rpd: 'requests per day', tpm: 'tokens per minute', itpm: 'input tokens per minute', otpm: 'output tokens per minute' };
  const tail = r.tooLarge ? 'This request alone is larger than the limit; reduce the prompt or max_tokens.' : 'Please reduce the prompt length or the maximum tokens requested, or try again later.';
  return err(429, 'rate_limit_error', `This request would exceed the rate limit for your organization of ${r.limit} ${names[r.dimension]} for ${e.model}. ${tail}`);
}

const sse = (event: string, data: Obj, tokens = 0): SseEvent => ({ event, data: JSON.stringify({ type: event, ...data }), tokens });

/**
 * The Anthropic messages wire format (`POST /v1/messages`).
 *
 * @example
 * ```ts
 * const parsed = anthropicProtocol.parse({ model: 'claude-x', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
 * ```
 */
export const anthropicProtocol: Protocol = {
  api: 'anthropic',
  requestIdHeader: 'request-id',

  parse(body) {
    if (!isObj(body)) return { type: 'invalid_request', message: 'Invalid JSON in request body' };
    if (typeof body.model !== 'string' || !body.model) return { type: 'invalid_request', message: 'model: Field required' };
    if (!Array.isArray(body.messages)) return { type: 'invalid_request', message: 'messages: Field required' };
    if (body.messages.length === 0) return { type: 'invalid_request', message: 'messages: at least one message is required' };
    const systemAt = body.messages.findIndex((m) => isObj(m) && m.role === 'system');
    if (systemAt >= 0) {
      return {
        type: 'invalid_request',
        message: `messages.${systemAt}.role: Unexpected role "system". The Messages API accepts a top-level \`system\` parameter, not "system" as an input message role.`,
      };
    }
    const max = body.max_tokens;
    if (max === undefined) return { type: 'invalid_request', message: 'max_tokens: Field required' };
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) return { type: 'invalid_request', message: `max_tokens: Input should be a valid integer >= 1, got ${JSON.stringify(max)}` };
    const format = replyFormat(body);
    if (format.type === 'invalid_request') return format;
    const text = promptText(body.system, body.messages);
    return {
      model: body.model,
      promptText: text,
      inputTokens: estimateTokens(text),
      maxTokens: max,
      stream: body.stream === true,
      includeUsage: true,
      format,
    };
  },

  error(e) {
    switch (e.type) {
      case 'rate_limit':
        return rateLimitError(e);
      case 'overloaded':
        return err(e.status, 'overloaded_error', 'Overloaded');
      case 'server_error':
        return err(500, 'api_error', 'Internal server error');
      case 'context_length':
        if (e.injected || e.inputTokens > e.contextWindow) {
          return err(400, 'invalid_request_error', `prompt is too long: ${Math.max(e.inputTokens, e.contextWindow + 1)} tokens > ${e.contextWindow} maximum`);
        }
        return err(400, 'invalid_request_error', `input length and \`max_tokens\` exceed context limit: ${e.inputTokens} + ${e.maxTokens} > ${e.contextWindow}, decrease input length or \`max_tokens\` and try again`);
      case 'insufficient_quota':
        return err(400, 'billing_error', 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.');
      case 'content_filter':
        return err(400, 'invalid_request_error', 'Output blocked by content filtering policy');
      case 'auth':
        return err(401, 'authentication_error', 'invalid x-api-key');
      case 'model_not_found':
        return err(404, 'not_found_error', `model: ${e.model}`);
      case 'invalid_request':
        return err(400, 'invalid_request_error', e.message);
      case 'not_found':
        return err(404, 'not_found_error', `Not Found: ${e.path}`);
    }
  },

  rateLimitHeaders: (snap, now) => anthropicRateLimitHeaders(snap, now),

  exhaustedHeaders: (limit, retryAfterMs, now) => ({
    'anthropic-ratelimit-requests-limit': String(limit),
    'anthropic-ratelimit-requests-remaining': '0',
    'anthropic-ratelimit-requests-reset': formatRfc3339(now + retryAfterMs),
  }),

  body(req, reply, meta) {
    return {
      id: meta.id,
      type: 'message',
      role: 'assistant',
      model: req.model,
      content: content(reply),
      stop_reason: STOP[reply.finish],
      stop_sequence: null,
      usage: usage(req, reply.outputTokens),
    };
  },

  stream(req, reply, meta) {
    const events: SseEvent[] = [
      sse('message_start', { message: { id: meta.id, type: 'message', role: 'assistant', model: req.model, content: [], stop_reason: null, stop_sequence: null, usage: usage(req, 1) } }),
    ];
    if (reply.toolCall) {
      const block = content(reply)[0] as Obj;
      events.push(sse('content_block_start', { index: 0, content_block: { ...block, input: {} } }));
      events.push(sse('ping', {}));
      for (const piece of chunkText(reply.toolCall.arguments)) {
        events.push(sse('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: piece } }, estimateTokens(piece)));
      }
    } else {
      events.push(sse('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
      events.push(sse('ping', {}));
      for (const piece of chunkText(reply.text)) {
        events.push(sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text: piece } }, estimateTokens(piece)));
      }
    }
    events.push(sse('content_block_stop', { index: 0 }));
    events.push(sse('message_delta', { delta: { stop_reason: STOP[reply.finish], stop_sequence: null }, usage: usage(req, reply.outputTokens) }));
    events.push(sse('message_stop', {}));
    return events;
  },

  malformedBody(req, reply, meta) {
    const full = JSON.stringify(this.body(req, reply, meta));
    return full.slice(0, Math.max(1, Math.floor(full.length / 2)));
  },

  malformedEvent: () => ({ event: 'content_block_delta', data: '{"type":"content_block_delta","index":0,"delta":{"type":"text_del', tokens: 1 }),

  // The body of the matching HTTP error (529 overloaded_error, 429 rate_limit_error, 500 api_error).
  streamError: (e) => [{ event: 'error', data: JSON.stringify(anthropicProtocol.error(e).body), tokens: 0 }],
};
