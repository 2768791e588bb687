import { ResilienceError } from '../errors/ResilienceError';
import type { Identity, ResilienceRequest } from './types';

/**
 * Checks the numbers and identity of a request before anything is reserved for it: a token count that
 * is `NaN` or negative would reserve nothing (token limits and budgets would not see the request), and
 * an identity value that is not a string (a whole `req.user` object) would put every caller in one
 * bucket. A `dataClass` or `requestId` that is not a string would be copied into the record. Throws
 * a {@link ResilienceError} (`invalid_request`, `ERR_LLMR_INVALID_REQUEST`) naming the field and what
 * was expected; returns nothing when the request is fine.
 *
 * @example
 * ```ts
 * checkRequest({ route: 'chat', inputTokens: Number.NaN });
 * // throws: request.inputTokens: expected a finite number >= 0, got NaN
 * ```
 */
export function checkRequest(request: ResilienceRequest): void {
  const { inputTokens, maxOutputTokens, deadline, identity, dataClass, requestId } = request;
  if (inputTokens !== undefined && !(typeof inputTokens === 'number' && inputTokens >= 0 && inputTokens < Infinity)) {
    throw invalid('inputTokens', 'a finite number >= 0', inputTokens);
  }
  if (maxOutputTokens !== undefined && !(typeof maxOutputTokens === 'number' && maxOutputTokens >= 0 && maxOutputTokens < Infinity)) {
    throw invalid('maxOutputTokens', 'a finite number >= 0', maxOutputTokens);
  }
  if (deadline !== undefined && !(typeof deadline === 'number' && !Number.isNaN(deadline))) {
    throw invalid('deadline', 'epoch milliseconds (a number)', deadline);
  }
  // Both end up in the request's record: an object there (a whole document for its data class) would
  // be logged, and a data class that is not a string is approved on no target.
  if (dataClass !== undefined && typeof dataClass !== 'string') throw invalid('dataClass', 'the name of a data class (a string)', dataClass);
  if (requestId !== undefined && typeof requestId !== 'string') throw invalid('requestId', 'a string', requestId);
  // `null` reads as no identity, like undefined (plain JavaScript callers write it for "anonymous").
  if (identity !== undefined && identity !== null) {
    if (typeof identity !== 'object') throw invalid('identity', 'an object of strings', identity);
    const field = nonStringIdentityField(identity);
    if (field !== undefined) throw invalid(`identity.${field}`, 'a string', identity[field]);
  }
}

/**
 * The first of an identity's `user`, `team`, `tenant`, `environment` that is present but not a string
 * (a whole `req.user` object, a number), else `undefined`. Such a value would key every caller's
 * limits alike; adapters check what their `identity` functions return with it.
 *
 * @example
 * ```ts
 * nonStringIdentityField({ user: 'u1', tenant: 'acme' }); // undefined
 * nonStringIdentityField({ user: { id: 'u1' } });         // 'user'
 * ```
 */
export function nonStringIdentityField(identity: object): keyof Identity | undefined {
  const id = identity as Record<keyof Identity, unknown>;
  // Field by field, not a loop over their names: this runs on every request.
  if (id.user !== undefined && typeof id.user !== 'string') return 'user';
  if (id.team !== undefined && typeof id.team !== 'string') return 'team';
  if (id.tenant !== undefined && typeof id.tenant !== 'string') return 'tenant';
  if (id.environment !== undefined && typeof id.environment !== 'string') return 'environment';
  return undefined;
}

function invalid(path: string, expected: string, got: unknown): ResilienceError {
  return new ResilienceError(`request.${path}: expected ${expected}, got ${describe(got)}.`, {
    kind: 'invalid_request',
    code: 'ERR_LLMR_INVALID_REQUEST',
  });
}

/** The value's type, or the number itself (never the contents of an object: it may be a user record). */
function describe(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? 'a string' : typeof v;
}
