import { ERROR_KINDS, type ErrorKind } from '@llm-resilience/core';

/**
 * What an LLM failure means over HTTP: status, the error kind, its stable code, the retry hint and
 * the audience-appropriate message the engine attached (if any). Never the internal message, which
 * may name providers, models or limits.
 *
 * @example
 * ```ts
 * const e: HttpError = { status: 503, kind: 'overloaded', code: 'ERR_LLMR_CHAIN_EXHAUSTED', userMessage: 'This request is taking longer than usual. ...' };
 * ```
 */
export interface HttpError {
  status: number;
  kind: ErrorKind;
  code: string;
  retryAfterMs?: number;
  userMessage?: string;
  /** The request id of the engine's record, when the error carries one. */
  requestId?: string;
}

/**
 * HTTP status per error kind when one request failed (the chain was not exhausted):
 *
 * | kind | status | why |
 * |---|---|---|
 * | rate_limited | 429 | a limit of ours (per user, team, ...) denied the request |
 * | overloaded, quota_exhausted | 503 | no capacity upstream |
 * | timeout | 504 | the model did not answer in time |
 * | network, unknown, auth, validation_failed | 502 | the upstream failed; not the client's fault |
 * | context_length, invalid_request | 400 | the request itself is the problem |
 * | policy_rejected | 422 | the provider's safety policy refused it |
 * | cancelled | 499 | the client went away (nothing is sent if its socket is gone) |
 */
const STATUS: Readonly<Record<ErrorKind, number>> = {
  rate_limited: 429,
  overloaded: 503,
  quota_exhausted: 503,
  timeout: 504,
  network: 502,
  unknown: 502,
  auth: 502,
  validation_failed: 502,
  context_length: 400,
  invalid_request: 400,
  policy_rejected: 422,
  cancelled: 499,
};

/** Kinds that turn into 503 once every target of the chain was tried. */
const EXHAUSTED_503: ReadonlySet<ErrorKind> = new Set(['rate_limited', 'overloaded', 'quota_exhausted', 'network', 'unknown', 'auth', 'validation_failed']);
const KINDS: ReadonlySet<string> = new Set(ERROR_KINDS);

function field(err: object, key: string): unknown {
  try {
    return (err as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/**
 * Maps a failure from the core (any `ResilienceError`, `RateLimitExceededError`,
 * `QueueRejectedError`, also from another copy of the package) to its HTTP meaning; undefined for
 * anything else, which belongs to the app's own error handling.
 *
 * - chain exhausted on capacity or reliability -> 503 (504 if the last failure was a timeout);
 * - a rate limit of ours -> 429; a full queue or a shut-down engine -> 503;
 * - otherwise the status of the kind (see the table in the source).
 *
 * @example
 * ```ts
 * httpErrorOf(chainExhausted)?.status; // 503
 * httpErrorOf(new Error('boom'));      // undefined
 * ```
 */
export function httpErrorOf(err: unknown): HttpError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const kind = field(err, 'kind');
  const code = field(err, 'code');
  if (typeof kind !== 'string' || !KINDS.has(kind) || typeof code !== 'string' || !code.startsWith('ERR_LLMR_')) return undefined;
  const k = kind as ErrorKind;
  let status = STATUS[k];
  if (code === 'ERR_LLMR_CHAIN_EXHAUSTED' && EXHAUSTED_503.has(k)) status = 503;
  if (code === 'ERR_LLMR_SHUT_DOWN') status = 503;
  if (code === 'ERR_LLMR_QUEUE_REJECTED') {
    const reason = field(err, 'reason');
    if (reason === 'queue-full' || reason === 'shutdown') status = 503;
  }
  const out: HttpError = { status, kind: k, code };
  const retry = field(err, 'retryAfterMs');
  if (typeof retry === 'number' && Number.isFinite(retry) && retry >= 0) out.retryAfterMs = retry;
  const message = field(err, 'userMessage');
  if (typeof message === 'string' && message !== '') out.userMessage = message;
  const record = field(err, 'record');
  const id = typeof record === 'object' && record !== null ? field(record, 'request_id') : undefined;
  if (typeof id === 'string') out.requestId = id;
  return out;
}
