import type { ExecuteResult, Identity, ResilienceRequest } from '@llm-resilience/core';
import type { MonoTypeOperatorFunction } from 'rxjs';
import { NestConfigError } from '../NestConfigError';
import { currentResilienceContext } from '../requestContext';
import type { EngineSource } from './engineOf';
import { fromResilience } from './fromResilience';

/**
 * Options of {@link rateLimited}: where the engine comes from, the route, and the rest of the
 * request. Give `engine` or `service` (a `ResilienceService`).
 *
 * @example
 * ```ts
 * const opts: RateLimitedOperatorOptions = { service, route: 'support_reply', identity: { user: 'u1' } };
 * ```
 */
export interface RateLimitedOperatorOptions extends Omit<ResilienceRequest, 'route' | 'identity' | 'stream'> {
  /** The engine (or anything holding one). */
  engine?: EngineSource;
  /** The `ResilienceService` (same as `engine: service`). */
  service?: EngineSource;
  route: string;
  /** Who the request is for, or a function read at each subscription. Default: the ambient request context's identity. */
  identity?: Identity | (() => Identity | undefined);
  /** Called with the engine's result (target, record) before the values are emitted. */
  onResult?: (result: ExecuteResult<unknown>) => void;
}

/**
 * Runs each subscription to the source through the engine: the request is admitted against the
 * policy's limits and budgets first, and every attempt (retry or fallback step) re-subscribes the
 * source, so the source must be cold (an HTTP call wrapped in `defer`, `next.handle()` in an
 * interceptor). Emits the values of the attempt that succeeded; errors with the engine's typed error.
 *
 * @example
 * ```ts
 * intercept(ctx: ExecutionContext, next: CallHandler) {
 *   return next.handle().pipe(rateLimited({ service: this.resilience, route: 'support_reply', identity: () => ({ user: ctx.switchToHttp().getRequest().user.id }) }));
 * }
 * ```
 */
export function rateLimited<T>(options: RateLimitedOperatorOptions): MonoTypeOperatorFunction<T> {
  const { engine, service, identity, onResult, ...rest } = options;
  const source = engine ?? service;
  if (!source) {
    throw new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', `rateLimited({ route: '${options.route}' }) needs an engine: pass { engine } or { service }.`);
  }
  return (input) =>
    fromResilience<T>(
      source,
      () => {
        const ambient = currentResilienceContext();
        const who = typeof identity === 'function' ? identity() : (identity ?? ambient?.identity);
        const signal = rest.signal ?? ambient?.signal;
        return { ...rest, ...(who ? { identity: who } : {}), ...(signal ? { signal } : {}) };
      },
      () => input,
      onResult ? { onResult } : {},
    );
}
