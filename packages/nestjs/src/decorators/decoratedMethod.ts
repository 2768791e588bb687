import 'reflect-metadata';
import { classifyError, type AttemptContext, type ErrorKind, type ResilienceRequest, type ResolvedTarget } from '@llm-resilience/core';
import { catchError, defer, from, isObservable, of, throwError, type Observable } from 'rxjs';
import { markDecorated, resolveService } from '../engineRegistry';
import { checkIdentity, checkKey } from '../identityCheck';
import { nonStringResult } from '../describeValue';
import { NestConfigError, nestConfigErrorIn } from '../NestConfigError';
import { currentResilienceContext, type ResilienceRequestContext } from '../requestContext';
import { catchBeforeFirstValue } from '../rxjs/catchBeforeFirstValue';
import { isObservableType, valuesOf } from '../rxjs/collect';
import { fromResilience } from '../rxjs/fromResilience';
import type { ResilienceService } from '../ResilienceService';
import type { FallbackMethodOptions, RateLimitedOptions } from '../types';
import { identityScopedRuleIds, isEmptyIdentity, shouldWarnUndefinedIdentity, warnUndefinedIdentity } from '../undefinedIdentity';
import {
  ATTEMPT_CTX_PARAM_METADATA,
  classRateLimited,
  fallbacksOf,
  mergeRateLimited,
  RATE_LIMITED_METADATA,
  TARGET_PARAM_METADATA,
} from './metadata';
import { AppExceptions } from './appExceptions';

/**
 * Kinds that call the fallback method by default: capacity and reliability problems. Policy
 * rejections, invalid requests, context length and bugs (`unknown`) are not hidden behind a canned reply.
 *
 * @example
 * ```ts
 * @Fallback({ method: 'cannedReply', on: [...DEFAULT_FALLBACK_METHOD_ON, 'validation_failed'] })
 * ```
 */
export const DEFAULT_FALLBACK_METHOD_ON: readonly ErrorKind[] = ['rate_limited', 'overloaded', 'timeout', 'network', 'quota_exhausted'];

/**
 * What the wrapper knows about the method it replaced.
 *
 * @example
 * ```ts
 * const info: DecoratedMethodInfo | undefined = decoratedMethodInfo(SupportService.prototype.reply);
 * info?.original.name; // 'reply'
 * ```
 */
export interface DecoratedMethodInfo {
  readonly original: Function;
  readonly name: string;
  /** The prototype (or constructor, for static methods) the method was decorated on. */
  readonly owner: object;
  readonly targetIndex: number | undefined;
  readonly ctxIndex: number | undefined;
  /**
   * How many parameters the method declares: the length of `design:paramtypes` (tsc or SWC with
   * `emitDecoratorMetadata`; counts optional parameters, parameters with a default and a rest
   * parameter), else `Function.length` (which stops before the first parameter with a default), and
   * at least up to the `@Target()` / `@AttemptCtx()` parameter.
   */
  readonly paramCount: number;
  /** `design:returntype` when the compiler emitted it. */
  readonly returnType: unknown;
}

const infos = new WeakMap<Function, DecoratedMethodInfo>();

/**
 * The wrapper's record, or undefined for a function that is not a decorated method.
 *
 * @example
 * ```ts
 * decoratedMethodInfo(SupportService.prototype.reply)?.targetIndex; // 2
 * ```
 */
export function decoratedMethodInfo(fn: unknown): DecoratedMethodInfo | undefined {
  return typeof fn === 'function' ? infos.get(fn) : undefined;
}

function ownerName(owner: object): string {
  const ctor = typeof owner === 'function' ? owner : (owner as { constructor?: { name?: string } }).constructor;
  return (ctor as { name?: string } | undefined)?.name || 'anonymous class';
}

/**
 * `Class.method` for messages.
 *
 * @example
 * ```ts
 * describeMethod(SupportService.prototype, 'reply'); // 'SupportService.reply'
 * ```
 */
export function describeMethod(owner: object, key: string | symbol): string {
  return `${ownerName(owner)}.${String(key)}`;
}

/**
 * Replaces the method in `descriptor` by a wrapper that runs it through the engine (once; a second
 * decorator on the same method finds the wrapper and only adds its metadata). Metadata other
 * decorators already put on the method function is copied to the wrapper, so `@Get()`, `@SetMetadata()`
 * and the guard's `reflector.get(..., context.getHandler())` keep working.
 *
 * @example
 * ```ts
 * const d = wrapMethod(SupportService.prototype, 'reply', Object.getOwnPropertyDescriptor(SupportService.prototype, 'reply')!);
 * ```
 */
export function wrapMethod(owner: object, key: string | symbol, descriptor: PropertyDescriptor): PropertyDescriptor {
  const current: unknown = descriptor.value;
  if (typeof current !== 'function') {
    throw new NestConfigError(
      'ERR_LLMR_NEST_INVALID_OPTIONS',
      `${describeMethod(owner, key)}: @RateLimited and @Fallback decorate methods (or, for @RateLimited, classes); this is not a method.`,
    );
  }
  if (infos.has(current)) return descriptor;
  const targetIndex = Reflect.getMetadata(TARGET_PARAM_METADATA, owner, key) as number | undefined;
  const ctxIndex = Reflect.getMetadata(ATTEMPT_CTX_PARAM_METADATA, owner, key) as number | undefined;
  const paramTypes = Reflect.getMetadata('design:paramtypes', owner, key) as unknown;
  const info: DecoratedMethodInfo = {
    original: current,
    name: String(key),
    owner,
    targetIndex,
    ctxIndex,
    paramCount: Math.max(current.length, Array.isArray(paramTypes) ? paramTypes.length : 0, (targetIndex ?? -1) + 1, (ctxIndex ?? -1) + 1),
    returnType: Reflect.getMetadata('design:returntype', owner, key) as unknown,
  };
  const wrapper = function (this: unknown, ...args: unknown[]): unknown {
    return invokeDecorated(this, wrapper, info, args);
  };
  for (const k of Reflect.getOwnMetadataKeys(current) as unknown[]) {
    Reflect.defineMetadata(k, Reflect.getOwnMetadata(k, current), wrapper);
  }
  Object.defineProperty(wrapper, 'name', { value: (current as { name: string }).name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: (current as { length: number }).length, configurable: true });
  infos.set(wrapper, info);
  markDecorated(owner);
  descriptor.value = wrapper;
  return descriptor;
}

const AsyncFunction = (async () => undefined).constructor;

/**
 * Whether a decorated method returns an Observable: `returns` when given, else its
 * `design:returntype`. Everything else gets a Promise.
 *
 * @example
 * ```ts
 * returnsObservable(decoratedMethodInfo(SupportService.prototype.reply$)!, undefined); // true
 * ```
 */
export function returnsObservable(info: DecoratedMethodInfo, options: RateLimitedOptions | undefined): boolean {
  if (options?.returns !== undefined) return options.returns === 'observable';
  return isObservableType(info.returnType);
}

/**
 * True when nothing says what a method returns: no `returns` option, no useful `design:returntype`
 * (esbuild and tsx emit none; a type-only `import { type Observable }` or a missing annotation emit
 * `Object`) and the method is not `async`. Such a method is treated as returning a Promise.
 *
 * @example
 * ```ts
 * if (isReturnAmbiguous(info, options)) logger.warn(`${name}: add returns: 'observable' if it returns an Observable`);
 * ```
 */
export function isReturnAmbiguous(info: DecoratedMethodInfo, options: RateLimitedOptions | undefined): boolean {
  if (options?.returns !== undefined || info.original instanceof AsyncFunction) return false;
  return info.returnType === undefined || info.returnType === Object;
}

const SYNC_TYPES: ReadonlySet<unknown> = new Set([String, Number, Boolean, Array, Symbol, BigInt]);

/**
 * Throws when a method that runs through the engine (it has a route or a fallback method) is declared
 * to return a plain value: the wrapper returns a Promise (or an Observable), so the declared type
 * would lie. Run at application start-up, when class and method options are both known.
 *
 * @example
 * ```ts
 * checkReturnType(decoratedMethodInfo(fn)!, effectiveOptions(instance, fn)); // throws for `reply(): string`
 * ```
 */
export function checkReturnType(info: DecoratedMethodInfo, options: RateLimitedOptions | undefined, runsWrapped: boolean): void {
  if (!runsWrapped || options?.returns !== undefined || !SYNC_TYPES.has(info.returnType)) return;
  throw new NestConfigError(
    'ERR_LLMR_NEST_INVALID_OPTIONS',
    `${describeMethod(info.owner, info.name)} is declared to return ${(info.returnType as { name: string }).name}, but a method run through the engine returns a Promise (or an Observable). ` +
      `Declare it async / Promise<...>.`,
  );
}

function classOf(self: unknown): Function | undefined {
  if (typeof self === 'function') return self;
  if (typeof self === 'object' && self !== null) return (self as { constructor?: Function }).constructor;
  return undefined;
}

/**
 * The effective options of a decorated method called on `self`: its class's `@RateLimited` (merged
 * along the prototype chain, see {@link classRateLimited}) merged with the method's; without the class's `route` when the method's own options are guard options only
 * (see {@link hasGuardOptionsOnly}).
 *
 * @example
 * ```ts
 * effectiveOptions(support, support.reply)?.route; // 'support_reply'
 * ```
 */
export function effectiveOptions(self: unknown, wrapper: Function): RateLimitedOptions | undefined {
  const cls = classOf(self);
  const onClass = classRateLimited(cls);
  const own = Reflect.getOwnMetadata(RATE_LIMITED_METADATA, wrapper) as RateLimitedOptions | undefined;
  const merged = mergeRateLimited(onClass, own);
  if (merged?.route === undefined || !hasGuardOptionsOnly(wrapper, own)) return merged;
  // Guard options only: the method runs as an undecorated one of its class (a class route wraps no method).
  const { route: _route, ...rest } = merged;
  return rest;
}

/** Nest's `@Get()`/`@Post()`/... metadata key on a route handler (`PATH_METADATA` of `@nestjs/common`). */
const ROUTE_PATH_METADATA = 'path';

/**
 * True when a method's own `@RateLimited` only configures `ResilienceGuard` / `ResilienceInterceptor`:
 * it sets `limits` (inbound rules), or, on a route handler, `limits` and/or `audience` (the
 * controller's message audience), and nothing else, and the method has no `@Fallback` and no
 * `@Target()` / `@AttemptCtx()` parameter (which only a call through the engine fills). Such a method
 * does not inherit its class's `route`: it is not run through the engine, as a handler without a
 * method decorator is not (only the model calls it makes are), so one HTTP request is counted once by
 * the policy's limits. A service method's `audience` is an engine option, so `{ audience }` alone on a
 * method that is not a route handler keeps the class route.
 *
 * @example
 * ```ts
 * // @RateLimited({ route: 'chat', limits: [...] }) class ChatController { @RateLimited({ limits: [...] }) @Post() ask() {} }
 * hasGuardOptionsOnly(ChatController.prototype.ask, Reflect.getOwnMetadata(RATE_LIMITED_METADATA, ChatController.prototype.ask)); // true
 * ```
 */
export function hasGuardOptionsOnly(wrapper: Function, own: RateLimitedOptions | undefined): boolean {
  if (!own || fallbacksOf(wrapper).length > 0) return false;
  // A method that asks for the attempt's target or context runs in the engine: it keeps the class route.
  const info = decoratedMethodInfo(wrapper);
  if (info !== undefined && (info.targetIndex !== undefined || info.ctxIndex !== undefined)) return false;
  const keys = (Object.keys(own) as (keyof RateLimitedOptions)[]).filter((k) => own[k] !== undefined);
  if (keys.length === 0) return false;
  const guardKeys: readonly (keyof RateLimitedOptions)[] =
    Reflect.getMetadata(ROUTE_PATH_METADATA, wrapper) !== undefined ? ['limits', 'audience'] : ['limits'];
  return keys.every((k) => guardKeys.includes(k));
}

/** `args` with `undefined` appended up to `length` (never shortened). */
function paddedTo(args: readonly unknown[], length: number): unknown[] {
  const out = [...args];
  while (out.length < length) out.push(undefined);
  return out;
}

/**
 * The arguments a fallback method gets: the call's arguments padded with `undefined` to the
 * method's declared parameter count (`paramCount`), then the error. So the error comes right after
 * the method's own parameter list, whatever optional arguments the caller left out; arguments beyond
 * that list (a rest parameter, an untyped caller) are kept, and the error follows them: it is always
 * the last argument.
 *
 * @example
 * ```ts
 * // ask(q: string, opts?: Options), called as ask('q'), or as ask('q', opts, 'extra')
 * fallbackArgs(['q'], info, err);                 // ['q', undefined, err]
 * fallbackArgs(['q', opts, 'extra'], info, err);  // ['q', opts, 'extra', err]
 * ```
 */
export function fallbackArgs(args: readonly unknown[], info: DecoratedMethodInfo, error: unknown): unknown[] {
  return [...paddedTo(args, info.paramCount), error];
}

function withInjected(args: readonly unknown[], info: DecoratedMethodInfo, target: ResolvedTarget, ctx: AttemptContext): unknown[] {
  const out = paddedTo(args, Math.max(info.targetIndex ?? -1, info.ctxIndex ?? -1) + 1);
  if (info.targetIndex !== undefined) out[info.targetIndex] = target;
  if (info.ctxIndex !== undefined) out[info.ctxIndex] = ctx;
  return out;
}

/**
 * The engine request of one call: route and options from the decorators, identity from `identity`,
 * `key` or the ambient request context, signal from the ambient context. What `identity` and `key`
 * return is checked (an identity object of strings, a string key): anything else throws
 * `ERR_LLMR_NEST_INVALID_IDENTITY` naming `where` and the option, a fault of the server's code that
 * fails the call (HTTP 500) rather than count every caller in one bucket.
 *
 * @example
 * ```ts
 * buildRequest({ route: 'chat', key: (u: string) => u }, ['u1'], undefined); // { route: 'chat', identity: { user: 'u1' } }
 * buildRequest({ route: 'chat', key: () => 42 }, [], undefined, 'Chat.ask'); // throws: Chat.ask: @RateLimited key(...args) returned a number; ...
 * ```
 */
export function buildRequest(
  options: RateLimitedOptions & { route: string },
  args: readonly unknown[],
  ambient: ResilienceRequestContext | undefined,
  where = 'a @RateLimited method',
): ResilienceRequest {
  const request: ResilienceRequest = { route: options.route };
  let identity = options.identity ? checkIdentity(options.identity(...args), `${where}: @RateLimited identity(...args)`) : ambient?.identity;
  if (!options.identity && options.key) {
    const user = checkKey(options.key(...args), `${where}: @RateLimited key(...args)`);
    if (user !== undefined) identity = { ...identity, user };
  }
  if (identity) request.identity = identity;
  if (options.priority !== undefined) request.priority = options.priority;
  const dataClass = typeof options.dataClass === 'function' ? checkDataClass(options.dataClass(...args), `${where}: @RateLimited dataClass(...args)`) : options.dataClass;
  if (dataClass !== undefined) request.dataClass = dataClass;
  if (options.maxOutputTokens !== undefined) request.maxOutputTokens = options.maxOutputTokens;
  const input = options.input?.(...args);
  if (input !== undefined) request.input = input;
  if (options.audience !== undefined) request.audience = options.audience;
  if (ambient?.signal) request.signal = ambient.signal;
  return request;
}

/**
 * What a `dataClass(...args)` function returned, when it is a string or undefined; anything else is a
 * fault of the server's code (the request fails, HTTP 500): `ERR_LLMR_NEST_INVALID_OPTIONS`, the value
 * described by its type only (it may be the document itself).
 */
function checkDataClass(value: unknown, source: string): string | undefined {
  const got = nonStringResult(value, 'data class');
  if (got === undefined) return value as string | undefined;
  throw new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', `${source} returned ${got}; expected the name of a data class (a string) or undefined.`);
}

/**
 * {@link buildRequest}, plus the warning `ERR_LLMR_NEST_UNDEFINED_IDENTITY` (once per application)
 * when the request has no identity while the policy has limits keyed by user, team or tenant.
 */
function engineRequest(
  service: ResilienceService,
  options: RateLimitedOptions & { route: string },
  args: readonly unknown[],
  ambient: ResilienceRequestContext | undefined,
  where: string,
): ResilienceRequest {
  const request = buildRequest(options, args, ambient, where);
  if (isEmptyIdentity(request.identity) && shouldWarnUndefinedIdentity(service, 'policy')) {
    const ids = identityScopedRuleIds(service.engine.policy.limits);
    if (ids.length > 0) {
      warnUndefinedIdentity(
        service,
        'policy',
        `${where} ran with no identity (its identity/key options gave none, and no request identity came from ResilienceInterceptor or runWithResilienceContext), ` +
          `so the policy's limits keyed by user, team or tenant (${ids.map((id) => `'${id}'`).join(', ')}) do not apply to it. ` +
          `Give the method @RateLimited({ key }) or ({ identity }), call it within a request handled by ResilienceInterceptor, or wrap the call in runWithResilienceContext({ identity }, ...).`,
      );
    }
  }
  return request;
}

/** A setup error of this adapter (an invalid identity, no module, ...) is never answered by a fallback method: it must reach the operators. */
function fallbackApplies(err: unknown, fallback: FallbackMethodOptions): boolean {
  if (nestConfigErrorIn(err)) return false;
  return (fallback.on ?? DEFAULT_FALLBACK_METHOD_ON).includes(classifyError(err).kind);
}

function callFallback(self: unknown, fallback: FallbackMethodOptions, args: readonly unknown[], info: DecoratedMethodInfo, err: unknown): unknown {
  const fn = (self as Record<string, unknown> | undefined)?.[fallback.method];
  if (typeof fn !== 'function') {
    throw new NestConfigError(
      'ERR_LLMR_NEST_UNKNOWN_FALLBACK_METHOD',
      `${describeMethod(info.owner, info.name)}: @Fallback({ method: '${fallback.method}' }) names no method of ${ownerName(info.owner)}.`,
    );
  }
  return (fn as Function).apply(self, fallbackArgs(args, info, err));
}

function asObservable(value: unknown): Observable<unknown> {
  if (isObservable(value)) return value;
  if (value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function') return from(value as PromiseLike<unknown>);
  return of(value);
}

/**
 * The error of a `@Fallback({ chain: true })` method without a route.
 *
 * @example
 * ```ts
 * throw noRoute(info);
 * ```
 */
export function noRoute(info: DecoratedMethodInfo): NestConfigError {
  return new NestConfigError(
    'ERR_LLMR_NEST_NO_ROUTE',
    `${describeMethod(info.owner, info.name)} uses @Fallback({ chain: true }) but neither the method nor its class has @RateLimited({ route }). ` +
      `Name the policy route whose chain the method walks.`,
  );
}

/**
 * The error of a method with a `@Target()` / `@AttemptCtx()` parameter (which only a call through
 * the engine fills) whose options give no route: it would run outside the engine, the parameter
 * `undefined`. Thrown at start-up.
 *
 * @example
 * ```ts
 * if (route === undefined && info.targetIndex !== undefined) throw noRouteForParam(info);
 * ```
 */
export function noRouteForParam(info: DecoratedMethodInfo): NestConfigError {
  const param = info.targetIndex !== undefined ? '@Target()' : '@AttemptCtx()';
  return new NestConfigError(
    'ERR_LLMR_NEST_NO_ROUTE',
    `${describeMethod(info.owner, info.name)} has a ${param} parameter, which only a call through the engine fills, but neither the method nor its class ` +
      `(nor a base class) has @RateLimited({ route }): it would run outside the engine with ${param} undefined. Name the policy route it runs on.`,
  );
}

/**
 * What a decorated method does when called:
 *
 * - with a route (method or class `@RateLimited`; not the class's for a method whose own `@RateLimited`
 *   has guard options only, see {@link hasGuardOptionsOnly}): `engine.execute(request, (target, ctx) => method(...args with target/ctx injected))`,
 *   so the engine admits, retries and walks the route's chain, calling the method once per attempt;
 * - then, if the request finally fails with a kind in `@Fallback({ method, on })`, `this[method](...fallbackArgs(args, info, error))`;
 * - without a route and without a fallback method: the method itself, untouched.
 *
 * Methods returning an Observable get a cold Observable (one engine request per subscription);
 * the others get a Promise.
 */
function invokeDecorated(self: unknown, wrapper: Function, info: DecoratedMethodInfo, args: unknown[]): unknown {
  const options = effectiveOptions(self, wrapper);
  const fallbacks = fallbacksOf(wrapper);
  const chain = fallbacks.some((f) => 'chain' in f && f.chain === true);
  const fallback = fallbacks.find((f): f is FallbackMethodOptions => 'method' in f);
  const route = options?.route;
  if (route === undefined && !fallback && !chain) return info.original.apply(self, args);
  const observable = returnsObservable(info, options);
  if (route === undefined && chain) return observable ? throwError(() => noRoute(info)) : Promise.reject(noRoute(info));
  const where = describeMethod(info.owner, info.name);
  // The request context of the call (an Observable may be subscribed later, outside of it).
  const ambientAtCall = currentResilienceContext();
  if (observable) {
    return defer(() => {
      const ambient = ambientAtCall ?? currentResilienceContext();
      const service = route === undefined ? undefined : resolveService(self, where, ambient);
      const app = new AppExceptions();
      const source: Observable<unknown> =
        service === undefined || route === undefined
          ? // Deferred: a method that throws before returning its Observable falls back like one that fails later.
            defer(() => asObservable(info.original.apply(self, args)))
          : fromResilience<unknown>(
              service,
              () => engineRequest(service, { ...options, route }, args, ambient, where),
              (target, ctx) =>
                defer(() => asObservable(info.original.apply(self, withInjected(args, info, target, ctx)))).pipe(
                  catchError((err: unknown) => throwError(() => app.forEngine(err))),
                ),
            ).pipe(catchError((err: unknown) => throwError(() => app.original(err))));
      if (!fallback) return source;
      // Once a value went out, the fallback's answer would be spliced after it (a stream's first chunks):
      // the error goes on, as with `withFallback`.
      return source.pipe(
        catchBeforeFirstValue((err: unknown) =>
          !app.isApplications(err) && fallbackApplies(err, fallback) ? asObservable(callFallback(self, fallback, args, info, err)) : undefined,
        ),
      );
    });
  }
  return (async () => {
    const service = route === undefined ? undefined : resolveService(self, where, ambientAtCall);
    const app = new AppExceptions();
    try {
      if (service === undefined || route === undefined) return await info.original.apply(self, args);
      const result = await service.engine.execute(engineRequest(service, { ...options, route }, args, ambientAtCall, where), (target, ctx) =>
        app.attempt(async () => {
          const values = await valuesOf<unknown>(info.original.apply(self, withInjected(args, info, target, ctx)), ctx.signal);
          return values[values.length - 1];
        }),
      );
      return result.value;
    } catch (caught) {
      // The application's own HttpException goes back as thrown, without a fallback method.
      const err = app.original(caught);
      if (app.isApplications(err)) throw err;
      if (fallback && fallbackApplies(err, fallback)) {
        const value = callFallback(self, fallback, args, info, err);
        return isObservable(value) ? (await valuesOf<unknown>(value)).at(-1) : await value;
      }
      throw err;
    }
  })();
}
