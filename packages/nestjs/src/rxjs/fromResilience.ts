import type { AttemptContext, ExecuteResult, ResilienceRequest, ResolvedTarget } from '@llm-resilience/core';
import { Observable, type ObservableInput } from 'rxjs';
import { AppExceptions } from '../decorators/appExceptions';
import { valuesOf } from './collect';
import { typeOf } from '../describeValue';
import { checkIdentity } from '../identityCheck';
import { unknownKey } from '../knownKeys';
import { NestConfigError } from '../NestConfigError';
import { engineOf, type EngineSource } from './engineOf';
import { checkRequestParts } from './requestChecks';

/**
 * A model call for {@link fromResilience}: called once per attempt with the target to use; may
 * return an Observable, a Promise or a plain value.
 *
 * @example
 * ```ts
 * const call: ObservableModelCall<string> = (target, ctx) => from(client.chat.completions.create({ model: target.model, messages }, { signal: ctx.signal }));
 * ```
 */
export type ObservableModelCall<T> = (target: ResolvedTarget, ctx: AttemptContext) => ObservableInput<T> | T;

/**
 * Options of {@link fromResilience}.
 *
 * @example
 * ```ts
 * fromResilience(engine, request, call, { onResult: (r) => log.info(r.record) });
 * ```
 */
export interface FromResilienceOptions<T> {
  /** Called with the engine's result (target, record) before the values are emitted. */
  onResult?: (result: ExecuteResult<T | undefined>) => void;
}

const WHERE = 'fromResilience';

function invalid(message: string): NestConfigError {
  return new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', message);
}

/**
 * A cold Observable that, per subscription, runs `call` through the engine (`engine.execute`):
 * limits, retries, the route's fallback chain, breakers, output validation. Each attempt's
 * Observable is collected; when an attempt succeeds its values are emitted and the Observable
 * completes; when the request finally fails it errors with the engine's typed error. Unsubscribing
 * early cancels the request (queue wait, backoff and the model call see the abort).
 *
 * The engine reads usage and validates output from the attempt's last value.
 *
 * An `HttpException` of the attempt (the handler of `next.handle()` throwing a `ForbiddenException`)
 * is the application's answer, not the provider's: the engine gets an `invalid_request` in its place
 * (`ERR_LLMR_NEST_APP_EXCEPTION`: no retry, no next target, no breaker verdict, no alert), and the
 * Observable errors with the exception as it was thrown.
 *
 * Its arguments are checked when it is called, with `NestConfigError`s naming them: `source` an
 * engine or a `ResilienceService`; `request` an object (its route, priority and identity checked
 * against the policy) or a function returning one (its identity checked at each subscription);
 * `call` a function; `options` only `onResult`, a function.
 *
 * @example
 * ```ts
 * fromResilience(engine, { route: 'support_reply', identity: { user: 'u1' } }, (target, ctx) =>
 *   from(openai.chat.completions.create({ model: target.model, messages }, { signal: ctx.signal })),
 * ).subscribe((completion) => console.log(completion.choices[0]?.message.content));
 * ```
 */
export function fromResilience<T>(
  source: EngineSource,
  request: ResilienceRequest | (() => ResilienceRequest),
  call: ObservableModelCall<T>,
  options: FromResilienceOptions<T> = {},
): Observable<T> {
  const engine = engineOf(source, `${WHERE} engine`);
  if (typeof request !== 'function') {
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      throw invalid(`${WHERE} request: expected a request object ({ route, ... }) or a function returning one, got ${typeOf(request)}.`);
    }
    checkRequestParts(engine, request, `${WHERE} request`);
  }
  if (typeof call !== 'function') throw invalid(`${WHERE} call: expected a function (target, ctx) => ObservableInput, got ${typeOf(call)}.`);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalid(`${WHERE} options: expected { onResult? }, got ${typeOf(options)}.`);
  const unknown = unknownKey(options, ['onResult']);
  if (unknown) throw invalid(`${WHERE} options.${unknown.key}: ${unknown.problem}.`);
  if (options.onResult !== undefined && typeof options.onResult !== 'function') {
    throw invalid(`${WHERE} options.onResult: expected a function (result) => void, got ${typeOf(options.onResult)}.`);
  }
  return new Observable<T>((subscriber) => {
    const base = typeof request === 'function' ? request() : request;
    if (typeof base !== 'object' || base === null) throw invalid(`${WHERE} request() returned ${typeOf(base)}; expected a request object ({ route, ... }).`);
    if (typeof request === 'function') checkIdentity(base.identity, `${WHERE} request(): identity`, 'is');
    const controller = new AbortController();
    const signal = base.signal ? AbortSignal.any([base.signal, controller.signal]) : controller.signal;
    const { stream: _stream, ...rest } = base;
    let values: T[] = [];
    let finished = false;
    const app = new AppExceptions();
    engine
      .execute<T | undefined>({ ...rest, signal }, (target, ctx) =>
        app.attempt(async () => {
          const attemptValues = await valuesOf<T>(call(target, ctx), ctx.signal);
          if (ctx.signal.aborted) throw ctx.signal.reason;
          values = attemptValues;
          return attemptValues[attemptValues.length - 1];
        }),
      )
      .then(
        (result) => {
          finished = true;
          try {
            options.onResult?.(result);
          } catch (err) {
            subscriber.error(err);
            return;
          }
          for (const v of values) {
            if (subscriber.closed) return;
            subscriber.next(v);
          }
          subscriber.complete();
        },
        (err: unknown) => {
          finished = true;
          subscriber.error(app.original(err));
        },
      );
    return () => {
      if (!finished) controller.abort(new DOMException('The subscriber unsubscribed before the request finished.', 'AbortError'));
    };
  });
}
