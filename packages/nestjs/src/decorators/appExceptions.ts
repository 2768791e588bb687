import { HttpException } from '@nestjs/common';
import { httpErrorOf, ResilienceError } from '@llm-resilience/core';

/**
 * True for an `HttpException` of the application (a `ForbiddenException` of a handler, a
 * `ThrottlerException`): not a provider's failure, so the RxJS operators neither retry nor fall back
 * on it. An `HttpException` that renders an engine error (`ResilienceInterceptor` and the filter put
 * the core error in its `cause`) is not the application's: operators outside the interceptor still
 * act on it as before.
 *
 * @example
 * ```ts
 * isApplicationException(new ForbiddenException('No access.')); // true
 * isApplicationException(new Error('ECONNRESET'));               // false
 * ```
 */
export function isApplicationException(err: unknown): err is HttpException {
  return err instanceof HttpException && httpErrorOf(err.cause) === undefined;
}

/**
 * Keeps the application's own `HttpException`s out of the engine's decisions. A decorated method's
 * body is the engine's model call, so a `NotFoundException` for a missing record, a
 * `ForbiddenException` for a user without access or a `ThrottlerException` would otherwise be read as
 * the provider's answer: a 403 as a bad API key (an `auth` alert, the provider's breaker), a 429 or a
 * 503 retried and fallen back to other models. Nothing a model SDK throws is an `HttpException`.
 *
 * {@link AppExceptions.attempt} hands the engine an `invalid_request` error in its place
 * (`ERR_LLMR_NEST_APP_EXCEPTION`: no retry, no fallback, no breaker verdict, no alert; limits as for
 * any failed call), and {@link AppExceptions.original} gives the exception back once the engine has
 * ended the request, so Nest answers with it as thrown and `@Fallback` methods do not run for it.
 *
 * @example
 * ```ts
 * const app = new AppExceptions();
 * try {
 *   return (await engine.execute(request, (t, ctx) => app.attempt(() => method(t, ctx)))).value;
 * } catch (err) {
 *   throw app.original(err);
 * }
 * ```
 */
export class AppExceptions {
  private caught: HttpException | undefined;

  /**
   * Runs one attempt; an `HttpException` it throws is kept and replaced by an `invalid_request`.
   *
   * @example
   * ```ts
   * engine.execute(request, (t, ctx) => app.attempt(() => callModel(t, ctx)));
   * ```
   */
  async attempt<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.forEngine(err);
    }
  }

  /**
   * The error to give the engine for `err` thrown by an attempt: an `HttpException` is kept and
   * replaced by an `invalid_request`; anything else is `err`.
   *
   * @example
   * ```ts
   * source.pipe(catchError((e) => throwError(() => app.forEngine(e))));
   * ```
   */
  forEngine(err: unknown): unknown {
    if (!(err instanceof HttpException)) return err;
    this.caught = err;
    return new ResilienceError(`The method threw ${err.name} (${err.getStatus()}): the application's answer, passed on as thrown.`, {
      kind: 'invalid_request',
      code: 'ERR_LLMR_NEST_APP_EXCEPTION',
      cause: err,
    });
  }

  /**
   * The application's exception when the request ended with it (an `invalid_request` ends a request
   * at once), else `err`.
   *
   * @example
   * ```ts
   * catch (err) { throw app.original(err); }
   * ```
   */
  original(err: unknown): unknown {
    return this.caught ?? err;
  }

  /**
   * True when `err` is the application's exception that ended the request.
   *
   * @example
   * ```ts
   * if (!app.isApplications(err) && fallbackApplies(err, fallback)) return callFallback(err);
   * ```
   */
  isApplications(err: unknown): boolean {
    return this.caught !== undefined && err === this.caught;
  }
}
