import { ERROR_KINDS, type ErrorKind } from './ErrorKind';
import { isNeverFits } from './isNeverFits';

/**
 * What a failure of the core means over HTTP: status, kind, stable code, retry hint, and the
 * audience-appropriate message the engine attached. Never the internal message, which may name
 * providers, models or limits.
 *
 * @example
 * ```ts
 * const e: HttpErrorInfo = { status: 503, kind: 'overloaded', code: 'ERR_LLMR_CHAIN_EXHAUSTED', userMessage: 'This request is taking longer than usual. ...' };
 * ```
 */
export interface HttpErrorInfo {
  status: number;
  kind: ErrorKind;
  code: string;
  retryAfterMs?: number;
  userMessage?: string;
  /** The engine's request id, when the error carries its record. */
  requestId?: string;
  /**
   * True when no retry by the client can fix it: the provider account's quota or billing, or its
   * credentials (`quota_exhausted`, `auth`; the seed: "stop retries and alert"). Answered 5xx, which the
   * official OpenAI and Anthropic SDKs retry by default: send `x-should-retry: false` with it.
   */
  noRetry?: true;
}

/** Kinds no client retry can fix (see {@link HttpErrorInfo.noRetry}). */
const NO_RETRY: ReadonlySet<ErrorKind> = new Set<ErrorKind>(['quota_exhausted', 'auth']);

/**
 * HTTP status per error kind:
 *
 * | kind | status | why |
 * |---|---|---|
 * | rate_limited | 429 | a limit of ours denied the request (`Retry-After` says when to come back) |
 * | rate_limited with `retryAfterMs: Infinity` | 413 | the request alone exceeds a rate limit (ours, or the provider's 429 "Request too large" on every target tried): no wait helps, no `Retry-After` |
 * | overloaded, quota_exhausted | 503 | no capacity upstream |
 * | timeout | 504 | the model did not answer in time |
 * | policy_rejected | 422 | the provider's safety policy refused it |
 * | context_length, invalid_request | 400 | the request itself is the problem |
 * | network, unknown, auth, validation_failed | 502 | the upstream failed; not the client's fault |
 * | cancelled | 499 | the client went away |
 *
 * A chain that was exhausted on capacity or reliability errors is 503 (504 when the last failure was
 * a timeout): every model was tried, the service is unavailable for now.
 */
const STATUS: Readonly<Record<ErrorKind, number>> = {
  rate_limited: 429,
  overloaded: 503,
  quota_exhausted: 503,
  timeout: 504,
  policy_rejected: 422,
  context_length: 400,
  invalid_request: 400,
  network: 502,
  unknown: 502,
  auth: 502,
  validation_failed: 502,
  cancelled: 499,
};

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
 * Maps an error of the core (`ResilienceError` and subclasses, `RateLimitExceededError`,
 * `QueueRejectedError`, also from another copy of the package) to its HTTP meaning; undefined for
 * anything else.
 *
 * @example
 * ```ts
 * httpErrorOf(chainExhausted)?.status; // 503
 * httpErrorOf(new Error('boom'));      // undefined
 * ```
 */
export function httpErrorOf(err: unknown): HttpErrorInfo | undefined {
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
  const retry = field(err, 'retryAfterMs');
  // A rate limit the request can never pass (`retryAfterMs: Infinity`: it alone exceeds the limit, e.g.
  // OpenAI's 429 "Request too large"): 413, no Retry-After, so a client does not retry it as it is.
  if (typeof retry === 'number' && isNeverFits(k, retry)) status = 413;
  const out: HttpErrorInfo = { status, kind: k, code };
  if (NO_RETRY.has(k)) out.noRetry = true;
  if (typeof retry === 'number' && Number.isFinite(retry) && retry >= 0) out.retryAfterMs = retry;
  const message = field(err, 'userMessage');
  if (typeof message === 'string' && message !== '') out.userMessage = message;
  const record = field(err, 'record');
  const id = typeof record === 'object' && record !== null ? field(record, 'request_id') : undefined;
  if (typeof id === 'string') out.requestId = id;
  return out;
}

/**
 * The message kind of an error {@link httpErrorOf} mapped, for wording an error that carries no
 * `userMessage` of its own: `'too_large'` for a rate limit no wait lets the request pass (the 413),
 * else its kind (see `messageKindOf`, `userMessageFor`).
 *
 * @example
 * ```ts
 * const http = httpErrorOf(err)!;
 * const message = http.userMessage ?? userMessageFor(httpMessageKind(http), 'customer', policy.messages);
 * ```
 */
export function httpMessageKind(info: Pick<HttpErrorInfo, 'status' | 'kind'>): ErrorKind | 'too_large' {
  // httpErrorOf answers 413 exactly for a rate limit the request can never pass (isNeverFits).
  return info.status === 413 && info.kind === 'rate_limited' ? 'too_large' : info.kind;
}

/**
 * `Retry-After` in whole seconds (at least 1), or undefined when there is no finite wait.
 *
 * @example
 * ```ts
 * retryAfterSeconds(1200); // '2'
 * retryAfterSeconds(Infinity); // undefined
 * ```
 */
export function retryAfterSeconds(ms: number | undefined): string | undefined {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return undefined;
  return String(Math.max(1, Math.ceil(ms / 1000)));
}
