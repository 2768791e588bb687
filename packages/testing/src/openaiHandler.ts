import { formatOpenAIDuration, openAIRateLimitHeaders } from './headers';
import type { ChatRequest, ErrorResponse, Protocol, ProviderError, ReplyMeta, SseEvent } from './protocol';
import { chunkText, estimateTokens, type Reply, type ReplyFormat } from './replies';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
type InvalidRequest = Extract<ProviderError, { type: 'invalid_request' }>;

function partText(part: unknown): string {
  if (typeof part === 'string') return part;
  if (isObj(part) && typeof part.text === 'string') return part.text;
  return '';
}

/** All text of the messages: string contents, text parts, tool-call arguments. */
function promptText(messages: unknown[]): string {
  const out: string[] = [];
  for (const m of messages) {
    if (!isObj(m)) continue;
    if (typeof m.content === 'string') out.push(m.content);
    else if (Array.isArray(m.content)) out.push(m.content.map(partText).join(''));
    if (Array.isArray(m.tool_calls)) {
      for (const c of m.tool_calls) if (isObj(c) && isObj(c.function) && typeof c.function.arguments === 'string') out.push(c.function.arguments);
    }
  }
  return out.join('\n');
}

/**
 * What the reply must look like, or the 400 the real API answers for an inconsistent request: a
 * `tool_choice` without `tools`, a named `tool_choice` that matches no tool, `json_object` without
 * the word "json" in the messages.
 */
function replyFormat(body: Obj, text: string): ReplyFormat | InvalidRequest {
  const tools = Array.isArray(body.tools) ? body.tools.filter(isObj) : [];
  const fn = (t: Obj) => (isObj(t.function) ? t.function : {});
  const choice = body.tool_choice;
  if (choice === 'required' || isObj(choice)) {
    if (tools.length === 0) {
      return { type: 'invalid_request', message: "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", param: 'tool_choice' };
    }
    const wanted = isObj(choice) && isObj(choice.function) ? choice.function.name : undefined;
    const tool = wanted === undefined ? tools[0] : tools.find((t) => fn(t).name === wanted);
    if (!tool) {
      const names = tools.map((t) => `'${String(fn(t).name)}'`).join(', ');
      return { type: 'invalid_request', message: `Invalid value for 'tool_choice': function '${String(wanted)}' is not one of the functions in 'tools' (${names}).`, param: 'tool_choice' };
    }
    return { type: 'tool', name: String(fn(tool).name ?? 'tool'), schema: fn(tool).parameters ?? {} };
  }
  const rf = body.response_format;
  if (isObj(rf) && rf.type === 'json_schema') return { type: 'json_schema', schema: isObj(rf.json_schema) ? rf.json_schema.schema : {} };
  if (isObj(rf) && rf.type === 'json_object') {
    if (!/json/i.test(text)) {
      return { type: 'invalid_request', message: "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.", param: 'messages' };
    }
    return { type: 'json_object' };
  }
  return { type: 'text' };
}

function err(status: number, message: string, type: string | null, code: string | null, param: string | null = null): ErrorResponse {
  return { status, body: { error: { message, type, param, code } } };
}

const FINISH = { stop: 'stop', length: 'length', tool: 'tool_calls' } as const;

function usage(req: ChatRequest, reply: Reply) {
  return {
    prompt_tokens: req.inputTokens,
    completion_tokens: reply.outputTokens,
    total_tokens: req.inputTokens + reply.outputTokens,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

function rateLimitError(e: Extract<ProviderError, { type: 'rate_limit' }>): ErrorResponse {
  const r = e.rejection;
  const org = 'in organization org-fake';
  if (!r) {
    return err(429, `Rate limit reached for ${e.model} ${org} on requests per min (RPM). Please try again later.`, 'requests', 'rate_limit_exceeded');
  }
  if (r.dimension === 'concurrency') {
    return err(429, `Too many concurrent requests for ${e.model} ${org}: Limit ${r.limit}. Please retry shortly.`, 'requests', 'rate_limit_exceeded');
  }
  const names = { rpm: 'requests per min (RPM)', rpd: 'requests per day (RPD)', tpm: 'tokens per min (TPM)', itpm: 'input tokens per min (ITPM)', otpm: 'output tokens per min (OTPM)' };
  const type = r.dimension === 'rpm' || r.dimension === 'rpd' ? 'requests' : 'tokens';
  if (r.tooLarge) {
    return err(429, `Request too large for ${e.model} ${org} on ${names[r.dimension]}: Limit ${r.limit}, Requested ${r.requested}. The input or output tokens must be reduced in order to run successfully.`, type, 'rate_limit_exceeded');
  }
  const wait = r.retryAfterMs === undefined ? '' : ` Please try again in ${formatOpenAIDuration(r.retryAfterMs)}.`;
  return err(429, `Rate limit reached for ${e.model} ${org} on ${names[r.dimension]}: Limit ${r.limit}, Used ${r.used}, Requested ${r.requested}.${wait}`, type, 'rate_limit_exceeded');
}

/**
 * The OpenAI chat-completions wire format (`POST /v1/chat/completions`).
 *
 * @example
 * ```ts
 * const parsed = openAIProtocol.parse({ model: 'fast-a', messages: [{ role: 'user', content: 'hi' }] });
 * ```
 */
export const openAIProtocol: Protocol = {
  api: 'openai',
  requestIdHeader: 'x-request-id',

  parse(body) {
    if (!isObj(body)) return { type: 'invalid_request', message: 'We could not parse the JSON body of your request.' };
    if (typeof body.model !== 'string' || !body.model) return { type: 'invalid_request', message: 'you must provide a model parameter', param: 'model' };
    if (!Array.isArray(body.messages)) return { type: 'invalid_request', message: "Missing required parameter: 'messages'.", param: 'messages' };
    if (body.messages.length === 0) {
      return { type: 'invalid_request', message: "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", param: 'messages' };
    }
    const max = body.max_completion_tokens ?? body.max_tokens;
    if (max !== undefined && max !== null && (typeof max !== 'number' || !Number.isInteger(max) || max < 1)) {
      return { type: 'invalid_request', message: `Invalid 'max_tokens': expected an integer >= 1, got ${JSON.stringify(max)}.`, param: 'max_tokens' };
    }
    if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true) {
      return { type: 'invalid_request', message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param: 'stream_options' };
    }
    const text = promptText(body.messages);
    const format = replyFormat(body, text);
    if (format.type === 'invalid_request') return format;
    return {
      model: body.model,
      promptText: text,
      inputTokens: estimateTokens(text),
      maxTokens: typeof max === 'number' ? max : undefined,
      stream: body.stream === true,
      includeUsage: isObj(body.stream_options) && body.stream_options.include_usage === true,
      format,
    };
  },

  error(e) {
    switch (e.type) {
      case 'rate_limit':
        return rateLimitError(e);
      case 'overloaded':
        return e.status === 529
          ? { status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } }
          : err(503, 'The engine is currently overloaded, please try again later.', 'server_error', null);
      case 'server_error':
        return err(500, 'The server had an error while processing your request. Sorry about that!', 'server_error', null);
      case 'context_length': {
        const total = Math.max(e.inputTokens + e.maxTokens, e.contextWindow + 1);
        return err(400, `This model's maximum context length is ${e.contextWindow} tokens. However, you requested ${total} tokens (${total - e.maxTokens} in the messages, ${e.maxTokens} in the completion). Please reduce the length of the messages or completion.`, 'invalid_request_error', 'context_length_exceeded', 'messages');
      }
      case 'insufficient_quota':
        return err(429, 'You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', 'insufficient_quota');
      case 'content_filter':
        return e.variant === 'azure'
          ? { status: 400, body: { error: { message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.", type: null, param: 'prompt', code: 'content_filter', status: 400, innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: { hate: { filtered: true, severity: 'high' } } } } } }
          : err(400, 'Your request was rejected as a result of our safety system.', 'invalid_request_error', 'content_policy_violation');
      case 'auth':
        return err(401, 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.', 'invalid_request_error', 'invalid_api_key');
      case 'model_not_found':
        return err(404, `The model \`${e.model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found');
      case 'invalid_request':
        return err(400, e.message, 'invalid_request_error', null, e.param ?? null);
      case 'not_found':
        return err(404, `Invalid URL (${e.path})`, 'invalid_request_error', null);
    }
  },

  rateLimitHeaders: (snap) => openAIRateLimitHeaders(snap),

  exhaustedHeaders: (limit, retryAfterMs) => ({
    'x-ratelimit-limit-requests': String(limit),
    'x-ratelimit-remaining-requests': '0',
    'x-ratelimit-reset-requests': formatOpenAIDuration(retryAfterMs),
  }),

  body(req, reply, meta) {
    const message = reply.toolCall
      ? { role: 'assistant', content: null, refusal: null, annotations: [], tool_calls: [{ id: reply.toolCall.id, type: 'function', function: { name: reply.toolCall.name, arguments: reply.toolCall.arguments } }] }
      : { role: 'assistant', content: reply.text, refusal: null, annotations: [] };
    return {
      id: meta.id,
      object: 'chat.completion',
      created: Math.floor(meta.createdMs / 1000),
      model: req.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: FINISH[reply.finish] }],
      usage: usage(req, reply),
      system_fingerprint: 'fp_fake',
    };
  },

  stream(req, reply, meta) {
    const base = { id: meta.id, object: 'chat.completion.chunk', created: Math.floor(meta.createdMs / 1000), model: req.model, system_fingerprint: 'fp_fake' };
    const extra = req.includeUsage ? { usage: null } : {};
    const chunk = (delta: unknown, finish: string | null, tokens: number): SseEvent => ({
      data: JSON.stringify({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra }),
      tokens,
    });
    const events: SseEvent[] = [];
    if (reply.toolCall) {
      const { id, name, arguments: args } = reply.toolCall;
      events.push(chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id, type: 'function', function: { name, arguments: '' } }] }, null, 0));
      for (const piece of chunkText(args)) events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null, estimateTokens(piece)));
    } else {
      events.push(chunk({ role: 'assistant', content: '', refusal: null }, null, 0));
      for (const piece of chunkText(reply.text)) events.push(chunk({ content: piece }, null, estimateTokens(piece)));
    }
    events.push(chunk({}, FINISH[reply.finish], 0));
    if (req.includeUsage) events.push({ data: JSON.stringify({ ...base, choices: [], usage: usage(req, reply) }), tokens: 0 });
    events.push({ data: '[DONE]', tokens: 0 });
    return events;
  },

  malformedBody(req, reply, meta) {
    const full = JSON.stringify(this.body(req, reply, meta));
    return full.slice(0, Math.max(1, Math.floor(full.length / 2)));
  },

  malformedEvent: () => ({ data: '{"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"delta":{"content":"bro', tokens: 1 }),

  // After a 200 there is no status to tell an overload apart: OpenAI sends the structured
  // `server_is_overloaded` code (the 503 body's `server_error` type alone would say nothing).
  streamError(e) {
    const body = e.type === 'overloaded' ? { error: { message: 'Our servers are currently overloaded. Please try again later.', type: 'service_unavailable_error', param: null, code: 'server_is_overloaded' } } : this.error(e).body;
    return [
      { data: JSON.stringify(body), tokens: 0 },
      { data: '[DONE]', tokens: 0 },
    ];
  },
};
