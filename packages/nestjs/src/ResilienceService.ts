import type { ExecuteResult, ModelCall, Resilience, ResilienceRequest } from '@llm-resilience/core';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { checkReturnType, decoratedMethodInfo, describeMethod, effectiveOptions, isReturnAmbiguous, noRoute, noRouteForParam } from './decorators/decoratedMethod';
import { fallbacksOf } from './decorators/metadata';
import { activateService, bindInstance, deactivateService, hasDecoratedMethods } from './engineRegistry';
import { inboundRuleIdsOf, recordDeclaredInboundRules } from './http/inboundRuleIds';
import { NestConfigError } from './NestConfigError';
import { fromResilience, type ObservableModelCall } from './rxjs/fromResilience';
import { RESILIENCE_ENGINE, RESILIENCE_MODULE_OPTIONS, type ResilienceModuleOptions } from './types';

/**
 * The application's handle on the one shared engine. Injected anywhere (the module is global);
 * decorated methods reach it through the module-level registry it fills on start-up: every provider
 * and controller instance with `@RateLimited`/`@Fallback` methods is bound to it, after checking that
 * each of their routes and priorities exists in the policy (`ERR_LLMR_NEST_UNKNOWN_ROUTE`,
 * `ERR_LLMR_NEST_UNKNOWN_PRIORITY` at start-up otherwise). When it is created, it also checks that no
 * two peer rules of the module's `limits` and the controllers' `@RateLimited` give one inbound limit
 * id two definitions (`ERR_LLMR_NEST_CONFLICTING_LIMIT_ID`): it computes the rules of every route
 * handler as `ResilienceGuard` does, so a rule overriding another of its id is no conflict (rules
 * without `id` of two classes of one name share their default ids: they conflict when they differ).
 * On `app.close()` the engine (if the module owns it) keeps serving the requests in flight while Nest
 * closes the HTTP server, for at most `drainTimeoutMs` (then queued work is rejected and it stops),
 * and drains and stops in `onApplicationShutdown`, once the server has closed.
 *
 * @example
 * ```ts
 * @Injectable()
 * class Summaries {
 *   constructor(private readonly resilience: ResilienceService) {}
 *   summarize(text: string) {
 *     return this.resilience.execute({ route: 'summary', input: { prompt: text } }, (t, ctx) =>
 *       this.openai.chat.completions.create({ model: t.model, messages: [{ role: 'user', content: text }] }, { signal: ctx.signal }));
 *   }
 * }
 * ```
 */
@Injectable()
export class ResilienceService implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('ResilienceModule');
  private readonly warned = new WeakSet<object>();
  /** Stops the engine `drainTimeoutMs` after `app.close()` began (see {@link beforeApplicationShutdown}). */
  private drainDeadline: ReturnType<typeof setTimeout> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    @Inject(RESILIENCE_ENGINE) readonly engine: Resilience,
    @Inject(RESILIENCE_MODULE_OPTIONS) readonly options: ResilienceModuleOptions,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
  ) {
    // Every module and controller is known once Nest has scanned the application, before it creates
    // any instance: an inbound limit id given two definitions by peer rules stops the boot here
    // (`compile()`, `NestFactory.create`), before any guard exists.
    recordDeclaredInboundRules(
      inboundRuleIdsOf(this),
      options.limits,
      discovery.getControllers().map((wrapper) => wrapper.metatype),
    );
  }

  /**
   * Runs a model call under the policy (`engine.execute`).
   *
   * @example
   * ```ts
   * const { value, record } = await service.execute({ route: 'chat', identity: { user: 'u1' } }, (t, ctx) => callModel(t.model, ctx.signal));
   * ```
   */
  execute<T>(request: ResilienceRequest, call: ModelCall<T>): Promise<ExecuteResult<T>> {
    return this.engine.execute(request, call);
  }

  /**
   * The Observable form of {@link execute}: cold, one engine request per subscription, emits the
   * values of the attempt that succeeded (see `fromResilience`).
   *
   * @example
   * ```ts
   * return this.resilience.execute$({ route: 'chat' }, (t, ctx) => from(callModel(t.model, ctx.signal)));
   * ```
   */
  execute$<T>(request: ResilienceRequest | (() => ResilienceRequest), call: ObservableModelCall<T>): Observable<T> {
    return fromResilience(this.engine, request, call);
  }

  /**
   * Binds an instance this application did not create (`new`, request-scoped, a test double of a
   * base class) to this service, after checking its decorated routes. Returns the instance.
   *
   * @example
   * ```ts
   * const support = app.get(ResilienceService).bind(new SupportService(openai));
   * ```
   */
  bind<T extends object>(instance: T): T {
    this.checkMethods(instance);
    bindInstance(instance, this);
    return instance;
  }

  /** Registers the service and binds the application's decorated instances. */
  onModuleInit(): void {
    const wrappers = [...this.discovery.getProviders(), ...this.discovery.getControllers()];
    const bound: object[] = [];
    for (const wrapper of wrappers) {
      const instance: unknown = wrapper.instance;
      if (!hasDecoratedMethods(instance)) continue;
      this.checkMethods(instance as object);
      if (wrapper.isDependencyTreeStatic()) bound.push(instance as object);
    }
    for (const instance of bound) bindInstance(instance, this);
    activateService(this);
  }

  /**
   * With `drainTimeoutMs`, for an engine the module owns: arms the drain's deadline. Nest calls this
   * after every `onModuleDestroy` and your modules' `beforeApplicationShutdown` hooks, and before it
   * closes the HTTP server, which waits for the requests in flight. They keep making model calls meanwhile (a handler's second call, an agent loop); once
   * `drainTimeoutMs` has passed, the engine stops (`engine.shutdown()`): work still queued is rejected
   * (`shutdown`, a 503), new calls too, so no request waiting in the engine's queue holds
   * `app.close()` open longer.
   *
   * @example
   * ```ts
   * await app.close(); // onModuleDestroy hooks, this, the HTTP server's close, onApplicationShutdown
   * ```
   */
  beforeApplicationShutdown(): void {
    const ms = this.options.drainTimeoutMs;
    // Armed once: Nest 11 runs the hooks again for a second close() (or a signal during one).
    if (!this.ownsEngine() || ms === undefined || this.drainDeadline !== undefined || this.stopping !== undefined) return;
    this.drainDeadline = setTimeout(() => void this.stopEngine(false).catch((e: unknown) => this.logger.error(`engine shutdown failed: ${String(e)}`)), ms);
    this.drainDeadline.unref?.();
  }

  /**
   * Takes the service off the registry's running applications (unbound instances stop falling back
   * to it) and, for an engine the module owns, drains and stops it (`engine.shutdown({ drain: true,
   * timeoutMs: drainTimeoutMs })`): queued work is admitted or rejected, never dropped, and held
   * reservations are given back to the store. Nest calls this once the HTTP server has closed.
   *
   * @example
   * ```ts
   * await app.close(); // ... then this: `new SupportService().reply()` no longer finds this engine
   * ```
   */
  async onApplicationShutdown(): Promise<void> {
    deactivateService(this);
    clearTimeout(this.drainDeadline);
    if (this.ownsEngine()) await this.stopEngine(true);
  }

  private ownsEngine(): boolean {
    return this.options.shutdownEngine ?? this.options.engine === undefined;
  }

  /** Shuts the engine down once (the drain deadline and the last hook may both ask). */
  private stopEngine(drain: boolean): Promise<void> {
    const ms = this.options.drainTimeoutMs;
    return (this.stopping ??= this.engine.shutdown(drain ? { drain: true, ...(ms !== undefined ? { timeoutMs: ms } : {}) } : {}));
  }

  private checkMethods(instance: object): void {
    const { routes, trafficClasses } = this.engine.policy;
    const seen = new Set<string>();
    for (let p = Object.getPrototypeOf(instance) as object | null; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
      for (const name of Object.getOwnPropertyNames(p)) {
        if (seen.has(name) || name === 'constructor') continue;
        seen.add(name);
        const fn = Object.getOwnPropertyDescriptor(p, name)?.value as unknown;
        if (!decoratedMethodInfo(fn)) continue;
        const info = decoratedMethodInfo(fn)!;
        const options = effectiveOptions(instance, fn as Function);
        const route = options?.route;
        if (route !== undefined && !Object.hasOwn(routes, route)) {
          throw new NestConfigError(
            'ERR_LLMR_NEST_UNKNOWN_ROUTE',
            `${describeMethod(p, name)} runs on route '${route}', which the policy does not define. Known routes: ${Object.keys(routes).join(', ') || '(none)'}.`,
          );
        }
        const priority = options?.priority;
        if (route !== undefined && priority !== undefined && !Object.hasOwn(trafficClasses, priority)) {
          throw new NestConfigError(
            'ERR_LLMR_NEST_UNKNOWN_PRIORITY',
            `${describeMethod(p, name)} runs with priority '${priority}', which is not a traffic class of the policy. Known traffic classes: ${Object.keys(trafficClasses).join(', ') || '(none)'}.`,
          );
        }
        const fallbacks = fallbacksOf(fn as Function);
        if (route === undefined && fallbacks.some((f) => 'chain' in f)) throw noRoute(info);
        if (route === undefined && (info.targetIndex !== undefined || info.ctxIndex !== undefined)) throw noRouteForParam(info);
        const runsWrapped = route !== undefined || fallbacks.some((f) => 'method' in f);
        checkReturnType(info, options, runsWrapped);
        if (runsWrapped && isReturnAmbiguous(info, options) && !this.warned.has(info)) {
          this.warned.add(info);
          this.logger.warn(
            `${describeMethod(p, name)}: nothing says whether it returns an Observable (no design:returntype, not async), so it returns a Promise. ` +
              `If it returns an Observable, set @RateLimited({ returns: 'observable' }) or import Observable as a value. See docs/nestjs.md#observable-methods.`,
          );
        }
      }
    }
  }
}
