import { Limiter, limitKey, retryAfterSeconds, type Identity, type LimitContext, type LimitRule } from '@llm-resilience/core';
import { HttpException, Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RATE_LIMITED_METADATA, SKIP_RESILIENCE_METADATA, mergeRateLimited } from '../decorators/metadata';
import { ResilienceService } from '../ResilienceService';
import { RESILIENCE_MODULE_OPTIONS, type Audience, type RateLimitedOptions, type ResilienceModuleOptions } from '../types';
import { handlerInboundRules, inboundRuleIdsOf } from './inboundRuleIds';
import { inboundRuleId, toInboundLimitRules } from './inboundRules';
import { countedKeysOf, shareRequestIdentity } from './requestState';
import { audienceOf, inboundLimitMessage, setResponseHeader, type ResilienceErrorBody } from './messages';
import { defaultIdentity, identitySource } from './requestIdentity';
import { checkIdentity } from '../identityCheck';
import { identityScopedRuleIds, isEmptyIdentity, shouldWarnUndefinedIdentity, warnUndefinedIdentity } from '../undefinedIdentity';

/** A request-count rule charges 1 per request; tokens are the engine's business. */
const ONE_REQUEST = { inputTokens: 0, outputTokens: 0, costUsd: 0 };

/**
 * What {@link ResilienceGuard.throwLimited} gets to build its 429.
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

interface Compiled {
  readonly rules: readonly LimitRule[];
  readonly limiter: Limiter | undefined;
  /** Ids (as written) of the rules keyed by user, team or tenant, which a request without identity escapes. */
  readonly identityRuleIds: readonly string[];
}

/**
 * Guards controllers with inbound request limits: the module's `limits` plus those of `@RateLimited`
 * on the controller class and handler, keyed by the request's identity and route, counted in the
 * engine's store (so Redis shares them across processes). A denied request gets a 429 with
 * `Retry-After` and the audience message; the handler does not run. The identity is the request's as
 * it is when the guard runs: an auth guard that sets `req.user` must run before it (a global guard
 * registered earlier, for a global `ResilienceGuard`), or the default identity falls back to the client
 * IP. `ResilienceInterceptor`, which runs after every guard, finds the identity again for the
 * decorated methods, unless a subclass overrides {@link getIdentity}: that override is the request's
 * identity for everything (the interceptor takes its result), resolved once per request. A request
 * counts once per bucket, even when the guard runs twice for it (`APP_GUARD` and `@UseGuards`).
 * A `@RateLimited` rule with the id of a module rule, or a method's with the id of its class's rule,
 * replaces it for the handler; with a different definition it counts in a bucket of its own
 * declaration (see {@link getLimits}).
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
    if (this.shouldSkip(context)) return true;
    const req: unknown = context.switchToHttp().getRequest();
    const identityOf = this.identityResolver(context);
    // An overridden getIdentity says who the request is for: ResilienceInterceptor (the policy's
    // limits of decorated methods) uses it too, and it runs once per request.
    if (this.getIdentity !== ResilienceGuard.prototype.getIdentity) shareRequestIdentity(req, identityOf);
    const options = this.getOptions(context);
    const compiled = this.compile(context, options);
    if (!compiled.limiter) return true;
    const identity = await identityOf();
    if (compiled.identityRuleIds.length > 0 && isEmptyIdentity(identity)) this.reportUndefinedIdentity(context, compiled.identityRuleIds);
    const route = this.getRoute(context, options);
    const ctx: LimitContext = { ...identity, route: route ?? `${context.getClass().name}.${context.getHandler().name}` };
    // A ResilienceGuard that already ran for this request (an APP_GUARD, then @UseGuards(ResilienceGuard)
    // on the controller) charged its buckets: each bucket counts a request once.
    const counted = countedKeysOf(req);
    const keys = compiled.rules.map((rule) => limitKey(rule, ctx));
    const fresh = compiled.rules.filter((_, i) => keys[i] !== undefined && !counted?.has(keys[i]!));
    if (fresh.length === 0) return true;
    const limiter = fresh.length === compiled.rules.length ? compiled.limiter : this.limiterOf(fresh);
    const decision = await limiter.reserve(ctx, ONE_REQUEST, 'request');
    if (decision.ok) {
      for (const key of keys) if (key !== undefined) counted?.add(key);
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

  /** The `@RateLimited` options of the class, overridden field by field by the handler's. */
  protected getOptions(context: ExecutionContext): RateLimitedOptions | undefined {
    const [onClass, onHandler] = this.reflector.getAll<[RateLimitedOptions | undefined, RateLimitedOptions | undefined]>(RATE_LIMITED_METADATA, [
      context.getClass(),
      context.getHandler(),
    ]);
    return mergeRateLimited(onClass, onHandler);
  }

  /**
   * Who the request is for: the module's `identity(context)`, else {@link defaultIdentity}
   * (`req.user.id`/`team`/`tenant`, else the client IP). Called only for handlers with inbound
   * rules. Override it in a subclass to say who requests are for: the override is then the
   * identity of the request for everything, the guard's limits and (through
   * `ResilienceInterceptor`) the policy's limits of the decorated methods the handler calls; it
   * runs at most once per request.
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
   * own declaration, store id `nest-inbound@<Class or Class.method>:<id>` instead of
   * `nest-inbound:<id>` (429s and logs still show the id as written). `@RateLimited` gives its rules
   * without `id` the default id of the class or method that declared them; `limits` built by an
   * overridden {@link getOptions} count as declared by the handler (`Class.method`). The result's ids
   * are store ids: compare them with `inboundRuleId` applied, not with the written id.
   *
   * @example
   * ```ts
   * // module: [{ id: 'per-user', scope: ['user'], limit: 60, window: '1m' }]; ExportController.bulk: the same id, limit 600
   * guard.getLimits(context, options); // [{ id: 'nest-inbound@ExportController.bulk:per-user', limit: 600, ... }]
   * ```
   */
  protected getLimits(context: ExecutionContext, options: RateLimitedOptions | undefined): LimitRule[] {
    const handler = `${context.getClass().name}.${context.getHandler().name}`;
    return handlerInboundRules(this.moduleRules, options?.limits, handler).map((r) => r.rule);
  }

  /** Responds 429 with `Retry-After` and the audience message (never provider names or quotas for customers). */
  protected throwLimited(context: ExecutionContext, details: InboundLimitedDetails): never {
    const seconds = retryAfterSeconds(details.retryAfterMs);
    if (seconds !== undefined) setResponseHeader(context.switchToHttp().getResponse(), 'Retry-After', seconds);
    const body: ResilienceErrorBody = {
      statusCode: 429,
      error: 'rate_limited',
      code: 'ERR_LLMR_NEST_INBOUND_LIMITED',
      message: inboundLimitMessage(details.audience, details.ruleId, details.retryAfterMs),
    };
    throw new HttpException(body, 429);
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

  /** The request's identity from {@link getIdentity}, checked, resolved at most once (when first awaited). */
  private identityResolver(context: ExecutionContext): () => Promise<Identity | undefined> {
    let resolved: Promise<Identity | undefined> | undefined;
    return () =>
      (resolved ??= (async () =>
        checkIdentity(
          await this.getIdentity(context),
          identitySource(context, this, this.getIdentity !== ResilienceGuard.prototype.getIdentity, this.options),
        ))());
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
        limiter: rules.length > 0 ? this.limiterOf(rules) : undefined,
        identityRuleIds: identityScopedRuleIds(rules).map(inboundRuleId),
      };
      byHandler.set(handler, c);
    }
    return c;
  }
}
