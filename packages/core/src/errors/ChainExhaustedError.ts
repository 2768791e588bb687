import type { ClassifiedError } from './ErrorKind';
import type { RequestRecord } from '../engine/types';
import { ResilienceError } from './ResilienceError';

/**
 * Every target of the route failed or was skipped. Carries the last classified failure, the
 * request record and the audience-appropriate `userMessage`. `cause` (and `last.cause`) is the error
 * of the last failure as the call threw it; when the engine's `redact` option is set, a redacted
 * stand-in for it instead (same `name`, redacted message and stack, `status`, `code`, `type`, request
 * id; no headers, bodies or request options), safe for loggers that print cause chains.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof ChainExhaustedError) res.status(503).json({ message: e.userMessage }); }
 * ```
 */
export class ChainExhaustedError extends ResilienceError {
  readonly record: RequestRecord;
  readonly last?: ClassifiedError;

  constructor(route: string, record: RequestRecord, last: ClassifiedError | undefined, userMessage: string) {
    const tried = record.attempts.length;
    const skipped = record.skipped.map((s) => `${s.target} (${s.reason})`).join(', ');
    super(
      `All targets of route '${route}' failed: ${tried} attempt(s)` +
        (last ? `, last error ${last.kind}${last.status ? ` (${last.status})` : ''}: ${last.message}` : '') +
        (skipped ? `; skipped: ${skipped}` : '') +
        '. Add a fallback target, raise limits, or retry later.',
      {
        kind: last?.kind ?? 'unknown',
        code: 'ERR_LLMR_CHAIN_EXHAUSTED',
        ...(last?.retryAfterMs !== undefined ? { retryAfterMs: last.retryAfterMs } : {}),
        cause: last?.cause,
        userMessage,
      },
    );
    this.record = record;
    if (last) this.last = last;
  }
}

/**
 * The request failed with an error that must not be retried or fall back (policy rejection, invalid
 * request, ...), or was cancelled, or ran out of time. `kind` says which. `cause` (and
 * `classified.cause`) is what the call threw (for a cancellation, the signal's reason); with the
 * engine's `redact` option set, a redacted stand-in for it, as for {@link ChainExhaustedError}.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof RequestFailedError && e.kind === 'policy_rejected') showPolicyNotice(); }
 * ```
 */
export class RequestFailedError extends ResilienceError {
  readonly record: RequestRecord;
  readonly classified: ClassifiedError;

  constructor(code: string, message: string, classified: ClassifiedError, record: RequestRecord, userMessage: string) {
    super(message, {
      kind: classified.kind,
      code,
      ...(classified.retryAfterMs !== undefined ? { retryAfterMs: classified.retryAfterMs } : {}),
      cause: classified.cause,
      userMessage,
    });
    this.record = record;
    this.classified = classified;
  }
}
