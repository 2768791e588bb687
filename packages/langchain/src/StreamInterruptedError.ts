import { ResilienceError, type ErrorKind, type RequestRecord } from '@llm-resilience/core';
import type { ProviderStreamError } from './providerStreamError';

/**
 * What ended a stream after its first chunk, for {@link StreamInterruptedError} and its subclasses.
 *
 * @example
 * ```ts
 * const fields: StreamInterruptedFields = { target: 'sum-a', chunksReceived: 4, record, cause: err, provider: { kind: 'overloaded' } };
 * ```
 */
export interface StreamInterruptedFields {
  /** The target whose stream ended. */
  target: string;
  /** Chunks the caller received before the end. */
  chunksReceived: number;
  /** The engine's record of the request (outcome `failure`). */
  record: RequestRecord;
  /**
   * What ended the stream (the provider's or SDK's error, a parser's error), as the engine exposes
   * causes (`engine.exposedCause`: with its `redact` option a redacted stand-in); none for a reply that
   * ended whole but could not be used (tool calls cut off).
   */
  cause?: unknown;
  /** The provider's own error event that ended the stream (its kind, code, retry hint), if it sent one. */
  provider?: ProviderStreamError;
}

/** The message of a break (not a subclass's): what ended the stream and what to do. */
function describeBreak(target: string, chunks: number, provider: ProviderStreamError | undefined): string {
  const said = provider ? `: the provider ended it with an error (${provider.kind}${provider.code !== undefined ? `, ${provider.code}` : ''})` : '';
  const when = provider?.retryAfterMs !== undefined ? ` after ${Math.ceil(provider.retryAfterMs / 1000)} s` : '';
  return (
    `The stream from '${target}' broke after ${chunks} chunk(s)${said}; no fallback is possible once output has reached the caller. ` +
    `Retry the whole request${when}, or use invoke() where a break can still fall back.`
  );
}

/**
 * A stream broke after its first chunk reached the caller. No fallback is possible at that point
 * (the caller already has part of one model's answer), so the stream ends with this error, and the
 * engine's record and the target's breaker count the failure by its kind:
 *
 * - the provider ended the stream with an error event of its own (an overload, a rate limit, ...
 *   after its 200): that error's kind (`overloaded`, `rate_limited`, ...), its code as `providerCode`
 *   and its retry hint as `retryAfterMs`;
 * - anything else (the connection broke, a malformed event): kind `network`.
 *
 * Its code is `ERR_LLMR_STREAM_INTERRUPTED` either way. Its subclass {@link InvalidStreamOutputError}
 * (kind `validation_failed`, no breaker verdict) is a stream whose reply was rejected as invalid (its
 * output parser rejected it, or its tool calls were cut off).
 *
 * Its `cause` (the provider's or SDK's error) is what the errors the engine throws carry: with the
 * engine's `redact` option a redacted stand-in, the original given back by core's `originalCauseOf`.
 *
 * @example
 * ```ts
 * try {
 *   for await (const chunk of await safe.stream(messages)) write(chunk);
 * } catch (e) {
 *   if (e instanceof StreamInterruptedError) showRetryButton(e.chunksReceived, e.retryAfterMs);
 * }
 * ```
 */
export class StreamInterruptedError extends ResilienceError {
  /** The target whose stream broke. */
  readonly target: string;
  /** Chunks the caller received before the break. */
  readonly chunksReceived: number;
  /** The engine's record of the request (outcome `failure`). */
  readonly record: RequestRecord;
  /**
   * The provider's error code or type when it ended the stream itself (`server_is_overloaded`,
   * `rate_limit_error`, ...), as the engine recorded it (`record.error_code`): secrets and patterns of the
   * engine's `redact` option are cut out of it, and out of the message.
   */
  readonly providerCode?: string;

  /**
   * @param fields what ended which stream
   * @param as a subclass's own message, kind and code (default: the provider's kind, else a network break)
   */
  constructor(fields: StreamInterruptedFields, as?: { message: string; kind: ErrorKind; code: string }) {
    const provider = as === undefined ? fields.provider : undefined;
    const retryAfterMs = provider?.retryAfterMs;
    super(as?.message ?? describeBreak(fields.target, fields.chunksReceived, provider), {
      kind: as?.kind ?? provider?.kind ?? 'network',
      code: as?.code ?? 'ERR_LLMR_STREAM_INTERRUPTED',
      ...(fields.cause !== undefined ? { cause: fields.cause } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
    this.target = fields.target;
    this.chunksReceived = fields.chunksReceived;
    this.record = fields.record;
    if (provider?.code !== undefined) this.providerCode = provider.code;
  }
}
