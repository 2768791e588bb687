import type { LimitRejection, LimitSnapshot } from './limits';
import type { Reply, ReplyFormat } from './replies';

/**
 * A chat request, whichever API it came from.
 *
 * @example
 * ```ts
 * const parsed = openAIProtocol.parse(body);
 * if (!isProviderError(parsed)) console.log(parsed.model, parsed.inputTokens);
 * ```
 */
export interface ChatRequest {
  model: string;
  promptText: string;
  inputTokens: number;
  maxTokens: number | undefined;
  stream: boolean;
  /** OpenAI `stream_options.include_usage`. */
  includeUsage: boolean;
  format: ReplyFormat;
}

/**
 * An error the fake provider answers with, before the wire format is chosen.
 *
 * @example
 * ```ts
 * const e: ProviderError = { type: 'overloaded', status: 529 };
 * ```
 */
export type ProviderError =
  | { type: 'rate_limit'; model: string; rejection?: LimitRejection; retryAfterMs?: number }
  | { type: 'overloaded'; status: 503 | 529 }
  | { type: 'server_error' }
  | { type: 'context_length'; model: string; inputTokens: number; maxTokens: number; contextWindow: number; injected: boolean }
  | { type: 'insufficient_quota' }
  | { type: 'content_filter'; variant: 'openai' | 'azure' }
  | { type: 'auth' }
  | { type: 'model_not_found'; model: string }
  | { type: 'invalid_request'; message: string; param?: string }
  | { type: 'not_found'; path: string };

/**
 * An HTTP answer: status and JSON body.
 *
 * @example
 * ```ts
 * const { status, body } = anthropicProtocol.error({ type: 'auth' }); // 401
 * ```
 */
export interface ErrorResponse {
  status: number;
  body: unknown;
}

/**
 * One server-sent event; `tokens > 0` marks a content chunk (latency applies to it).
 *
 * @example
 * ```ts
 * const e: SseEvent = { event: 'ping', data: '{"type":"ping"}', tokens: 0 };
 * ```
 */
export interface SseEvent {
  event?: string;
  data: string;
  tokens: number;
}

/**
 * Identifiers and times shared by a reply's body and its stream.
 *
 * @example
 * ```ts
 * const meta: ReplyMeta = { id: 'chatcmpl-fake00000001', createdMs: clock.now() };
 * ```
 */
export interface ReplyMeta {
  id: string;
  createdMs: number;
}

/**
 * One wire format (OpenAI chat completions, Anthropic messages).
 *
 * @example
 * ```ts
 * const protocol: Protocol = path.endsWith('/messages') ? anthropicProtocol : openAIProtocol;
 * ```
 */
export interface Protocol {
  readonly api: 'openai' | 'anthropic';
  readonly requestIdHeader: string;
  /** Reads a request body; a {@link ProviderError} when it is not a valid request. */
  parse(body: unknown): ChatRequest | ProviderError;
  error(err: ProviderError): ErrorResponse;
  rateLimitHeaders(snap: LimitSnapshot, now: number): Record<string, string>;
  /** Headers of an injected `rate_limit` fault: the request limit at 0 until `retryAfterMs`. */
  exhaustedHeaders(limit: number, retryAfterMs: number, now: number): Record<string, string>;
  body(req: ChatRequest, reply: Reply, meta: ReplyMeta): unknown;
  stream(req: ChatRequest, reply: Reply, meta: ReplyMeta): SseEvent[];
  /** A 200 body that is not valid JSON. */
  malformedBody(req: ChatRequest, reply: Reply, meta: ReplyMeta): string;
  /** An event whose data is not valid JSON. */
  malformedEvent(): SseEvent;
  /**
   * The events that end a stream with `err` after its 200, as the real API sends them: Anthropic's
   * `event: error` with the error body; OpenAI's `data: {"error": {...}}` chunk, then `data: [DONE]`.
   */
  streamError(err: ProviderError): SseEvent[];
}

/**
 * True when a parse result is an error.
 *
 * @example
 * ```ts
 * if (isProviderError(parsed)) return sendError(parsed);
 * ```
 */
export function isProviderError(v: ChatRequest | ProviderError): v is ProviderError {
  return 'type' in v;
}
