import type { Policy } from '@llm-resilience/core';

/**
 * The policy in a few readable lines, for the report.
 *
 * @example
 * ```ts
 * const s: PolicySummary = policySummary(policy);
 * s.routes[0]; // { name: 'chat', chain: ['mini', 'mini-backup'], priority: 'live', notes: 'timeout 30s' }
 * ```
 */
export interface PolicySummary {
  routes: { name: string; chain: string[]; priority: string; notes: string }[];
  limits: string[];
  budgets: string[];
  breaker: string;
}

/**
 * Summarizes a resolved policy (durations in the policy's own time: scenario time in the demo).
 *
 * @example
 * ```ts
 * policySummary(definePolicy(scenario.policy)).limits; // ["docs-tpm: 150000 totalTokens per 1m for team (team=docs)", ...]
 * ```
 */
export function policySummary(policy: Policy): PolicySummary {
  const dur = (ms: number) => (ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);
  const match = (m: Readonly<Record<string, string>> | undefined) =>
    m ? ` (${Object.entries(m).map(([k, v]) => `${k}=${v}`).join(', ')})` : '';
  return {
    routes: Object.values(policy.routes).map((r) => ({
      name: r.name,
      chain: r.chain.map((t) => t.id),
      priority: r.priority,
      notes: [
        r.timeoutMs !== undefined ? `timeout ${dur(r.timeoutMs)}` : '',
        r.costCeilingUsd !== undefined ? `cost ceiling $${r.costCeilingUsd} per request` : '',
        r.output ? `JSON schema, on invalid output: ${r.onInvalidOutput}` : '',
        `waits up to ${dur(r.retry.maxHintMs)} for a Retry-After hint`,
      ]
        .filter(Boolean)
        .join(' · '),
    })),
    limits: policy.limits.map((l) => `${l.id}: ${l.limit.toLocaleString('en')} ${l.metric} per ${dur(l.windowMs)} for each ${l.scope.join('+') || 'everyone'}${match(l.match)}`),
    budgets: policy.budgets.map(
      (b) =>
        `${b.id}: $${Number(b.limitUsd.toFixed(4))} per ${dur(b.windowMs)} for each ${b.scope.join('+')}${match(b.match)}` +
        (b.downgradeTo ? `; past ${Math.round((b.downgradeAt ?? 1) * 100)}% requests go to '${b.downgradeTo}'` : ''),
    ),
    breaker: `open after ${policy.breaker.consecutiveFailures} failures in a row or over ${policy.breaker.errorRate * 100}% errors in ${dur(policy.breaker.windowMs)} (at least ${policy.breaker.minimumCalls} calls); stays open ${dur(policy.breaker.openForMs)} (doubling after a failed probe), probes with ${policy.breaker.halfOpenProbes} calls, ramps traffic back over ${dur(policy.breaker.rampUpMs)}; pauses after ${policy.breaker.rateLimitPauseAfter} 429s in a row until the provider's reset`,
  };
}
