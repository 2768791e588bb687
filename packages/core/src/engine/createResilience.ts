import { definePolicy } from '../policy/definePolicy';
import type { Policy } from '../policy/Policy';
import type { PolicyInput } from '../policy/schema';
import { Resilience } from './Resilience';
import type { ResilienceOptions } from './types';

/**
 * Creates the engine from a policy (the result of `definePolicy`, or raw config that is validated
 * here and fails fast with every bad path).
 *
 * @example
 * ```ts
 * const engine = createResilience(definePolicy(config), { clock, store, logger, metrics });
 * const { value, record } = await engine.execute({ route: 'chat', identity: { user: 'u1' } }, call);
 * ```
 */
export function createResilience(policy: Policy | PolicyInput, options: ResilienceOptions = {}): Resilience {
  const resolved = isPolicy(policy) ? policy : definePolicy(policy);
  return new Resilience(resolved, options);
}

function isPolicy(p: Policy | PolicyInput): p is Policy {
  return Array.isArray((p as Policy).warnings) && typeof (p as Policy).breaker === 'object' && (p as Policy).breaker !== null && 'openForMs' in (p as Policy).breaker;
}
