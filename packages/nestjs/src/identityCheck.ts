import { nonStringIdentityField, type Identity } from '@llm-resilience/core';
import { isThenable, nonStringResult, typeOf } from './describeValue';
import { NestConfigError } from './NestConfigError';

/**
 * Checks what the functions that say who a request is for returned: the module's `identity(context)`
 * (or a guard's `getIdentity`), `@RateLimited({ identity, key })`, the `rateLimited` operator's
 * `identity`. A value of the wrong shape (`{ user: { id } }`, `{ user: 42 }`, a bare `'u1'`) would
 * put every caller in one limit bucket, or fail in the engine as the client's invalid request; it is
 * a fault of the server's code, so the request fails with `ERR_LLMR_NEST_INVALID_IDENTITY` (HTTP 500,
 * logged by Nest). Messages describe what was returned by its type only: it may hold user ids.
 */

const EXPECTED_IDENTITY =
  'expected undefined or an identity object whose user, team, tenant and environment are strings (or absent), such as { user: String(req.user.id) }';

/**
 * `returned`: the value came from a function, at a request (which fails); `is`: it was given as is.
 */
type Verb = 'returned' | 'is';

function fail(source: string, verb: Verb, problem: string, expected: string): NestConfigError {
  const end = verb === 'returned' ? ' The request fails as a server error rather than count callers in a shared limit bucket.' : '';
  return new NestConfigError('ERR_LLMR_NEST_INVALID_IDENTITY', `${source} ${verb} ${problem}; ${expected}.${end}`);
}

/**
 * What is wrong with a value given as an identity, by type only; undefined when it is fine
 * (`undefined` or `null`, or an object whose `user`, `team`, `tenant`, `environment` are strings or
 * absent).
 *
 * @example
 * ```ts
 * identityProblem({ user: 'u1' });         // undefined
 * identityProblem({ user: { id: 'u1' } }); // 'an object whose user is an object'
 * identityProblem('u1');                   // 'a string'
 * ```
 */
export function identityProblem(value: unknown): string | undefined {
  // `null` reads as no identity, like undefined (an identity function's "anonymous").
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return typeOf(value);
  if (isThenable(value)) return 'a Promise (the function must return the identity itself)';
  const field = nonStringIdentityField(value);
  return field === undefined ? undefined : `an object whose ${field} is ${typeOf((value as Record<string, unknown>)[field])}`;
}

/**
 * Returns `value` when it is a valid identity (see {@link identityProblem}); else throws
 * `ERR_LLMR_NEST_INVALID_IDENTITY` naming `source`: the function that returned it (`verb`
 * `returned`, the default), or the option that holds it (`is`).
 *
 * @example
 * ```ts
 * const identity = checkIdentity(options.identity(...args), 'SupportService.reply: @RateLimited identity(...args)');
 * checkIdentity(context.identity, 'runWithResilienceContext: identity', 'is');
 * ```
 */
export function checkIdentity(value: unknown, source: string, verb: Verb = 'returned'): Identity | undefined {
  const problem = identityProblem(value);
  if (problem !== undefined) throw fail(source, verb, problem, EXPECTED_IDENTITY);
  return (value ?? undefined) as Identity | undefined;
}

/**
 * Returns the result of a `key` function when it is a string or undefined; else throws
 * `ERR_LLMR_NEST_INVALID_IDENTITY` naming `source`.
 *
 * @example
 * ```ts
 * const user = checkKey(options.key(...args), 'SupportService.reply: @RateLimited key(...args)');
 * ```
 */
export function checkKey(value: unknown, source: string): string | undefined {
  const problem = nonStringResult(value, 'key');
  if (problem === undefined) return value as string | undefined;
  throw fail(source, 'returned', problem, 'expected a string (the user the call is counted for) or undefined, such as String(userId)');
}
