import type { Identity } from '@llm-resilience/core';
import type { ExecutionContext } from '@nestjs/common';
import type { ResilienceModuleOptions } from '../types';
import { isEmptyIdentity } from '../undefinedIdentity';
import { identityReadingOf, recordIdentityReading } from './requestState';

/** The module's `identity(context)` option. */
type IdentityFunction = NonNullable<ResilienceModuleOptions['identity']>;

/** `req.user` (Passport's, and the convention of Nest's auth guards), `undefined` without one. */
function userOf(req: unknown): unknown {
  return typeof req === 'object' && req !== null ? (req as { user?: unknown }).user : undefined;
}

/**
 * The module's `identity(context)` for an HTTP request, called at most once per request: a later
 * step of the request (a second `ResilienceGuard`, `ResilienceInterceptor`) gets the earlier
 * reading's result, so one request has one identity and a slow identity function (a database
 * lookup, a JWT decode) runs once. It is called again, the new reading replacing the old for the
 * steps after it, only when the earlier reading cannot be the request's identity any more:
 * - `req.user` is not the value it was when it was read (an auth guard that ran after
 *   `ResilienceGuard` set it), or
 * - it gave no identity (`undefined`, or no user, team, tenant or environment; also when it
 *   threw and the step that called it did not fail the request), so an identity that only
 *   appears after the guard, wherever auth left it, still reaches the decorated methods.
 * What it returns is not checked here: each caller checks it (`checkIdentity`).
 *
 * @example
 * ```ts
 * protected async getIdentity(context: ExecutionContext) {
 *   return this.options.identity ? moduleIdentity(context, this.options.identity) : defaultIdentity(context.switchToHttp().getRequest());
 * }
 * ```
 */
export async function moduleIdentity(context: ExecutionContext, identity: IdentityFunction): Promise<Identity | undefined> {
  const req: unknown = context.switchToHttp().getRequest();
  const user = userOf(req);
  const earlier = identityReadingOf(req);
  if (earlier !== undefined && earlier.from === identity && Object.is(earlier.user, user)) {
    const value = await earlier.value.catch(() => undefined);
    if (!isEmptyIdentity(value)) return value;
  }
  // An async wrapper, so that a synchronous throw is a rejection like an async one.
  const value = (async () => identity(context))();
  recordIdentityReading(req, { from: identity, user, value });
  return value;
}
