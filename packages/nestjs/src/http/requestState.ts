import type { Identity } from '@llm-resilience/core';

/**
 * What `ResilienceGuard` leaves on one HTTP request for the steps after it (another `ResilienceGuard`,
 * `ResilienceInterceptor`), kept beside the request object (Express's `req`, Fastify's `request`: the
 * one object Nest gives every guard and interceptor of the request), never on it, and dropped with it.
 */
interface RequestState {
  /** The identity of a guard whose `getIdentity` is overridden: resolved at most once. */
  identity?: () => Promise<Identity | undefined>;
  /** Store keys of the inbound buckets a guard already charged for this request. */
  counted?: Set<string>;
}

const states = new WeakMap<object, RequestState>();

function stateOf(req: unknown): RequestState | undefined {
  if (typeof req !== 'object' || req === null) return undefined;
  let state = states.get(req);
  if (!state) states.set(req, (state = {}));
  return state;
}

/**
 * Makes `resolve` (a guard's overridden `getIdentity`, memoised: it runs at most once, when first
 * awaited) the identity of the request for the steps after the guard: {@link requestIdentityOf}.
 * A later guard of the same request with its own override replaces it (the most specific guard runs last).
 *
 * @example
 * ```ts
 * shareRequestIdentity(req, once(() => this.getIdentity(context)));
 * ```
 */
export function shareRequestIdentity(req: unknown, resolve: () => Promise<Identity | undefined>): void {
  const state = stateOf(req);
  if (state) state.identity = resolve;
}

/**
 * The identity a guard with an overridden `getIdentity` shared for this request, as a memoised
 * resolver; `undefined` when no such guard ran for it.
 *
 * @example
 * ```ts
 * const shared = requestIdentityOf(req);
 * const identity = shared ? await shared() : await this.getIdentity(context);
 * ```
 */
export function requestIdentityOf(req: unknown): (() => Promise<Identity | undefined>) | undefined {
  return typeof req === 'object' && req !== null ? states.get(req)?.identity : undefined;
}

/**
 * The store keys of the inbound buckets already charged for this request (by a `ResilienceGuard`
 * that ran before for it: a global `APP_GUARD` and a `@UseGuards(ResilienceGuard)` on the
 * controller), to add to once charged; `undefined` when the request is not an object.
 *
 * @example
 * ```ts
 * const counted = countedKeysOf(req);
 * if (counted?.has(key)) return true; // this request already paid for that bucket
 * ```
 */
export function countedKeysOf(req: unknown): Set<string> | undefined {
  const state = stateOf(req);
  if (!state) return undefined;
  return (state.counted ??= new Set());
}
