import { QueueRejectedError, RateLimitExceededError, ResilienceError } from '@llm-resilience/core';
import { Catch, Inject, Optional, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { ResilienceService } from '../ResilienceService';
import { RESILIENCE_MODULE_OPTIONS, type ResilienceModuleOptions } from '../types';
import { audienceOf } from './messages';
import { resilienceHttpResponse } from './toHttpException';

/**
 * Renders the core's typed errors as HTTP responses, wherever they are thrown (controllers without
 * the interceptor, guards, pipes): 429 `rate_limited` with `Retry-After`, 503 for an exhausted chain
 * or overload, 504 for a timeout, 422 for a policy rejection, 400 for an invalid request, each with
 * the audience message (customers never see provider names, quota numbers or fallback chains) and
 * the engine's request id. Other exceptions are left to Nest's default handling, and so are this
 * adapter's own setup errors ({@link NestConfigError}: no module, ambiguous engine, an invalid limit,
 * ...): they are faults of the server, so Nest logs them (`ExceptionsHandler`) and answers a plain
 * `500 Internal server error`, never their message.
 *
 * Register it with `APP_FILTER` (dependency injection gives it the engine's wording and audience), or
 * `app.useGlobalFilters(new ResilienceExceptionFilter(app.get(HttpAdapterHost).httpAdapter))`.
 *
 * @example
 * ```ts
 * @Module({ providers: [{ provide: APP_FILTER, useClass: ResilienceExceptionFilter }] })
 * export class AppModule {}
 * ```
 */
@Catch(ResilienceError, RateLimitExceededError, QueueRejectedError)
export class ResilienceExceptionFilter extends BaseExceptionFilter {
  @Optional() @Inject(ResilienceService) protected readonly resilience?: ResilienceService;
  @Optional() @Inject(RESILIENCE_MODULE_OPTIONS) protected readonly moduleOptions?: ResilienceModuleOptions;

  /**
   * Renders a core error (sets `Retry-After`, then Nest's base filter writes the body); hands
   * anything else, setup errors included, to Nest's base filter (logged, 500).
   *
   * @example
   * ```ts
   * filter.catch(chainExhausted, host); // 503 with the customer message
   * ```
   */
  override catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const engine = this.resilience?.engine;
    const route = (exception as { record?: { route?: unknown } }).record?.route;
    const audience = audienceOf(engine, this.moduleOptions, typeof route === 'string' ? route : undefined);
    const mapped = resilienceHttpResponse(exception, audience, engine);
    if (!mapped) {
      super.catch(exception, host);
      return;
    }
    const adapter = this.applicationRef ?? this.httpAdapterHost?.httpAdapter;
    const res: unknown = host.switchToHttp().getResponse();
    if (adapter && !adapter.isHeadersSent(res)) {
      if (mapped.retryAfter !== undefined) adapter.setHeader(res, 'Retry-After', mapped.retryAfter);
      // No client retry fixes it (quota, credentials): the official SDKs would retry the 5xx otherwise.
      if (mapped.info.noRetry === true) adapter.setHeader(res, 'x-should-retry', 'false');
    }
    super.catch(mapped.exception, host);
  }
}
