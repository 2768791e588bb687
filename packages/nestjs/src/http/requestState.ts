import { limitKey, type Identity, type LimitContext, type LimitRule, type ScopeDimension } from '@llm-resilience/core';

/**
 * What `ResilienceGuard` leaves on one HTTP request for the steps after it (another `ResilienceGuard`,
 * `ResilienceInterceptor`), kept beside the request object (Express's `req`, Fastify's `request`: the
 * one object Nest gives every guard and interceptor of the request), never on it, and dropped with it.
 */
interface RequestState {
  /** The identity of a guard whose `getIdentity` is overridden: resolved at most once. */
  identity?: SharedIdentity;
  /** The last guard run that charged inbound buckets for this request (earlier ones behind it). */
  charged?: ChargedRun;
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

/**
 * The inbound rules of one handler as a guard counts them: the rules, and each one's `match` as
 * `[dimension, value]` pairs (`undefined`: the rule applies to every request).
 *
 * @example
 * ```ts
 * const set: InboundRuleSet = { rules: [perUser, staging], matches: [undefined, [['environment', 'staging']]] };
 * ```
 */
export interface InboundRuleSet {
  readonly rules: readonly LimitRule[];
  readonly matches: readonly (readonly (readonly [ScopeDimension, string])[] | undefined)[];
}

/**
 * One guard run that charged the request: the context it counted under and its rules. Which buckets
 * it charged (the rules that applied to the context, with their keys) is only worked out when another
 * run of the request needs it ({@link chargedBucketsOf}), so a request guarded once pays for nothing more.
 *
 * @example
 * ```ts
 * const run: ChargedRun = { ctx: { user: 'u1', route: 'ExportController.get' }, rules: compiled, previous: undefined };
 * ```
 */
export interface ChargedRun {
  readonly ctx: LimitContext;
  readonly rules: InboundRuleSet;
  /** The run that charged the request before this one, if any. */
  readonly previous: ChargedRun | undefined;
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
 * Notes that a guard run charged the request under `ctx` with the rules of `rules` (those that
 * applied to it), for a later `ResilienceGuard` run of the same request (a global `APP_GUARD`, then a
 * `@UseGuards(ResilienceGuard)` on the controller): see {@link chargedRunOf}. Keeps references only.
 *
 * @example
 * ```ts
 * if (decision.ok) recordChargedRun(req, ctx, compiled);
 * ```
 */
export function recordChargedRun(req: unknown, ctx: LimitContext, rules: InboundRuleSet): void {
  const state = stateOf(req);
  if (state) state.charged = { ctx, rules, previous: state.charged };
}

/**
 * The last guard run that charged this request ({@link recordChargedRun}); `undefined` when none did,
 * as for every request guarded once.
 *
 * @example
 * ```ts
 * const earlier = chargedRunOf(req);
 * if (earlier) skipAlreadyCharged(chargedBucketsOf(earlier));
 * ```
 */
export function chargedRunOf(req: unknown): ChargedRun | undefined {
  return typeof req === 'object' && req !== null ? states.get(req)?.charged : undefined;
}

/**
 * True when the rule whose `match` pairs are `match` applies to `ctx`.
 *
 * @example
 * ```ts
 * matchHolds([['environment', 'staging']], { user: 'u1', environment: 'staging' }); // true
 * matchHolds(undefined, { user: 'u1' });                                           // true
 * ```
 */
export function matchHolds(match: InboundRuleSet['matches'][number], ctx: LimitContext): boolean {
  if (match === undefined) return true;
  for (const [d, v] of match) if (ctx[d] !== v) return false;
  return true;
}

/**
 * The inbound buckets `run` and the runs before it charged: the store id of each rule that applied
 * to its context (its `match` held, a key for its scope) to the key of the bucket charged, the latest
 * run winning for a rule two runs charged.
 *
 * @example
 * ```ts
 * chargedBucketsOf(chargedRunOf(req)!).get('nest-inbound:per-user'); // limitKey(perUser, { user: 'u1' }): that run charged u1's bucket
 * ```
 */
export function chargedBucketsOf(run: ChargedRun): Map<string, string> {
  const charged = new Map<string, string>();
  for (let r: ChargedRun | undefined = run; r !== undefined; r = r.previous) {
    const { rules, matches } = r.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (charged.has(rule.id) || !matchHolds(matches[i], r.ctx)) continue;
      const key = limitKey(rule, r.ctx);
      if (key !== undefined) charged.set(rule.id, key);
    }
  }
  return charged;
}
