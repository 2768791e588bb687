import type { Identity } from '@llm-resilience/core';
import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { catchError, Observable, throwError } from 'rxjs';
import { classRateLimited, RATE_LIMITED_METADATA, SKIP_RESILIENCE_METADATA, mergeRateLimited } from '../decorators/metadata';
import { runWithResilienceContext, type ResilienceRequestContext } from '../requestContext';
import { ResilienceService } from '../ResilienceService';
import { RESILIENCE_MODULE_OPTIONS, type Audience, type RateLimitedOptions, type ResilienceModuleOptions } from '../types';
import { clientDisconnectSignal } from './disconnectSignal';
import { audienceOf, setResponseHeader } from './messages';
import { defaultIdentity, identitySource } from './requestIdentity';
import { requestIdentityOf } from './requestState';
import { checkIdentity } from '../identityCheck';
import { resilienceHttpResponse } from './toHttpException';

/**
 * Makes a controller's HTTP request the ambient context of every decorated method it calls: the
 * request's identity (the one a `ResilienceGuard` subclass with an overridden `getIdentity` found for
 * the request, else {@link getIdentity}, found when the interceptor runs, so after every guard:
 * what an auth guard left on `req.user` counts, whatever the order of the guards; checked as the
 * guard checks it: `ERR_LLMR_NEST_INVALID_IDENTITY` for one of the wrong shape), an `AbortSignal`
 * that fires when the client disconnects (queue waits, backoff and model calls stop; already aborted
 * when the client left before the interceptor ran, during a slow guard or pipe), and this application's
 * engine. Errors of the core that leave the handler become HTTP errors: 429 with `Retry-After` for
 * exhausted limits, 503/504 for an exhausted chain, 422/400 for policy and invalid requests, always
 * with the audience message. This adapter's own setup errors ({@link NestConfigError}) pass through
 * unchanged: they are faults of the server, which Nest's exception handling (or
 * {@link ResilienceExceptionFilter}) logs and answers with a plain 500.
 *
 * @example
 * ```ts
 * @UseGuards(ResilienceGuard)
 * @UseInterceptors(ResilienceInterceptor)
 * @Controller('support')
 * export class SupportController {
 *   constructor(private readonly support: SupportService) {}
 *   @Post() reply(@Body() body: { question: string }) { return this.support.reply(body.question); } // identity from the request
 * }
 * ```
 */
@Injectable()
export class ResilienceInterceptor implements NestInterceptor {
  constructor(
    @Inject(ResilienceService) protected readonly resilience: ResilienceService,
    @Inject(Reflector) protected readonly reflector: Reflector,
    @Inject(RESILIENCE_MODULE_OPTIONS) protected readonly options: ResilienceModuleOptions,
  ) {}

  /**
   * Runs the handler inside the request's resilience context and maps the core's errors to HTTP.
   *
   * @example
   * ```ts
   * const out$ = await interceptor.intercept(context, next);
   * ```
   */
  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    if (this.reflector.getAllAndOverride<boolean | undefined>(SKIP_RESILIENCE_METADATA, [context.getHandler(), context.getClass()]) === true) {
      return next.handle();
    }
    const http = context.switchToHttp();
    const req: unknown = http.getRequest();
    const res: unknown = http.getResponse();
    const identity = await this.requestIdentity(context, req);
    const signal = this.disconnectSignal(res, req);
    const ambient: ResilienceRequestContext = { service: this.resilience, ...(identity ? { identity } : {}), ...(signal ? { signal } : {}) };
    const options = this.getOptions(context);
    const audience = audienceOf(this.resilience.engine, this.options, options?.route, options?.audience);
    // The controller's own audience words the answer, whatever the audience of the route the engine ran.
    const explicit = options?.audience !== undefined;
    return new Observable<unknown>((subscriber) =>
      runWithResilienceContext(ambient, () =>
        next
          .handle()
          .pipe(catchError((err: unknown) => throwError(() => this.mapError(context, err, audience, explicit))))
          .subscribe(subscriber),
      ),
    );
  }

  /**
   * Who the request is for, in order: this interceptor's own overridden {@link getIdentity}; the
   * overridden `getIdentity` of a `ResilienceGuard` subclass that ran for the request (its result,
   * not a second call); else the module's `identity(context)` or {@link defaultIdentity}, found here,
   * after every guard (auth included) has run, since a global `ResilienceGuard` may run before the
   * auth guard sets `req.user`. Checked: `ERR_LLMR_NEST_INVALID_IDENTITY` for the wrong shape.
   */
  private async requestIdentity(context: ExecutionContext, req: unknown): Promise<Identity | undefined> {
    const overridden = this.getIdentity !== ResilienceInterceptor.prototype.getIdentity;
    const fromGuard = overridden ? undefined : requestIdentityOf(req);
    if (fromGuard) return fromGuard();
    return checkIdentity(await this.getIdentity(context), identitySource(context, this, overridden, this.options));
  }

  /**
   * Who the request is for when no `ResilienceGuard` subclass with its own `getIdentity` ran for it:
   * the module's `identity(context)`, else {@link defaultIdentity}. Override it to give the decorated
   * methods an identity of their own (it then wins over a guard's).
   */
  protected async getIdentity(context: ExecutionContext): Promise<Identity | undefined> {
    if (this.options.identity) return this.options.identity(context);
    return defaultIdentity(context.switchToHttp().getRequest());
  }

  /** The `@RateLimited` options of the class (and its base classes, see `classRateLimited`), overridden by the handler's. */
  protected getOptions(context: ExecutionContext): RateLimitedOptions | undefined {
    // The class's options merged along its prototype chain (base first), as decorated methods read them.
    return mergeRateLimited(classRateLimited(context.getClass()), this.reflector.get<RateLimitedOptions | undefined>(RATE_LIMITED_METADATA, context.getHandler()));
  }

  /**
   * Turns a core error into an `HttpException` (setting `Retry-After`); other errors, and setup
   * errors of this adapter (`NestConfigError`, a 500 for Nest to log), pass unchanged.
   */
  protected mapError(context: ExecutionContext, err: unknown, audience: Audience, explicitAudience = false): unknown {
    const mapped = resilienceHttpResponse(err, audience, this.resilience.engine, explicitAudience);
    if (!mapped) return err;
    if (mapped.retryAfter !== undefined) setResponseHeader(context.switchToHttp().getResponse(), 'Retry-After', mapped.retryAfter);
    // No client retry fixes it (quota, credentials): the official SDKs would retry the 5xx otherwise.
    if (mapped.info.noRetry === true) setResponseHeader(context.switchToHttp().getResponse(), 'x-should-retry', 'false');
    return mapped.exception;
  }

  /**
   * A signal that aborts when the client goes away before the response is finished; already aborted
   * when it went away before this point (see {@link clientDisconnectSignal}).
   */
  protected disconnectSignal(res: unknown, req?: unknown): AbortSignal | undefined {
    return clientDisconnectSignal(req, res);
  }
}
