import { parseDuration, type LimitRule, type ScopeDimension } from '@llm-resilience/core';
import { NestConfigError } from '../NestConfigError';
import type { InboundLimitRule } from '../types';

/**
 * Inbound buckets live beside the policy's in the same store: the prefix keeps their keys apart.
 *
 * @example
 * ```ts
 * `${INBOUND_PREFIX}user:requests:1m`; // the rule id in the store
 * ```
 */
export const INBOUND_PREFIX = 'nest-inbound:';
const DIMENSIONS: ReadonlySet<string> = new Set(['user', 'team', 'tenant', 'environment', 'route']);
const MIN_WINDOW_MS = 1000;
const MAX_WINDOW_MS = 86_400_000;

function invalid(where: string, path: string, message: string): NestConfigError {
  return new NestConfigError('ERR_LLMR_NEST_INVALID_LIMIT', `${where} limits${path}: ${message}${message.endsWith('.') ? '' : '.'}`);
}

/**
 * Validates inbound rules into the core's request-count `LimitRule`s (ids prefixed so their buckets
 * never meet the policy's). Throws `ERR_LLMR_NEST_INVALID_LIMIT` naming the bad field after `where`,
 * the owner of the rules (`ResilienceModule.forRoot limits[0].limit: ...`,
 * `ChatController.ask: @RateLimited limits[1].window: ...`).
 *
 * @example
 * ```ts
 * toInboundLimitRules([{ scope: ['user'], limit: 20, window: '1m' }], 'ChatController: @RateLimited');
 * // [{ id: 'nest-inbound:user:requests:1m', scope: ['user'], metric: 'requests', limit: 20, windowMs: 60000, onFailure: 'keep' }]
 * ```
 */
export function toInboundLimitRules(rules: readonly InboundLimitRule[], where: string): LimitRule[] {
  if (!Array.isArray(rules)) throw invalid(where, '', `expected an array of rules, got ${typeof rules}`);
  const seen = new Set<string>();
  return rules.map((r: InboundLimitRule, i) => {
    const at = `[${i}]`;
    if (typeof r !== 'object' || r === null) throw invalid(where, at, 'expected a rule object');
    if (!Array.isArray(r.scope)) throw invalid(where, `${at}.scope`, 'expected an array of dimensions (user, team, tenant, environment, route)');
    for (const d of r.scope as string[]) {
      if (!DIMENSIONS.has(d)) {
        throw invalid(where, `${at}.scope`, `'${d}' is not known before the handler runs; use user, team, tenant, environment or route. Put provider/model limits in the policy.`);
      }
    }
    if (!(typeof r.limit === 'number' && Number.isFinite(r.limit) && r.limit > 0)) {
      throw invalid(where, `${at}.limit`, `expected a positive number, got ${JSON.stringify(r.limit)}`);
    }
    if (r.burst !== undefined && !(typeof r.burst === 'number' && Number.isFinite(r.burst) && r.burst > 0)) {
      throw invalid(where, `${at}.burst`, `expected a positive number, got ${JSON.stringify(r.burst)}`);
    }
    const windowMs = parseDuration(r.window);
    if (windowMs === undefined || windowMs < MIN_WINDOW_MS || windowMs > MAX_WINDOW_MS) {
      throw invalid(where, `${at}.window`, `expected a window between '1s' and '1d' (ms or '30s', '1m', '1h', '1d'), got ${JSON.stringify(r.window)}`);
    }
    const id = r.id ?? `${r.scope.join('+') || 'global'}:requests:${String(r.window)}`;
    if (seen.has(id)) throw invalid(where, `${at}.id`, `expected a unique id, got '${id}' twice`);
    seen.add(id);
    const rule: LimitRule = { id: INBOUND_PREFIX + id, scope: [...r.scope] as ScopeDimension[], metric: 'requests', limit: r.limit, windowMs, onFailure: 'keep' };
    if (r.burst !== undefined) rule.burst = r.burst;
    if (r.match !== undefined) rule.match = { ...r.match };
    return rule;
  });
}

/**
 * A rule id as the user wrote it (without the store prefix).
 *
 * @example
 * ```ts
 * inboundRuleId('nest-inbound:user:requests:1m'); // 'user:requests:1m'
 * ```
 */
export function inboundRuleId(id: string): string {
  return id.startsWith(INBOUND_PREFIX) ? id.slice(INBOUND_PREFIX.length) : id;
}
