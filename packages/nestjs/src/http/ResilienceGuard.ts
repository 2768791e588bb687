import { Limiter, limitKey, messageKindOf, retryAfterSeconds, type Identity, type LimitContext, type LimitRule, type ScopeDimension } from '@llm-resilience/core';
import { HttpException, Inject, Injectable, Logger, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { classRateLimited, RATE_LIMITED_METADATA, SKIP_RESILIENCE_METADATA, mergeRateLimited } from '../decorators/metadata';
import { ResilienceService } from '../ResilienceService';
import { RESILIENCE_MODULE_OPTIONS, type Audience, type RateLimitedOptions, type ResilienceModuleOptions } from '../types';
import { handlerInboundRules, inboundRuleIdsOf } from './inboundRuleIds';
import { inboundRuleId, toInboundLimitRules } from './inboundRules';
import {
  chargedBucketsOf,
  chargedRunOf,
  matchHolds,
  recordChargedRun,
  requestIdentityOf,
  shareRequestIdentity,
  sharedRequestIdentity,
  type InboundRuleSet,
} from './requestState';
import { SubsetCache } from './SubsetCache';
import { audienceOf, inboundLimitMessage, messageFor, setResponseHeader, type ResilienceErrorBody } from './messages';
import { defaultIdentity, identitySource } from './requestIdentity';
import { checkIdentity } from '../identityCheck';
import { helpLink } from '../NestConfigError';
import { identityScopedRuleIds, isEmptyIdentity, shouldWarnUndefinedIdentity, warnUndefinedIdentity } from '../undefinedIdentity';

/** A request-count rule charges 1 per request; tokens are the engine's business. */
const ONE_REQUEST = { inputTokens: 0, outputTokens: 0, costUsd: 0 };

/**
 * What {@link ResilienceGuard.throwLimited} gets to build its 429 (413 when `retryAfterMs` is `Infinity`).
 *
 * @example
 * ```ts
 * const d: InboundLimitedDetails = { ruleId: 'user:requests:1m', retryAfterMs: 3000, route: 'support_reply', audience: 'customer' };
 * ```
 */
export interface InboundLimitedDetails {
  /** The rule as written (no store prefix). */
  ruleId: string;
  /** When the request could pass (`Infinity`: never under this rule). */
  retryAfterMs: number;
  route: string | undefined;
  audience: Audience;
}

/**
 * The code of the warning logged (once per application) when `ResilienceGuard` counted one request
 * twice in one rule, under two identities.
 *
 * @example
 * ```ts
 * entriesWith(logs.warnings, INBOUND_COUNTED_TWICE_CODE); // the warning, if it was logged
 * ```
 */
export const INBOUND_COUNTED_TWICE_CODE = 'ERR_LLMR_NEST_INBOUND_COUNTED_TWICE';

const logger = new Logger('ResilienceModule');
/** The applications (their `ResilienceService`) that logged {@link INBOUND_COUNTED_TWICE_CODE}. */
const warnedCountedTwice = new WeakSet<object>();

interface Compiled extends InboundRuleSet {
  readonly limiter: Limiter | undefined;
  /** Limiters of the rules less those an earlier guard run of the request charged, built when first needed. */
  readonly subsets: SubsetCache<LimitRule, Limiter>;
  /** Ids (as written) of the rules keyed by user, team or tenant, which a request without identity escapes. */
  readonly identityRuleIds: readonly string[];
  /** The route the handler is counted under without a route name: `Class.method`. */
  readonly handlerRoute: string;
}

/**
 * Guards controllers with inbound request limits: the module's `limits` plus those of `@RateLimited`
 * on the controller class and handler, keyed by the request's identity and route, counted in the
 * engine's store (so Redis shares them across processes). A denied request gets a 429 with
 * `Retry-After` and the audience message (a 413 without `Retry-After` when the rule can never let it
 * through); the handler does not run. The identity is the request's as
 * it is when the guard runs: an auth guard that sets `req.user` must run before it (a global guard
 * registered earlier, for a global `ResilienceGuard`), or the default identity falls back to the client
 * IP. `ResilienceInterceptor`, which runs after every guard, finds the identity again for the
 * decorated methods, unless a subclass overrides {@link getIdentity}: that override is the request's
 * identity for everything (the interceptor takes its result, also for requests {@link shouldSkip}
 * skips), resolved once per request. When the guard runs twice for a request (`APP_GUARD` and
 * `@UseGuards`), the second run charges only the buckets the first did not charge for it (a guard
 * without its own `getIdentity` takes the identity of an earlier subclass that has one), so a
 * request counts once per bucket as long as its identity is the same in both runs: a second run that
 * counts it under another identity or route (an auth guard ran between them; a subclass with its own
 * `getIdentity` after a plain guard) counts it again, and logs `ERR_LLMR_NEST_INBOUND_COUNTED_TWICE`
 * once. What the first run charged is only worked out when a second run comes.
 * A `@RateLimited` rule with the id of a module rule, or a method's with the id of its class's rule,
 * replaces it for the handler; with a different definition it counts in a bucket of its own
 * declaration and definition (see {@link getLimits}).
 * Rules a subclass's {@link getLimits} makes up are checked against the application's declared
 * rules of the same store id when first built (`ERR_LLMR_NEST_CONFLICTING_LIMIT_ID`, a 500).
 * When the guard's identity resolves to nothing while rules keyed
 * by user, team or tenant apply, those rules cannot count the request: the guard lets it through and
 * logs `ERR_LLMR_NEST_UNDEFINED_IDENTITY` once per application. An identity of the wrong shape (not an
 * object, or a `user`, `team`, `tenant` or `environment` that is not a string) would count callers
 * in one bucket: the request fails with `ERR_LLMR_NEST_INVALID_IDENTITY` (500, logged by Nest).
 *
 * Each step is a `protected` method to override: {@link getIdentity}, {@link getRoute},
 * {@link getLimits}, {@link shouldSkip}, {@link throwLimited}.
 *
 * @example
 * ```ts
 * @Module({ providers: [{ provide: APP_GUARD, useClass: ResilienceGuard }] })
 * export class AppModule {}
 *
 * @RateLimited({ route: 'support_reply', limits: [{ scope: ['user'], limit: 20, window: '1m' }] })
 * @Controller('support')
 * export class SupportController { ... }
 * ```
 */
@Injectable()
export class ResilienceGuard implements CanActivate {
  private readonly compiled = new WeakMap<Function, WeakMap<Function, Compiled>>();
  /** The module's `limits`, compiled (and so checked) when the guard is created, not per request. */
  private readonly moduleRules: readonly LimitRule[];

  constructor(
    @Inject(ResilienceService) protected readonly resilience: ResilienceService,
    @Inject(Reflector) protected readonly reflector: Reflector,
    @Inject(RESILIENCE_MODULE_OPTIONS) protected readonly options: ResilienceModuleOptions,
  ) {
    this.moduleRules = toInboundLimitRules(options.limits ?? [], 'ResilienceModule');
  }

  /**
   * Resolves the identity, reserves one request on every inbound rule, and lets
   * the request through or throws the 429 of {@link throwLimited}.
   *
   * @example
   * ```ts
   * await guard.canActivate(context); // true, or throws HttpException(429)
   * ```
   */
  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req: unknown = context.switchToHttp().getRequest();
    // Before shouldSkip: an overridden getIdentity is the identity ResilienceInterceptor gives the
    // decorated methods of the request, also when the guard skips its own limits.
    const overridden = this.getIdentity !== ResilienceGuard.prototype.getIdentity ? this.sharedIdentity(context, req) : undefined;
    if (this.shouldSkip(context)) return true;
    const options = this.getOptions(context);
    const compiled = this.compile(context, options);
    if (!compiled.limiter) return true;
    // Without an override: the identity an earlier subclass with its own getIdentity shared, else this guard's.
    const shared = overridden ?? requestIdentityOf(req);
    const identity = shared ? await shared() : await this.checkedIdentity(context);
    if (compiled.identityRuleIds.length > 0 && isEmptyIdentity(identity)) this.reportUndefinedIdentity(context, compiled.identityRuleIds);
    const route = this.getRoute(context, options);
    const ctx: LimitContext = { ...identity, route: route ?? compiled.handlerRoute };
    let limiter = compiled.limiter;
    let countedTwice: string | undefined;
    // A ResilienceGuard that already ran for the request (an APP_GUARD, then @UseGuards(ResilienceGuard)
    // on the controller) charged some buckets: each bucket counts a request once. Worked out only then.
    const earlier = chargedRunOf(req);
    if (earlier !== undefined) {
      const charged = chargedBucketsOf(earlier);
      let leftOut: number[] | undefined;
      let fresh = 0;
      for (let i = 0; i < compiled.rules.length; i++) {
        const rule = compiled.rules[i]!;
        if (!matchHolds(compiled.matches[i], ctx)) continue;
        const key = limitKey(rule, ctx);
        if (key === undefined) continue;
        const before = charged.get(rule.id);
        if (before === key) {
          (leftOut ??= []).push(i);
          continue;
        }
        if (before !== undefined) countedTwice ??= rule.id;
        fresh++;
      }
      if (fresh === 0) return true;
      // The rules that do not apply stay in: the limiter skips them, as the handler's own does.
      if (leftOut !== undefined) limiter = compiled.subsets.without(leftOut);
    }
    const decision = await limiter.reserve(ctx, ONE_REQUEST, 'request');
    if (countedTwice !== undefined) this.reportCountedTwice(context, countedTwice);
    if (decision.ok) {
      recordChargedRun(req, ctx, compiled);
      return true;
    }
    return this.throwLimited(context, {
      ruleId: inboundRuleId(decision.rule.id),
      retryAfterMs: decision.retryAfterMs,
      route,
      audience: audienceOf(this.resilience.engine, this.options, route, options?.audience),
    });
  }

  /** True when `@SkipResilience()` is on the handler or class (handler wins). */
  protected shouldSkip(context: ExecutionContext): boolean {
    return this.reflector.getAllAndOverride<boolean | undefined>(SKIP_RESILIENCE_METADATA, [context.getHandler(), context.getClass()]) === true;
  }

  /** The `@RateLimited` options of the class (and its base classes, see `classRateLimited`), overridden field by field by the handler's. */
  protected getOptions(context: ExecutionContext): RateLimitedOptions | undefined {
    // The class's options merged along its prototype chain (base first), as decorated methods read them.
    return mergeRateLimited(classRateLimited(context.getClass()), this.reflector.get<RateLimitedOptions | undefined>(RATE_LIMITED_METADATA, context.getHandler()));
  }

  /**
   * Who the request is for: the module's `identity(context)`, else {@link defaultIdentity}
   * (`req.user.id`/`team`/`tenant`, else the client IP). Not overridden, the guard calls it only for
   * handlers with inbound rules, and not for requests {@link shouldSkip} skips; when a subclass with
   * its own `getIdentity` ran before for the request, the guard takes that identity instead.
   *
   * Override it in a subclass to say who requests are for: the override is then the identity of the
   * request for everything, the guard's limits and (through `ResilienceInterceptor`) the policy's
   * limits of the decorated methods the handler calls. It runs at most once per request, when first
   * needed: by the guard, for a handler with inbound rules, else by `ResilienceInterceptor`, which asks
   * for it on every request it handles (also one to a handler without inbound rules, or that a
   * subclass's `shouldSkip` skipped; not one to a `@SkipResilience()` handler). The same subclass
   * applied twice to a request (`APP_GUARD` and `@UseGuards`) calls it once.
   *
   * @example
   * ```ts
   * protected override async getIdentity(context: ExecutionContext) {
   *   const req = context.switchToHttp().getRequest();
   *   return { user: req.user.id, tenant: req.headers['x-tenant'] };
   * }
   * ```
   */
  protected async getIdentity(context: ExecutionContext): Promise<Identity | undefined> {
    if (this.options.identity) return this.options.identity(context);
    return defaultIdentity(context.switchToHttp().getRequest());
  }

  /** The route the request is counted under: `@RateLimited({ route })` of the handler or class. */
  protected getRoute(_context: ExecutionContext, options: RateLimitedOptions | undefined): string | undefined {
    return options?.route;
  }

  /**
   * The inbound rules of the request: the module's `limits`, then those of `@RateLimited` on the
   * class, then on the handler. A rule with the id of a rule above it (a class's or method's over the
   * module's, a method's over its class's) replaces it: with the same definition it is that rule (its
   * bucket); with a different one (a looser limit for one handler, say) it counts in a bucket of its
   * own declaration and definition, store id `nest-inbound@<Class or Class.method>~<definition>:<id>`
   * instead of `nest-inbound:<id>` (429s and logs still show the id as written). Classes are named by
   * their names only (two classes of one name share default ids, and override buckets of one
   * definition). `@RateLimited` gives its rules
   * without `id` the default id of the class or method that declared them; `limits` built by an
   * overridden {@link getOptions} count as declared by the handler (`Class.method`). The result's ids
   * are store ids: compare them with `inboundRuleId` applied, not with the written id.
   *
   * @example
   * ```ts
   * // module: [{ id: 'per-user', scope: ['user'], limit: 60, window: '1m' }]; ExportController.bulk: the same id, limit 600
   * guard.getLimits(context, options); // [{ id: 'nest-inbound@ExportController.bulk~user,600/60000ms:per-user', limit: 600, ... }]
   * ```
   */
  protected getLimits(context: ExecutionContext, options: RateLimitedOptions | undefined): LimitRule[] {
    const handler = `${context.getClass().name}.${context.getHandler().name}`;
    return handlerInboundRules(this.moduleRules, options?.limits, handler).map((r) => r.rule);
  }

  /**
   * Responds 429 with `Retry-After` and the audience message (never provider names or quotas for
   * customers). A request the rule can never let through (`retryAfterMs: Infinity`: a bucket smaller
   * than one request, from rules an overridden {@link getLimits} made up) gets a 413 without
   * `Retry-After`, worded as too large for customers ("shorten it", never "wait a moment"), as the
   * rest of the library answers a rate limit no wait lets a request pass.
   */
  protected throwLimited(context: ExecutionContext, details: InboundLimitedDetails): never {
    const tooLarge = messageKindOf('rate_limited', details.retryAfterMs) === 'too_large';
    const status = tooLarge ? 413 : 429;
    const seconds = tooLarge ? undefined : retryAfterSeconds(details.retryAfterMs);
    if (seconds !== undefined) setResponseHeader(context.switchToHttp().getResponse(), 'Retry-After', seconds);
    const body: ResilienceErrorBody = {
      statusCode: status,
      error: 'rate_limited',
      code: 'ERR_LLMR_NEST_INBOUND_LIMITED',
      message:
        tooLarge && details.audience === 'customer'
          ? messageFor('too_large', 'customer', this.resilience.engine, details.route)
          : inboundLimitMessage(details.audience, details.ruleId, details.retryAfterMs),
    };
    throw new HttpException(body, status);
  }

  private reportUndefinedIdentity(context: ExecutionContext, ruleIds: readonly string[]): void {
    if (!shouldWarnUndefinedIdentity(this.resilience, 'inbound')) return;
    warnUndefinedIdentity(
      this.resilience,
      'inbound',
      `A request to ${context.getClass().name}.${context.getHandler().name} has no identity (getIdentity gave no user, team, tenant or environment), ` +
        `so the inbound limits keyed by user, team or tenant (${ruleIds.map((id) => `'${id}'`).join(', ')}) do not count it. ` +
        `Return at least one value from the module's identity(context) (e.g. the client IP for anonymous requests), or guard such routes with a rule without those dimensions.`,
    );
  }

  /**
   * The identity resolver of a guard with an overridden {@link getIdentity}, shared with the steps after
   * the guard (or the one an earlier guard with the same `getIdentity` shared): nothing runs until awaited.
   */
  private sharedIdentity(context: ExecutionContext, req: unknown): () => Promise<Identity | undefined> {
    const shared = sharedRequestIdentity(req);
    if (shared?.from === this.getIdentity) return shared.resolve;
    let resolved: Promise<Identity | undefined> | undefined;
    const resolve = (): Promise<Identity | undefined> => (resolved ??= this.checkedIdentity(context));
    shareRequestIdentity(req, resolve, this.getIdentity);
    return resolve;
  }

  /** The request's identity from {@link getIdentity}, checked. */
  private async checkedIdentity(context: ExecutionContext): Promise<Identity | undefined> {
    return checkIdentity(await this.getIdentity(context), identitySource(context, this, this.getIdentity !== ResilienceGuard.prototype.getIdentity, this.options));
  }

  private reportCountedTwice(context: ExecutionContext, ruleId: string): void {
    if (warnedCountedTwice.has(this.resilience)) return;
    warnedCountedTwice.add(this.resilience);
    logger.warn(
      `${INBOUND_COUNTED_TWICE_CODE}: ResilienceGuard ran twice for a request to ${context.getClass().name}.${context.getHandler().name} ` +
        `(a global APP_GUARD and @UseGuards, say), and the second run (${this.constructor.name}) counted it under another identity or route than the first, ` +
        `so inbound limit '${inboundRuleId(ruleId)}' counted the request twice, in both buckets. ` +
        `An auth guard that ran between the two, or a ResilienceGuard subclass with its own getIdentity running after a plain ResilienceGuard, does this. ` +
        `Apply one ResilienceGuard per request (the subclass, if any, as the APP_GUARD), registered after auth. See ${helpLink(INBOUND_COUNTED_TWICE_CODE)}.`,
    );
  }

  private limiterOf(rules: readonly LimitRule[]): Limiter {
    const engine = this.resilience.engine;
    return new Limiter(rules, engine.store, { clock: engine.clock });
  }

  /**
   * The rules of a handler, built once (the first request to it) by {@link getLimits}. Each rule's
   * store id is checked against the application's other rules of it
   * (`ERR_LLMR_NEST_CONFLICTING_LIMIT_ID`): the declared ones were at start-up (the same rules, for
   * the default `getLimits`), this catches rules an overridden `getLimits` (or `getOptions`) makes up.
   */
  private compile(context: ExecutionContext, options: RateLimitedOptions | undefined): Compiled {
    const cls = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.compiled.get(cls);
    if (!byHandler) this.compiled.set(cls, (byHandler = new WeakMap()));
    let c = byHandler.get(handler);
    if (!c) {
      const rules = this.getLimits(context, options);
      const ids = inboundRuleIdsOf(this.resilience);
      const where = `${this.constructor.name}.getLimits(context, options) for ${cls.name}.${handler.name}`;
      for (const rule of rules) ids.add(rule, where);
      c = {
        rules,
        matches: rules.map((r) => {
          const pairs = Object.entries(r.match ?? {}).filter(([, v]) => v !== undefined) as [ScopeDimension, string][];
          return pairs.length > 0 ? pairs : undefined;
        }),
        limiter: rules.length > 0 ? this.limiterOf(rules) : undefined,
        subsets: new SubsetCache(rules, (subset) => this.limiterOf(subset)),
        identityRuleIds: identityScopedRuleIds(rules).map(inboundRuleId),
        // Without a route name, the handler is counted under `Class.method` (its class's name only).
        handlerRoute: `${cls.name}.${handler.name}`,
      };
      byHandler.set(handler, c);
    }
    return c;
  }
}
