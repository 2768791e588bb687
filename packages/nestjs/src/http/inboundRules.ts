import { parseDuration, type LimitRule, type ScopeDimension } from '@llm-resilience/core';
import { shown, typeOf } from '../describeValue';
import { closestKey, unknownKey } from '../knownKeys';
import { NestConfigError } from '../NestConfigError';
import type { InboundLimitRule } from '../types';

/**
 * Inbound buckets live beside the policy's in the same store: the prefix keeps their keys apart.
 *
 * @example
 * ```ts
 * `${INBOUND_PREFIX}ChatController:user:requests:1m`; // the rule id in the store
 * ```
 */
export const INBOUND_PREFIX = 'nest-inbound:';
const DIMENSIONS: ReadonlySet<string> = new Set(['user', 'team', 'tenant', 'environment', 'route']);
const RULE_KEYS = ['id', 'scope', 'metric', 'limit', 'window', 'burst', 'match'];
const MIN_WINDOW_MS = 1000;
const MAX_WINDOW_MS = 86_400_000;

function invalid(where: string, path: string, message: string): NestConfigError {
  return new NestConfigError('ERR_LLMR_NEST_INVALID_LIMIT', `${where} limits${path}: ${message}${message.endsWith('.') ? '' : '.'}`);
}

function isPositive(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0;
}

/** A rule's `match`: known dimensions to strings (a typo, or a value of another type, would make the rule never apply). */
function checkMatch(where: string, path: string, match: unknown): Record<string, string> {
  if (typeof match !== 'object' || match === null || Array.isArray(match)) {
    throw invalid(where, path, `expected an object of dimensions to values, such as { environment: 'staging' }, got ${typeOf(match)}`);
  }
  for (const [d, v] of Object.entries(match)) {
    if (!DIMENSIONS.has(d)) {
      const near = closestKey(d, [...DIMENSIONS]);
      throw invalid(where, `${path}.${d}`, `not a dimension${near ? ` (did you mean '${near}'?)` : ''}; match can use user, team, tenant, environment, route`);
    }
    if (typeof v !== 'string') throw invalid(where, `${path}.${d}`, `expected a string, got ${typeOf(v)}`);
  }
  return match as Record<string, string>;
}

/**
 * The id of a rule written without one: `<owner>:<scope joined by +>:requests:<window>`, the owner
 * being where the rule was declared (`ChatController`, `ChatController.ask`); without an owner (the
 * module's `limits`), `<scope>:requests:<window>`. The id keys the rule's buckets in the store, so
 * rules declared in different places never share a bucket unless they are given the same `id`.
 *
 * @example
 * ```ts
 * defaultInboundRuleId({ scope: ['user'], limit: 20, window: '1m' }, 'ChatController.ask'); // 'ChatController.ask:user:requests:1m'
 * defaultInboundRuleId({ scope: [], limit: 500, window: '1m' });                           // 'global:requests:1m'
 * ```
 */
export function defaultInboundRuleId(rule: Pick<InboundLimitRule, 'scope' | 'window'>, owner?: string): string {
  const base = `${rule.scope.join('+') || 'global'}:requests:${String(rule.window)}`;
  return owner ? `${owner}:${base}` : base;
}

/**
 * Validates inbound rules into the core's request-count `LimitRule`s (ids prefixed so their buckets
 * never meet the policy's). A rule without `id` gets {@link defaultInboundRuleId} of `owner` (the
 * class or `Class.method` that declared it; none for the module's `limits`): its own bucket.
 * Throws `ERR_LLMR_NEST_INVALID_LIMIT` naming the bad field after `where`,
 * the owner of the rules (`ResilienceModule.forRoot limits[0].limit: ...`,
 * `ChatController.ask: @RateLimited limits[1].window: ...`): a key that is not a field of a rule; an
 * `id` that is not a non-empty string; a scope dimension not known before the handler runs; a
 * `metric` other than `requests` (the guard counts requests; concurrency, token and cost limits
 * belong in the policy); a `limit` or `burst` that lets no request through (the bucket must hold at
 * least one: `burst`, else `limit`, 1 or more); a window outside 1 s .. 1 day; a `match` that is not
 * an object of known dimensions to strings (it would never apply); a duplicate id.
 *
 * @example
 * ```ts
 * toInboundLimitRules([{ scope: ['user'], limit: 20, window: '1m' }], 'ChatController: @RateLimited', 'ChatController');
 * // [{ id: 'nest-inbound:ChatController:user:requests:1m', scope: ['user'], metric: 'requests', limit: 20, windowMs: 60000, onFailure: 'keep' }]
 * toInboundLimitRules([{ scope: ['user'], limit: 100, window: '1m' }], 'ResilienceModule');
 * // [{ id: 'nest-inbound:user:requests:1m', ... }]
 * ```
 */
export function toInboundLimitRules(rules: readonly InboundLimitRule[], where: string, owner?: string): LimitRule[] {
  if (!Array.isArray(rules)) throw invalid(where, '', `expected an array of rules, got ${typeOf(rules)}`);
  const seen = new Set<string>();
  return rules.map((r: InboundLimitRule, i) => {
    const at = `[${i}]`;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw invalid(where, at, `expected a rule object ({ scope, limit, window }), got ${typeOf(r)}`);
    const unknown = unknownKey(r, RULE_KEYS);
    if (unknown) throw invalid(where, `${at}.${unknown.key}`, `${unknown.problem} (the fields of an inbound rule)`);
    if (r.id !== undefined && !(typeof r.id === 'string' && r.id !== '')) throw invalid(where, `${at}.id`, `expected a non-empty string, got ${shown(r.id)}`);
    if (!Array.isArray(r.scope)) throw invalid(where, `${at}.scope`, `expected an array of dimensions (user, team, tenant, environment, route), got ${typeOf(r.scope)}`);
    for (const d of r.scope as unknown[]) {
      if (typeof d !== 'string' || !DIMENSIONS.has(d)) {
        throw invalid(where, `${at}.scope`, `${shown(d)} is not known before the handler runs; use user, team, tenant, environment or route. Put provider/model limits in the policy.`);
      }
    }
    if (r.metric !== undefined && r.metric !== 'requests') {
      throw invalid(
        where,
        `${at}.metric`,
        `expected 'requests' (or no metric), got ${shown(r.metric)}: ResilienceGuard counts requests only. ` +
          `Inbound concurrency, token and cost limits are not supported by the NestJS adapter; put them in the policy, where the engine enforces them on every call.`,
      );
    }
    if (!isPositive(r.limit)) throw invalid(where, `${at}.limit`, `expected a positive number, got ${shown(r.limit)}`);
    if (r.burst !== undefined && !(isPositive(r.burst) && r.burst >= 1)) {
      throw invalid(where, `${at}.burst`, `expected a number >= 1 (the most requests let through at once), got ${shown(r.burst)}`);
    }
    if (r.burst === undefined && r.limit < 1) {
      throw invalid(
        where,
        `${at}.limit`,
        `expected a number >= 1 without a burst (the bucket holds \`limit\` requests and must hold at least one), got ${shown(r.limit)}. ` +
          `For fewer than one request per window, add burst: 1`,
      );
    }
    const windowMs = parseDuration(r.window);
    if (windowMs === undefined || windowMs < MIN_WINDOW_MS || windowMs > MAX_WINDOW_MS) {
      throw invalid(where, `${at}.window`, `expected a window between '1s' and '1d' (ms or '30s', '1m', '1h', '1d'), got ${shown(r.window)}`);
    }
    const match = r.match === undefined ? undefined : checkMatch(where, `${at}.match`, r.match);
    const id = r.id ?? defaultInboundRuleId(r, owner);
    if (seen.has(id)) throw invalid(where, `${at}.id`, `expected a unique id, got '${id}' twice`);
    seen.add(id);
    const rule: LimitRule = { id: INBOUND_PREFIX + id, scope: [...r.scope] as ScopeDimension[], metric: 'requests', limit: r.limit, windowMs, onFailure: 'keep' };
    if (r.burst !== undefined) rule.burst = r.burst;
    if (match !== undefined) rule.match = { ...match };
    return rule;
  });
}

/**
 * Store ids of overriding rules start with this instead of {@link INBOUND_PREFIX}: a rule that replaces
 * another of its id (a method's over its class's, a class's or method's over the module's) with a
 * different definition counts in a bucket of its own declaration and definition,
 * `nest-inbound@<declaration>~<definition>:<id>` ({@link overridingRuleId}).
 * No id the user writes can give such a store id (theirs all start with `nest-inbound:`).
 *
 * @example
 * ```ts
 * `${OVERRIDE_PREFIX}ExportController.bulk~user,600/60000ms:per-user`; // the bucket of 'per-user' as ExportController.bulk overrides it
 * ```
 */
export const OVERRIDE_PREFIX = 'nest-inbound@';

/**
 * `~` ends the declaration in an override's store id, `:` the declaration and definition: both are
 * escaped in the declaration (with `%`, escaped too), so the declaration and the id read back exactly.
 */
function escapeDeclaration(owner: string): string {
  return owner.replace(/%/g, '%25').replace(/:/g, '%3A').replace(/~/g, '%7E');
}

function unescapeDeclaration(text: string): string {
  return text.replace(/%(3A|7E|25)/g, (escaped) => (escaped === '%3A' ? ':' : escaped === '%7E' ? '~' : '%'));
}

/**
 * A compact text of what makes a rule's bucket: scope (`global` for none), limit per window in ms,
 * the burst when it is not the limit, and the match, dimensions sorted, values URI-encoded (so the
 * text has no `:` and two definitions never give one text). Two rules have the same text exactly
 * when they agree on scope, limit, window, burst and match (the metric is always `requests`). It
 * depends on the definition only, so it is the same in every process and after a restart.
 *
 * @example
 * ```ts
 * definitionSignature({ id: 'x', scope: ['user'], metric: 'requests', limit: 600, windowMs: 60_000 });
 * // 'user,600/60000ms'
 * definitionSignature({ id: 'x', scope: ['user', 'route'], metric: 'requests', limit: 5, windowMs: 1000, burst: 2, match: { environment: 'staging' } });
 * // 'user+route,5/1000ms,burst2,environment=staging'
 * ```
 */
export function definitionSignature(rule: Pick<LimitRule, 'scope' | 'limit' | 'windowMs' | 'burst' | 'match'>): string {
  let text = `${rule.scope.join('+') || 'global'},${rule.limit}/${rule.windowMs}ms`;
  if (rule.burst !== undefined && rule.burst !== rule.limit) text += `,burst${rule.burst}`;
  if (rule.match !== undefined) {
    const entries = Object.entries(rule.match).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [d, v] of entries) text += `,${d}=${encodeURIComponent(String(v))}`;
  }
  return text;
}

/**
 * The store id of `rule`, with id `id` (as written), declared by `owner` (`ExportController.bulk`, a
 * method; `ExportController`, a class), when it replaces a rule of the same id with a different
 * definition (see {@link OVERRIDE_PREFIX}): the declaration, then {@link definitionSignature}, then the
 * id. Two declarations of one name (two classes named `ExportController`) that override one id with
 * one definition share the bucket; with different definitions they count apart.
 * {@link inboundRuleId} reads the written id back, {@link overridingDeclarationOf} the declaration.
 *
 * @example
 * ```ts
 * overridingRuleId('per-user', 'ExportController.bulk', { scope: ['user'], limit: 600, windowMs: 60_000 });
 * // 'nest-inbound@ExportController.bulk~user,600/60000ms:per-user'
 * ```
 */
export function overridingRuleId(id: string, owner: string, rule: Pick<LimitRule, 'scope' | 'limit' | 'windowMs' | 'burst' | 'match'>): string {
  return `${OVERRIDE_PREFIX}${escapeDeclaration(owner)}~${definitionSignature(rule)}:${id}`;
}

/**
 * The declaration an overriding rule's store id names (`ExportController.bulk`); `undefined` for a
 * store id that is not an override's.
 *
 * @example
 * ```ts
 * overridingDeclarationOf('nest-inbound@ExportController.bulk~user,600/60000ms:per-user'); // 'ExportController.bulk'
 * overridingDeclarationOf('nest-inbound:per-user');                                       // undefined
 * ```
 */
export function overridingDeclarationOf(id: string): string | undefined {
  if (!id.startsWith(OVERRIDE_PREFIX)) return undefined;
  const end = id.indexOf(':', OVERRIDE_PREFIX.length);
  if (end < 0) return undefined;
  const head = id.slice(OVERRIDE_PREFIX.length, end);
  const tilde = head.indexOf('~');
  return unescapeDeclaration(tilde < 0 ? head : head.slice(0, tilde));
}

/**
 * A rule id as the user wrote it: without the store prefix, and without the declaration and
 * definition an overriding rule's store id adds. This is the id 429 messages and logs show.
 *
 * @example
 * ```ts
 * inboundRuleId('nest-inbound:user:requests:1m');                                // 'user:requests:1m'
 * inboundRuleId('nest-inbound@ExportController.bulk~user,600/60000ms:per-user'); // 'per-user'
 * ```
 */
export function inboundRuleId(id: string): string {
  if (id.startsWith(INBOUND_PREFIX)) return id.slice(INBOUND_PREFIX.length);
  if (id.startsWith(OVERRIDE_PREFIX)) {
    const end = id.indexOf(':', OVERRIDE_PREFIX.length);
    if (end >= 0) return id.slice(end + 1);
  }
  return id;
}
