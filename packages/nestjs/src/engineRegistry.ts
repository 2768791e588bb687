import { NestConfigError } from './NestConfigError';
import { currentResilienceContext } from './requestContext';
import type { ResilienceService } from './ResilienceService';

/**
 * The module-level registry through which decorated methods find their engine. Decorators run when a
 * class is defined, long before any application exists, so they cannot receive the engine by
 * injection; instead `ResilienceService` registers itself here when its application initialises:
 *
 * 1. every provider and controller instance of that application whose class has decorated methods
 *    is bound to the application's service (so two applications in one process keep their engines);
 * 2. otherwise the ambient request context (set by `ResilienceInterceptor`) names the service;
 * 3. otherwise, if exactly one application with `ResilienceModule` is running, its service is used
 *    (instances created with `new`, request-scoped providers);
 * 4. otherwise the call fails with `ERR_LLMR_NEST_NO_MODULE` or `ERR_LLMR_NEST_AMBIGUOUS_ENGINE`.
 */

const byInstance = new WeakMap<object, ResilienceService>();
const active: ResilienceService[] = [];
const decoratedPrototypes = new WeakSet<object>();

/**
 * Marks a prototype as having decorated methods (called by the decorators).
 *
 * @example
 * ```ts
 * markDecorated(SupportService.prototype);
 * ```
 */
export function markDecorated(prototype: object): void {
  decoratedPrototypes.add(prototype);
}

/**
 * True when `instance`'s class (or a base class) has methods decorated with `@RateLimited` or `@Fallback`.
 *
 * @example
 * ```ts
 * hasDecoratedMethods(new SupportService()); // true
 * ```
 */
export function hasDecoratedMethods(instance: unknown): boolean {
  if (typeof instance !== 'object' || instance === null) return false;
  for (let p = Object.getPrototypeOf(instance) as object | null; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    if (decoratedPrototypes.has(p)) return true;
  }
  return false;
}

/**
 * Binds an instance to the service of its application.
 *
 * @example
 * ```ts
 * bindInstance(new SupportService(), app.get(ResilienceService));
 * ```
 */
export function bindInstance(instance: object, service: ResilienceService): void {
  byInstance.set(instance, service);
}

/**
 * Records a running application's service (on module init).
 *
 * @example
 * ```ts
 * activateService(this);
 * ```
 */
export function activateService(service: ResilienceService): void {
  if (!active.includes(service)) active.push(service);
}

/**
 * Forgets a service whose application shut down.
 *
 * @example
 * ```ts
 * deactivateService(this);
 * ```
 */
export function deactivateService(service: ResilienceService): void {
  const i = active.indexOf(service);
  if (i >= 0) active.splice(i, 1);
}

/**
 * The service a decorated method of `instance` runs on (see the resolution order above).
 *
 * @example
 * ```ts
 * const service = resolveService(this, 'SupportService.reply');
 * ```
 */
export function resolveService(instance: unknown, where: string, ambient = currentResilienceContext()): ResilienceService {
  if (typeof instance === 'object' && instance !== null) {
    const bound = byInstance.get(instance);
    if (bound) return bound;
  }
  if (ambient?.service) return ambient.service;
  if (active.length === 1) return active[0]!;
  if (active.length === 0) {
    throw new NestConfigError(
      'ERR_LLMR_NEST_NO_MODULE',
      `${where} is decorated with @RateLimited/@Fallback but no application with ResilienceModule is running. ` +
        `Import ResilienceModule.forRoot({ engine }) or forRootAsync(...) in the application's root module and initialise the application (app.init() or app.listen()).`,
    );
  }
  throw new NestConfigError(
    'ERR_LLMR_NEST_AMBIGUOUS_ENGINE',
    `${where} was called on an instance no application knows, and ${active.length} applications with ResilienceModule are running, so its engine is ambiguous. ` +
      `Get the instance from the application (app.get(...)), call it inside a request handled by ResilienceInterceptor, or bind it with resilienceService.bind(instance).`,
  );
}

/**
 * How many applications with `ResilienceModule` are running (for tests and diagnostics).
 *
 * @example
 * ```ts
 * activeServiceCount(); // 1
 * ```
 */
export function activeServiceCount(): number {
  return active.length;
}
