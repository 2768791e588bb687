import { SetMetadata } from '@nestjs/common';
import { SKIP_RESILIENCE_METADATA } from './metadata';

/**
 * Lets a handler (or a whole controller) through `ResilienceGuard` and `ResilienceInterceptor`
 * untouched, e.g. a health check under a class-level `@RateLimited`. `@SkipResilience(false)` on a
 * handler re-enables what its class skipped (read with `reflector.getAllAndOverride([handler, class])`).
 *
 * @example
 * ```ts
 * @SkipResilience()
 * @Get('health')
 * health() { return 'ok'; }
 * ```
 */
export function SkipResilience(skip = true): MethodDecorator & ClassDecorator {
  return SetMetadata(SKIP_RESILIENCE_METADATA, skip);
}
