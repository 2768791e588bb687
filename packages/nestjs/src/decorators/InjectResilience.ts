import { Inject } from '@nestjs/common';
import { RESILIENCE_ENGINE } from '../types';

/**
 * Injects the shared engine (`Resilience`) provided by `ResilienceModule`.
 *
 * @example
 * ```ts
 * @Injectable()
 * class Reports {
 *   constructor(@InjectResilience() private readonly engine: Resilience) {}
 * }
 * ```
 */
export function InjectResilience(): PropertyDecorator & ParameterDecorator {
  return Inject(RESILIENCE_ENGINE);
}
