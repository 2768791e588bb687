import type { ExecuteResult, Identity, ResilienceRequest } from '@llm-resilience/core';
import type { MonoTypeOperatorFunction } from 'rxjs';
import { typeOf } from '../describeValue';
import { checkIdentity } from '../identityCheck';
import { unknownKey } from '../knownKeys';
import { NestConfigError } from '../NestConfigError';
import { currentResilienceContext } from '../requestContext';
import { engineOf, type EngineSource } from './engineOf';
import { fromResilience } from './fromResilience';
import { checkRequestParts } from './requestChecks';

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

/** Every option of {@link rateLimited}: the engine source, the identity, `onResult`, and the request's fields. */
const OPTIONS: readonly (keyof RateLimitedOperatorOptions)[] = [
  'engine',
  'service',
  'route',
  'identity',
  'onResult',
  'dataClass',
  'input',
  'inputTokens',
  'maxOutputTokens',
  'priority',
  'deadline',
  'signal',
  'requestId',
  'audience',
];
const WHERE = 'rateLimited';

function invalid(message: string): NestConfigError {
  return new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', message);
}

/**
 * Runs each subscription to the source through the engine: the request is admitted against the
 * policy's limits and budgets first, and every attempt (retry or fallback step) re-subscribes the
 * source, so the source must be cold (an HTTP call wrapped in `defer`, `next.handle()` in an
 * interceptor). Emits the values of the attempt that succeeded; errors with the engine's typed error.
 *
 * The options are checked when the operator is created (`NestConfigError` naming the option): an
 * object without unknown keys; exactly one of `engine` / `service`, an engine or a `ResilienceService`;
 * `route` and `priority` names the policy defines; `identity` an identity object, or a function whose
 * result is checked at each subscription (`ERR_LLMR_NEST_INVALID_IDENTITY`); `onResult` a function.
 *
 * @example
 * ```ts
 * intercept(ctx: ExecutionContext, next: CallHandler) {
 *   return next.handle().pipe(rateLimited({ service: this.resilience, route: 'support_reply', identity: () => ({ user: ctx.switchToHttp().getRequest().user.id }) }));
 * }
 * ```
 */
export function rateLimited<T>(options: RateLimitedOperatorOptions): MonoTypeOperatorFunction<T> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid(`${WHERE}: expected options ({ engine | service, route, ... }), got ${typeOf(options)}.`);
  }
  const unknown = unknownKey(options, OPTIONS);
  if (unknown) throw invalid(`${WHERE} ${unknown.key}: ${unknown.problem}.`);
  const { engine, service, identity, onResult, ...rest } = options;
  if (engine !== undefined && service !== undefined) throw invalid(`${WHERE}: give either engine or service, not both.`);
  const source = engine ?? service;
  if (source === undefined) throw invalid(`${WHERE}: needs an engine: pass { engine } (from createResilience) or { service } (the ResilienceService).`);
  const resolved = engineOf(source, `${WHERE} ${engine !== undefined ? 'engine' : 'service'}`);
  if (identity !== undefined && (typeof identity !== 'object' || identity === null) && typeof identity !== 'function') {
    throw new NestConfigError('ERR_LLMR_NEST_INVALID_IDENTITY', `${WHERE} identity: expected an identity object or a function returning one, got ${typeOf(identity)}.`);
  }
  checkRequestParts(resolved, options, WHERE);
  if (onResult !== undefined && typeof onResult !== 'function') throw invalid(`${WHERE} onResult: expected a function (result) => void, got ${typeOf(onResult)}.`);
  return (input) =>
    fromResilience<T>(
      resolved,
      () => {
        const ambient = currentResilienceContext();
        const who = typeof identity === 'function' ? checkIdentity(identity(), `${WHERE} identity()`) : (identity ?? ambient?.identity);
        const signal = rest.signal ?? ambient?.signal;
        return { ...rest, ...(who ? { identity: who } : {}), ...(signal ? { signal } : {}) };
      },
      () => input,
      onResult ? { onResult } : {},
    );
}
