/**
 * Public types of `@llm-resilience/nestjs`: module options, decorator options and the injection
 * tokens, each token beside the interface it provides (the `@nestjs/throttler` layout).
 */
import type {
  Clock,
  Duration,
  ErrorKind,
  Identity,
  LimiterStore,
  Logger,
  Metrics,
  Policy,
  PolicyInput,
  Resilience,
  ResilienceOptions,
  ResilienceRequest,
} from '@llm-resilience/core';
import type { ExecutionContext, InjectionToken, ModuleMetadata, OptionalFactoryDependency, Provider, Type } from '@nestjs/common';

/**
 * Who reads failure messages: your own team (`internal`: direct, names the limit) or customers
 * (`customer`: calm; never provider names, quota numbers or fallback chains).
 *
 * @example
 * ```ts
 * const audience: Audience = 'customer';
 * ```
 */
export type Audience = 'internal' | 'customer';

/**
 * Scope dimensions an inbound limit can use: the ones known before the handler runs.
 *
 * @example
 * ```ts
 * const scope: InboundScope[] = ['user', 'route'];
 * ```
 */
export type InboundScope = 'user' | 'team' | 'tenant' | 'environment' | 'route';

/**
 * A request-count limit the {@link ResilienceGuard} enforces before a controller handler runs
 * (token, cost and provider limits belong in the policy, where the engine enforces them on every
 * call). Buckets live in the engine's `LimiterStore`, so with Redis they hold across processes.
 *
 * @example
 * ```ts
 * const rule: InboundLimitRule = { scope: ['user'], limit: 20, window: '1m' };
 * ```
 */
export interface InboundLimitRule {
  /**
   * Stable id, shown to the team in 429 messages; it keys the rule's buckets in the store, so rules
   * with the same id (on different controllers, say) share one bucket: they must have the same
   * definition (scope, metric, limit, window, burst, match), else the application does not start
   * (`ERR_LLMR_NEST_CONFLICTING_LIMIT_ID`). A rule with the id of a rule above it (a method's over
   * its class's, a class's or method's over the module's) replaces that rule for its handlers
   * instead: with the same definition it is that rule (its bucket); with another, it counts in a bucket
   * of its own declaration and definition (store id `nest-inbound@ExportController.bulk~user,600/60000ms:<id>`;
   * 429s still say `<id>`).
   * Default: `<owner>:<scope joined by +>:requests:<window>`, the owner being where
   * the rule is declared (`ChatController` for a class's `@RateLimited`, `ChatController.ask` for a
   * method's), so each declaration has its own bucket; `<scope>:requests:<window>` for the module's `limits`.
   * Default ids name the class by its name only: two classes of one name (two `ExportController`s of
   * two modules) share their default-id buckets, and stop the application at start-up if those rules
   * differ (`ERR_LLMR_NEST_CONFLICTING_LIMIT_ID`); explicit ids count them apart.
   */
  id?: string;
  /** Dimensions that key the bucket (`[]`: one bucket for everyone). */
  scope: InboundScope[];
  /**
   * What is counted: `requests`, the only metric of inbound rules (the default). Concurrency, token
   * and cost limits belong in the policy, where the engine enforces them on every call.
   */
  metric?: 'requests';
  /** Requests per window. At least 1 unless `burst` is given. */
  limit: number;
  /** Window: ms or `'30s'`, `'1m'`, `'1h'`, `'1d'` (1 s to 1 day). */
  window: Duration;
  /** Largest burst at once, 1 or more. Default `limit`. */
  burst?: number;
  /**
   * Only apply when these dimensions have these values (e.g. `{ environment: 'staging' }`): an object
   * of `user`, `team`, `tenant`, `environment`, `route` to strings.
   */
  match?: Partial<Record<InboundScope, string>>;
}

/**
 * Injection token of the options given to `ResilienceModule.forRoot` / `forRootAsync`.
 *
 * @example
 * ```ts
 * constructor(@Inject(RESILIENCE_MODULE_OPTIONS) private readonly options: ResilienceModuleOptions) {}
 * ```
 */
export const RESILIENCE_MODULE_OPTIONS: unique symbol = Symbol('RESILIENCE_MODULE_OPTIONS');

/**
 * Options of `ResilienceModule`. Give either `engine` (an engine you created, shared with other
 * adapters of the process) or `policy` (the module creates the engine). Checked when the application
 * starts: a bad option, or a key that is none of these, stops the boot with a `NestConfigError`
 * naming it (`ResilienceModule.forRoot limits[0].limit: ...`).
 *
 * @example
 * ```ts
 * ResilienceModule.forRoot({ policy, store: new RedisLimiterStore(redis), identity: (ctx) => ({ user: ctx.switchToHttp().getRequest().user.id }) });
 * ```
 */
export interface ResilienceModuleOptions {
  /** An engine to use as is (so Express, LangChain and NestJS in one process share limits, breakers and budgets). */
  engine?: Resilience;
  /** The policy the module builds its engine from (when `engine` is not given). */
  policy?: Policy | PolicyInput;
  /** Where limiter state lives when the module builds the engine. Default: a `MemoryLimiterStore`. */
  store?: LimiterStore;
  /** Time source of a module-built engine. Default: the system clock. */
  clock?: Clock;
  /** Diagnostics of a module-built engine (never receives prompt text or keys). */
  logger?: Logger;
  /** Metrics sink of a module-built engine. */
  metrics?: Metrics;
  /** Any other `createResilience` option for a module-built engine (tokenizer, retryBudget, ...). */
  engineOptions?: Omit<ResilienceOptions, 'store' | 'clock' | 'logger' | 'metrics'>;
  /**
   * Shut the engine down (draining queued work) when the application shuts down. Default: `true`
   * when the module built the engine, `false` when `engine` was passed in (its creator owns it).
   */
  shutdownEngine?: boolean;
  /**
   * How long requests in flight and queued work may run during `app.close()` before the engine stops,
   * in ms, counted from `ResilienceService.beforeApplicationShutdown`; also the longest drain of the
   * engine once the HTTP server has closed. At most 2^31 - 1 (about 24.8 days, the longest timer Node
   * keeps; checked at start-up). Only for an engine the module shuts down: next to `engine` it needs
   * `shutdownEngine: true` (else the boot stops with a `NestConfigError`, as it would be ignored).
   * Default: no limit.
   */
  drainTimeoutMs?: number;
  /**
   * Who an HTTP request is for, read by {@link ResilienceGuard} (for handlers with inbound rules) and,
   * after every guard, by {@link ResilienceInterceptor}; a `ResilienceGuard` subclass that overrides
   * `getIdentity` replaces it for both (its result, found once per request). Default: `req.user.id` (or `sub`) with `req.user.team` / `tenant`, else the client IP as user.
   * Must give `undefined` or an object whose `user`, `team`, `tenant`, `environment` are strings
   * (`String(req.user.id)`); anything else fails the request with `ERR_LLMR_NEST_INVALID_IDENTITY` (500).
   */
  identity?: (context: ExecutionContext) => Identity | undefined | Promise<Identity | undefined>;
  /** Inbound limits the guard applies to every request it guards, besides those of `@RateLimited`. */
  limits?: InboundLimitRule[];
  /**
   * Audience of messages where no policy route is involved (an inbound limit or error outside any
   * route). Every policy route has its own audience (`customer` unless set), which wins: set
   * `audience` on the route. Default `customer`.
   */
  audience?: Audience;
}

/**
 * Injection token of the shared engine (`Resilience`), for `@Inject(RESILIENCE_ENGINE)` or
 * `@InjectResilience()`.
 *
 * @example
 * ```ts
 * constructor(@InjectResilience() private readonly engine: Resilience) {}
 * ```
 */
export const RESILIENCE_ENGINE: unique symbol = Symbol('RESILIENCE_ENGINE');

/**
 * A class that creates the module options (for `forRootAsync({ useClass })`).
 *
 * @example
 * ```ts
 * @Injectable() class ResilienceConfig implements ResilienceOptionsFactory {
 *   createResilienceOptions() { return { policy }; }
 * }
 * ```
 */
export interface ResilienceOptionsFactory {
  createResilienceOptions(): ResilienceModuleOptions | Promise<ResilienceModuleOptions>;
}

/**
 * Options of `ResilienceModule.forRootAsync`: one of `useFactory`, `useClass`, `useExisting`.
 *
 * @example
 * ```ts
 * ResilienceModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ policy: buildPolicy(config.get('LLM_RPM')) }),
 * });
 * ```
 */
export interface ResilienceModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  useFactory?: (...args: any[]) => ResilienceModuleOptions | Promise<ResilienceModuleOptions>;
  /** The arguments of `useFactory`; only with it (next to `useClass` / `useExisting` it is refused: it would be ignored). */
  inject?: Array<InjectionToken | OptionalFactoryDependency>;
  useClass?: Type<ResilienceOptionsFactory>;
  useExisting?: Type<ResilienceOptionsFactory>;
  /** More providers for the module (e.g. what the factory injects). */
  extraProviders?: Provider[];
}

/**
 * Options of `@RateLimited`. On a class they are defaults for every decorated method of the class
 * (a subclass's merged over its base classes', field by field); a method's own options override them
 * field by field. `identity` and `key` count as one field
 * (who the call is for): a method that sets either replaces both of the class's.
 *
 * Functions receive the method's arguments as the caller passed them.
 *
 * @example
 * ```ts
 * @RateLimited({ route: 'support_reply', key: (userId: string) => userId, maxOutputTokens: 300 })
 * async reply(userId: string, question: string, @Target() target?: ResolvedTarget) { ... }
 * ```
 */
export interface RateLimitedOptions {
  /**
   * The policy route the method runs on. A method runs through the engine only when it (or its class)
   * has a route; without one, `@RateLimited` only carries inbound `limits` for the guard.
   */
  route?: string;
  /**
   * Shorthand for the `user` of the identity: `key: (userId) => userId` (the rest of the identity
   * comes from the request context). On a method it wins over the class's `identity` and `key`.
   * Must return a string or `undefined`, else the call fails with `ERR_LLMR_NEST_INVALID_IDENTITY`.
   */
  key?: (...args: any[]) => string | undefined;
  /**
   * Who the call is for. Wins over a `key` set at the same level (class or method); a method's
   * `key` or `identity` wins over the class's. Default: the identity the interceptor found for the
   * HTTP request. Must return (synchronously) `undefined` or an object whose `user`, `team`,
   * `tenant`, `environment` are strings, else the call fails with `ERR_LLMR_NEST_INVALID_IDENTITY`.
   */
  identity?: (...args: any[]) => Identity | undefined;
  /** Traffic class of the policy (`live`, `batch`, ...), checked at start-up. Default: the route's. */
  priority?: string;
  /**
   * Data class of the content; only targets approved for it are tried. A function of the method's
   * arguments must return (synchronously) a string or `undefined`, else the call fails with
   * `ERR_LLMR_NEST_INVALID_OPTIONS`.
   */
  dataClass?: string | ((...args: any[]) => string | undefined);
  /** Output cap, reserved as the output estimate. */
  maxOutputTokens?: number;
  /** The prompt, for token estimation against token limits (never recorded by default). */
  input?: (...args: any[]) => ResilienceRequest['input'];
  /** Who reads failure messages. Default: the route's audience. */
  audience?: Audience;
  /**
   * Inbound request limits enforced by {@link ResilienceGuard} on controllers (no effect on services),
   * besides the module's; a rule with the id of a module rule (or, on a method, of its class's rule)
   * replaces it, counted in a bucket of its own when its definition differs.
   */
  limits?: InboundLimitRule[];
  /**
   * What the method returns. Default: read from `design:returntype` (tsc or SWC with
   * `emitDecoratorMetadata`); `promise` when that metadata is absent (esbuild, tsx).
   */
  returns?: 'promise' | 'observable';
}

/**
 * Fallback to a method of the same class (resilience4j style): when the call finally fails with an
 * error whose kind is in `on`, `this[method](...args, error)` answers instead, `args` padded with
 * `undefined` to the decorated method's declared parameter count, so the error is the parameter right
 * after the method's own (and always the last argument).
 *
 * @example
 * ```ts
 * @Fallback({ method: 'cannedReply', on: ['overloaded', 'rate_limited'] })
 * ```
 */
export interface FallbackMethodOptions {
  /** Name of a method of the same class. */
  method: string;
  /**
   * Error kinds that use the fallback method. Default: capacity and reliability kinds
   * (`rate_limited`, `overloaded`, `timeout`, `network`, `quota_exhausted`); never policy
   * rejections, invalid requests or bugs (`unknown`) unless listed.
   */
  on?: readonly ErrorKind[];
}

/**
 * Model chain mode: the engine calls the method once per attempt, each time with the target to use,
 * injected at the `@Target()` (or `@AttemptCtx()`) parameter, so the route's chain is the fallback.
 *
 * @example
 * ```ts
 * @Fallback({ chain: true })
 * ```
 */
export interface FallbackChainOptions {
  chain: true;
}

/**
 * Options of `@Fallback`: a fallback method, the model chain, or both (apply `@Fallback` twice).
 *
 * @example
 * ```ts
 * const opts: FallbackOptions = { method: 'cannedReply' };
 * ```
 */
export type FallbackOptions = FallbackMethodOptions | FallbackChainOptions;
