/**
 * The parts of the OpenAI chat-completions wire format the gateway reads or writes. Everything else
 * in a body is passed through untouched.
 */

/**
 * A JSON object.
 *
 * @example
 * ```ts
 * const o: JsonObject = { model: 'support' };
 * ```
 */
export type JsonObject = Record<string, unknown>;

/**
 * One message of a chat request.
 *
 * @example
 * ```ts
 * const m: ChatMessageIn = { role: 'user', content: [{ type: 'text', text: 'hi' }] };
 * ```
 */
export interface ChatMessageIn extends JsonObject {
  role: string;
  content?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
}

/**
 * A chat-completions request body.
 *
 * @example
 * ```ts
 * const body: ChatRequestBody = { model: 'support', messages: [{ role: 'user', content: 'hi' }], stream: true };
 * ```
 */
export interface ChatRequestBody extends JsonObject {
  model: string;
  messages: ChatMessageIn[];
  stream?: boolean;
  max_tokens?: number;
  max_completion_tokens?: number;
  stream_options?: { include_usage?: boolean } & JsonObject;
}

/**
 * OpenAI usage block.
 *
 * @example
 * ```ts
 * const u: ChatUsage = { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 };
 * ```
 */
export interface ChatUsage extends JsonObject {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/**
 * One streamed chunk (`chat.completion.chunk`).
 *
 * @example
 * ```ts
 * const c: ChatChunk = { id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] };
 * ```
 */
export interface ChatChunk extends JsonObject {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{ index: number; delta: JsonObject; finish_reason: string | null; logprobs?: null } & JsonObject>;
  usage?: ChatUsage | null;
}

/**
 * A complete reply (`chat.completion`).
 *
 * @example
 * ```ts
 * completion.choices[0]?.message.content;
 * ```
 */
export interface ChatCompletion extends JsonObject {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{ index: number; message: JsonObject; finish_reason: string | null; logprobs: null }>;
  usage?: ChatUsage;
}

/**
 * True for plain objects (not arrays, not null).
 *
 * @example
 * ```ts
 * isObject({}); // true
 * ```
 */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * True when a chunk carries output (text, a tool call, a refusal, audio: `delta.audio` with `data`
 * or a `transcript`) or ends the reply: the point after which the gateway no longer falls back.
 *
 * @example
 * ```ts
 * carriesOutput({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }); // false
 * ```
 */
export function carriesOutput(chunk: ChatChunk): boolean {
  const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
  for (const c of choices) {
    if (c.finish_reason !== null && c.finish_reason !== undefined) return true;
    const d = isObject(c.delta) ? c.delta : {};
    if (typeof d.content === 'string' && d.content !== '') return true;
    if (typeof d.refusal === 'string' && d.refusal !== '') return true;
    if (Array.isArray(d.tool_calls) && d.tool_calls.length > 0) return true;
    if (d.function_call !== undefined && d.function_call !== null) return true;
    if (isObject(d.audio) && ((typeof d.audio.data === 'string' && d.audio.data !== '') || (typeof d.audio.transcript === 'string' && d.audio.transcript !== ''))) return true;
  }
  return choices.length === 0 && isObject(chunk.usage);
}
