/**
 * `@llm-resilience/nestjs`: `ResilienceModule` (one shared engine per application, or the one your
 * other adapters use), `@RateLimited` / `@Fallback` / `@Target()` on service methods and controller
 * handlers, RxJS operators for interceptors, and a guard, interceptor and exception filter that turn
 * the core's typed errors into 429 / 503 / 504 responses with the audience message.
 *
 * @example
 * ```ts
 * import { ResilienceModule, RateLimited, Fallback, Target } from '@llm-resilience/nestjs';
 * @Module({ imports: [ResilienceModule.forRoot({ engine })], providers: [SupportService] })
 * export class AppModule {}
 * ```
 *
 * @packageDocumentation
 */
export { ResilienceModule, engineFromOptions } from './ResilienceModule';
export { ResilienceService } from './ResilienceService';
export { RateLimited } from './decorators/RateLimited';
export { Fallback } from './decorators/Fallback';
export { Target, AttemptCtx } from './decorators/Target';
export { SkipResilience } from './decorators/SkipResilience';
export { InjectResilience } from './decorators/InjectResilience';
export { DEFAULT_FALLBACK_METHOD_ON } from './decorators/decoratedMethod';
export {
  RATE_LIMITED_METADATA,
  FALLBACK_METADATA,
  SKIP_RESILIENCE_METADATA,
  TARGET_PARAM_METADATA,
  ATTEMPT_CTX_PARAM_METADATA,
  mergeRateLimited,
} from './decorators/metadata';
export { ResilienceGuard, type InboundLimitedDetails } from './http/ResilienceGuard';
export { inboundRuleId } from './http/inboundRules';
export { ResilienceInterceptor } from './http/ResilienceInterceptor';
export { ResilienceExceptionFilter } from './http/ResilienceExceptionFilter';
export { httpErrorOf, retryAfterSeconds, type HttpErrorInfo } from '@llm-resilience/core';
export { resilienceHttpResponse, type ResilienceHttpResponse } from './http/toHttpException';
export { INBOUND_LIMIT_CUSTOMER_MESSAGE, inboundLimitMessage, type ResilienceErrorBody } from './http/messages';
export { defaultIdentity } from './http/requestIdentity';
export { runWithResilienceContext, currentResilienceContext, type ResilienceRequestContext } from './requestContext';
export { NestConfigError, type NestConfigErrorCode } from './NestConfigError';
export { retryWithBackoff, type RetryWithBackoffOptions, type RetryInfo } from './rxjs/retryWithBackoff';
export { withFallback, type FallbackAlternative, type WithFallbackOptions } from './rxjs/withFallback';
export { rateLimited, type RateLimitedOperatorOptions } from './rxjs/rateLimited';
export { fromResilience, type ObservableModelCall, type FromResilienceOptions } from './rxjs/fromResilience';
export type { EngineSource } from './rxjs/engineOf';
export {
  RESILIENCE_ENGINE,
  RESILIENCE_MODULE_OPTIONS,
  type Audience,
  type FallbackChainOptions,
  type FallbackMethodOptions,
  type FallbackOptions,
  type InboundLimitRule,
  type InboundScope,
  type RateLimitedOptions,
  type ResilienceModuleAsyncOptions,
  type ResilienceModuleOptions,
  type ResilienceOptionsFactory,
} from './types';
