import type { Identity } from '@llm-resilience/core';

/**
 * What `ResilienceGuard` leaves on one HTTP request for the steps after it (another `ResilienceGuard`,
 * `ResilienceInterceptor`), kept beside the request object (Express's `req`, Fastify's `request`: the
 * one object Nest gives every guard and interceptor of the request), never on it, and dropped with it.
 */
interface RequestState {
  /** The identity of a guard whose `getIdentity` is overridden: resolved at most once. */
  identity?: SharedIdentity;
  /** The inbound buckets a guard already charged for this request: store id of the rule to the bucket's key. */
  charged?: Map<string, string>;
}

/**
 * The identity a guard with an overridden `getIdentity` shared for a request: its memoised resolver,
 * and the `getIdentity` function it calls (so another guard with that same function reuses it).
 *
 * @example
 * ```ts
 * const shared: SharedIdentity = { resolve: once(() => this.getIdentity(context)), from: this.getIdentity };
 * ```
 */
export interface SharedIdentity {
  /** Resolves the identity (checked), running `getIdentity` at most once, when first awaited. */
  readonly resolve: () => Promise<Identity | undefined>;
  /** The `getIdentity` function behind `resolve`. */
  readonly from: Function;
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
 * `from` is the `getIdentity` function it calls. A later guard of the same request with another
 * override replaces it (the most specific guard runs last); one with the same function reuses it
 * ({@link sharedRequestIdentity}).
 *
 * @example
 * ```ts
 * shareRequestIdentity(req, once(() => this.getIdentity(context)), this.getIdentity);
 * ```
 */
export function shareRequestIdentity(req: unknown, resolve: () => Promise<Identity | undefined>, from: Function = resolve): void {
  const state = stateOf(req);
  if (state) state.identity = { resolve, from };
}

/**
 * The identity a guard with an overridden `getIdentity` shared for this request, with the function
 * behind it; `undefined` when no such guard ran for it.
 *
 * @example
 * ```ts
 * const shared = sharedRequestIdentity(req);
 * if (shared?.from === this.getIdentity) return shared.resolve; // the same override already runs for this request
 * ```
 */
export function sharedRequestIdentity(req: unknown): SharedIdentity | undefined {
  return typeof req === 'object' && req !== null ? states.get(req)?.identity : undefined;
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
  return sharedRequestIdentity(req)?.resolve;
}

/**
 * The inbound buckets already charged for this request (by a `ResilienceGuard` that ran before for
 * it: a global `APP_GUARD` and a `@UseGuards(ResilienceGuard)` on the controller), as the store id of
 * each rule charged to the key of the bucket it charged, to add to once charged; `undefined` when the
 * request is not an object. Only rules that applied to the request (a key for its identity, and its
 * `match` held) are charged, so only they are in it.
 *
 * @example
 * ```ts
 * const charged = chargedBucketsOf(req);
 * if (charged?.get(rule.id) === key) return true; // this request already paid for that bucket
 * ```
 */
export function chargedBucketsOf(req: unknown): Map<string, string> | undefined {
  const state = stateOf(req);
  if (!state) return undefined;
  return (state.charged ??= new Map());
}
