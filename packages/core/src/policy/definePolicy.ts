import type { z } from 'zod';
import { ERROR_KINDS, type ErrorKind } from '../errors/ErrorKind';
import { PolicyConfigError, type PolicyIssue } from '../errors/ResilienceError';
import { matchIssues, referenceIssuesOfRaw, unknownRoute, unknownTarget, unknownTrafficClass, type PolicyNames, type TargetNames } from './references';
import type { LimitRule } from '../limits/LimitRule';
import { escapeKeyValue } from '../limits/limitKey';
import { constantBackoff, decorrelatedBackoff, exponentialBackoff, type Backoff } from '../retry/backoff';
import type {
  AudienceMessages,
  BreakerPolicy,
  BudgetRule,
  Policy,
  ResolvedTarget,
  RetryPolicy,
  RoutePolicy,
  TrafficClass,
} from './Policy';
import { policySchema, type ParsedPolicy, type PolicyInput } from './schema';

/**
 * The seed's step 10 messages: what an internal user and a customer read while the engine works
 * around a problem, and what queued work reads. A policy's `messages` override them one by one.
 *
 * @example
 * ```ts
 * res.status(503).json({ error: DEFAULT_MESSAGES.customer });
 * ```
 */
export const DEFAULT_MESSAGES: AudienceMessages = {
  internal: "We hit the current model's rate limit. Retrying in a few seconds.",
  customer: "This request is taking longer than usual. We're trying another model now.",
  queued: 'Your request is queued and will run when capacity is available.',
};

/** Retries on the same target per kind: the seed's retry-vs-fallback table. */
const DEFAULT_PER_KIND: Record<ErrorKind, number> = {
  rate_limited: 2, // 429 with Retry-After: wait and retry
  overloaded: 1, // 503: retry, then fall back
  timeout: 1, // retry once, then fall back
  network: 1,
  unknown: 1,
  context_length: 0, // same request keeps failing: larger-context model instead
  quota_exhausted: 0, // stop retrying, fall back, alert
  policy_rejected: 0,
  auth: 0,
  invalid_request: 0,
  validation_failed: 0, // governed by onInvalidOutput
  cancelled: 0,
};

/**
 * Kinds that move to the next target by default: capacity and reliability problems, context length,
 * quota, auth and invalid output; never policy rejections, invalid requests or cancellation.
 *
 * @example
 * ```ts
 * DEFAULT_FALLBACK_ON.includes('policy_rejected'); // false
 * ```
 */
export const DEFAULT_FALLBACK_ON: readonly ErrorKind[] = [
  'rate_limited',
  'overloaded',
  'timeout',
  'network',
  'unknown',
  'context_length',
  'quota_exhausted',
  'auth',
  'validation_failed',
];

const DEFAULT_TRAFFIC_CLASSES: Record<string, Omit<TrafficClass, 'name'>> = {
  live: { priority: 100, reserve: 0, whenLimited: 'wait', maxWaitMs: 2_000, maxQueue: 1_000 },
  batch: { priority: 10, reserve: 0.2, whenLimited: 'queue', maxWaitMs: 600_000, maxQueue: 10_000 },
  experiment: { priority: 0, reserve: 0.5, whenLimited: 'queue', maxWaitMs: 3_600_000, maxQueue: 1_000 },
};

/**
 * Options of {@link definePolicy}.
 *
 * @example
 * ```ts
 * definePolicy(config, { onWarning: (w) => logger.warn(w) });
 * ```
 */
export interface DefinePolicyOptions {
  /**
   * Receives advice such as over-long chains. Default: `process.emitWarning` with the advice's code
   * (`LLMR_LONG_CHAIN`, `LLMR_RETRY_NEVER_SUCCEEDS`).
   */
  onWarning?: (message: string) => void;
}

/**
 * Advice from the seed: one primary and at most three fallbacks. `definePolicy` warns
 * (`LLMR_LONG_CHAIN`) about a longer chain.
 *
 * @example
 * ```ts
 * if (chain.length - 1 > MAX_ADVISED_FALLBACKS) console.warn(`route ${name}: consider a shorter chain`);
 * ```
 */
export const MAX_ADVISED_FALLBACKS = 3;

/**
 * Validates and normalizes a policy. Invalid configuration throws a {@link PolicyConfigError} listing
 * every bad path and what was expected; advice is returned in `policy.warnings` and emitted as a
 * process warning: a chain longer than 3 fallbacks (`LLMR_LONG_CHAIN`), a `perKind` that retries a
 * kind no retry can fix, such as `auth` or `quota_exhausted` (`LLMR_RETRY_NEVER_SUCCEEDS`).
 *
 * @example
 * ```ts
 * const policy = definePolicy({
 *   targets: { 'fast-a': { provider: 'openai', model: 'gpt-4o-mini', contextWindow: 128_000 } },
 *   routes: { chat: { chain: ['fast-a'], priority: 'live' } },
 *   limits: [{ scope: ['user'], metric: 'requests', limit: 20, window: '1m' }],
 * });
 * ```
 */
export function definePolicy(input: PolicyInput, options: DefinePolicyOptions = {}): Policy {
  const parsed = policySchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    // Shape problems, and the reference problems that can be read anyway (a misspelt target name).
    const issues = formatIssues(parsed.error.issues);
    const seen = new Set(issues.map((i) => i.path));
    for (const r of referenceIssuesOfRaw(input, Object.keys(DEFAULT_TRAFFIC_CLASSES))) if (!seen.has(r.path)) issues.push(r);
    throw new PolicyConfigError(issues);
  }
  const issues: PolicyIssue[] = [];
  const warnings: PolicyWarning[] = [];
  const policy = resolve(parsed.data, issues, warnings);
  if (issues.length > 0) throw new PolicyConfigError(issues);
  for (const w of warnings) {
    if (options.onWarning) options.onWarning(w.message);
    else process.emitWarning(w.message, { code: w.code });
  }
  return policy;
}

/** Advice about a valid policy: `LLMR_LONG_CHAIN`, `LLMR_RETRY_NEVER_SUCCEEDS`. */
interface PolicyWarning {
  code: string;
  message: string;
}

/**
 * Kinds the seed says never to retry on the same target: the same request fails the same way (quota,
 * context length, auth, policy, invalid request), or the caller is gone.
 */
const NEVER_RETRIED: readonly ErrorKind[] = ['quota_exhausted', 'context_length', 'auth', 'policy_rejected', 'invalid_request', 'cancelled'];

/** Warns about `perKind` entries at `path` that retry a kind which a retry cannot fix. */
function warnNeverRetried(perKind: Partial<Record<ErrorKind, number>> | undefined, path: string, warnings: PolicyWarning[]): void {
  for (const k of NEVER_RETRIED) {
    const v = perKind?.[k];
    if (v !== undefined && v > 0) {
      warnings.push({
        code: 'LLMR_RETRY_NEVER_SUCCEEDS',
        message: `${path}.perKind.${k} is ${v}: a ${k} error fails the same way on every retry (the seed: never retry it; fall back or stop)`,
      });
    }
  }
}

function resolve(p: ParsedPolicy, issues: PolicyIssue[], warnings: PolicyWarning[]): Policy {
  const targets: Record<string, ResolvedTarget> = {};
  for (const [id, t] of Object.entries(p.targets)) targets[id] = toTarget(id, t);
  warnNeverRetried(p.retry?.perKind, 'retry', warnings);

  const messages: AudienceMessages = { ...DEFAULT_MESSAGES, ...stripUndefined(p.messages ?? {}) };

  const trafficClasses: Record<string, TrafficClass> = {};
  for (const [name, c] of Object.entries(DEFAULT_TRAFFIC_CLASSES)) trafficClasses[name] = { name, ...c };
  for (const [name, c] of Object.entries(p.trafficClasses ?? {})) {
    // Own properties only: a class named `toString` starts from `batch`, not from Object.prototype's function.
    const base = (Object.hasOwn(trafficClasses, name) ? trafficClasses[name] : undefined) ?? { name, ...DEFAULT_TRAFFIC_CLASSES.batch! };
    trafficClasses[name] = {
      name,
      priority: c.priority,
      reserve: c.reserve ?? base.reserve,
      whenLimited: c.whenLimited ?? base.whenLimited,
      maxWaitMs: c.maxWait ?? base.maxWaitMs,
      maxQueue: c.maxQueue ?? base.maxQueue,
    };
  }

  const names: PolicyNames = { targets: Object.keys(targets), trafficClasses: Object.keys(trafficClasses), routes: Object.keys(p.routes) };
  const routes: Record<string, RoutePolicy> = {};
  for (const [name, r] of Object.entries(p.routes)) {
    const chain: ResolvedTarget[] = [];
    r.chain.forEach((entry, i) => {
      if (typeof entry === 'string') {
        // Own properties only: `toString` is not a target (it would put Object.prototype's function in the chain).
        const t = Object.hasOwn(targets, entry) ? targets[entry] : undefined;
        if (!t) issues.push(unknownTarget(name, i, entry, names)!);
        else chain.push(t);
      } else {
        chain.push(toTarget(`${entry.provider}/${entry.model}`, entry));
      }
    });
    if (r.chain.length > MAX_ADVISED_FALLBACKS + 1) {
      warnings.push({
        code: 'LLMR_LONG_CHAIN',
        message: `routes.${name}.chain has ${r.chain.length - 1} fallbacks; the advice is at most ${MAX_ADVISED_FALLBACKS} (long chains hide problems, add latency and make output inconsistent)`,
      });
    }
    warnNeverRetried(r.retry?.perKind, `routes.${name}.retry`, warnings);
    const priority = r.priority ?? 'live';
    const badPriority = unknownTrafficClass(name, priority, names);
    if (badPriority) issues.push(badPriority);
    if (r.output === undefined && r.onInvalidOutput !== undefined) {
      issues.push({ path: `routes.${name}.onInvalidOutput`, message: 'expected an `output` schema on the route, got none' });
    }
    routes[name] = {
      name,
      chain,
      priority,
      retry: toRetry({ ...p.retry, ...stripUndefined(r.retry ?? {}) }, chain.length, priority),
      fallbackOn: new Set(r.fallbackOn ?? DEFAULT_FALLBACK_ON),
      ...(r.timeout !== undefined || p.timeout !== undefined ? { timeoutMs: r.timeout ?? p.timeout } : {}),
      ...(r.deadline !== undefined ? { deadlineMs: r.deadline } : {}),
      ...(r.output !== undefined ? { output: r.output } : {}),
      onInvalidOutput: r.onInvalidOutput ?? 'fallback',
      ...(r.costCeilingUsd !== undefined ? { costCeilingUsd: r.costCeilingUsd } : {}),
      onExhausted: r.onExhausted ?? 'fail',
      audience: r.audience ?? 'customer',
      messages: { ...messages, ...stripUndefined(r.messages ?? {}) },
    };
  }

  const chainTargets = Object.values(routes).flatMap((r) => r.chain);
  const targetNames: TargetNames = {
    providers: [...new Set([...Object.values(targets), ...chainTargets].map((t) => t.provider))],
    models: [...new Set([...Object.values(targets), ...chainTargets].map((t) => t.model))],
  };

  const limits: LimitRule[] = p.limits.map((l, i) => {
    const id = l.id ?? `${l.scope.join('+') || 'global'}:${l.metric}:${l.window ?? 'inflight'}`;
    const rule: LimitRule = {
      id,
      scope: l.scope,
      metric: l.metric,
      limit: l.limit,
      windowMs: l.window ?? 0,
      ...(l.burst !== undefined ? { burst: l.burst } : {}),
      ...(l.match !== undefined ? { match: l.match } : {}),
      ...(l.onFailure !== undefined ? { onFailure: l.onFailure } : {}),
    };
    // A bucket of whole units (requests, tokens, slots) must hold at least one, or it denies every
    // request forever. Its capacity is `burst` when given (rate rules), else `limit`; `concurrency`
    // has no burst. Cost rules (USD) may be fractional.
    if (l.metric !== 'cost') {
      const field = l.burst !== undefined && l.metric !== 'concurrency' ? 'burst' : 'limit';
      const capacity = field === 'burst' ? l.burst! : l.limit;
      if (capacity < 1) issues.push({ path: `limits[${i}].${field}`, message: `expected at least 1, got ${capacity}` });
    }
    // In-flight slots are whole, held and given back: a window or burst would be ignored, so both are refused.
    if (l.metric === 'concurrency') {
      if (!Number.isInteger(l.limit)) issues.push({ path: `limits[${i}].limit`, message: `expected a whole number of slots, got ${l.limit}` });
      if (l.burst !== undefined) issues.push({ path: `limits[${i}].burst`, message: `expected no burst on a concurrency rule (slots are held, not refilled), got ${l.burst}` });
      if (l.window !== undefined) {
        issues.push({
          path: `limits[${i}].window`,
          message: `expected no window on a concurrency rule (it counts requests in flight, not per window; use metric 'requests' for a count per window), got ${l.window} ms`,
        });
      }
    }
    issues.push(...matchIssues({ kind: 'limits', index: i, scope: l.scope }, l.match, names, targetNames));
    const dup = l.scope.find((d, k) => l.scope.indexOf(d) !== k);
    if (dup !== undefined) issues.push({ path: `limits[${i}].scope`, message: `expected distinct dimensions, got '${dup}' twice` });
    return rule;
  });
  const seen = new Map<string, number>();
  limits.forEach((l, i) => {
    const prev = seen.get(l.id);
    if (prev !== undefined) {
      issues.push({ path: `limits[${i}].id`, message: `expected a unique id, got '${l.id}' (also limits[${prev}])` });
    }
    seen.set(l.id, i);
  });

  const budgets: BudgetRule[] = p.budgets.map((b, i) => {
    const perTarget = b.scope.filter((d) => d === 'provider' || d === 'model');
    if (perTarget.length > 0) {
      issues.push({
        path: `budgets[${i}].scope`,
        message: `expected request dimensions (user, team, tenant, environment, route), got ${perTarget.map((d) => `'${d}'`).join(', ')}: budgets are reserved once per request, before a target is chosen; cap a model's spend with a limit rule { metric: 'cost' } instead`,
      });
    }
    const badRoute = b.downgradeTo === undefined ? undefined : unknownRoute(i, b.downgradeTo, names);
    if (badRoute) issues.push(badRoute);
    if (b.downgradeAt !== undefined && b.downgradeTo === undefined) {
      issues.push({
        path: `budgets[${i}].downgradeTo`,
        message: `expected the name of a route to downgrade to with downgradeAt ${b.downgradeAt} (one of ${names.routes.map((r) => `'${r}'`).join(', ')}), got undefined`,
      });
    }
    issues.push(...matchIssues({ kind: 'budgets', index: i, scope: b.scope }, b.match, names, targetNames));
    return {
      id: b.id ?? generatedBudgetId(b.scope, b.window, b.match),
      scope: b.scope,
      limitUsd: b.limitUsd,
      windowMs: b.window,
      ...(b.match !== undefined ? { match: b.match } : {}),
      ...(b.downgradeAt !== undefined ? { downgradeAt: b.downgradeAt } : {}),
      ...(b.downgradeTo !== undefined ? { downgradeTo: b.downgradeTo } : {}),
    };
  });

  const budgetIds = new Map<string, number>();
  budgets.forEach((b, i) => {
    const prev = budgetIds.get(b.id);
    if (prev !== undefined) {
      const how = p.budgets[i]!.id === undefined ? ' (generated from scope, window and match: give one of them an explicit id, or merge them)' : '';
      issues.push({ path: `budgets[${i}].id`, message: `expected a unique id, got '${b.id}' (also budgets[${prev}])${how}` });
    }
    budgetIds.set(b.id, i);
    // Limits and budgets are reserved together (one reservation), told apart by rule id.
    const limit = seen.get(b.id);
    if (limit !== undefined) {
      issues.push({ path: `budgets[${i}].id`, message: `expected an id no limit rule has, got '${b.id}' (also limits[${limit}]): limits and budgets are reserved together` });
    }
  });

  const br = p.breaker ?? {};
  const breaker: BreakerPolicy = {
    windowMs: br.window ?? 120_000,
    errorRate: br.errorRate ?? 0.2,
    minimumCalls: br.minimumCalls ?? 10,
    consecutiveFailures: br.consecutiveFailures ?? 5,
    slowCallMs: br.slowCall ?? 30_000,
    slowCallRate: br.slowCallRate ?? 0.5,
    openForMs: br.openFor ?? 30_000,
    halfOpenProbes: br.halfOpenProbes ?? 3,
    rampUpMs: br.rampUp ?? 30_000,
    rateLimitPauseAfter: br.rateLimitPauseAfter ?? 3,
    failOn: new Set(br.failOn ?? ['overloaded', 'timeout', 'network', 'unknown', 'quota_exhausted', 'auth']),
  };

  return deepFreeze({
    targets,
    routes,
    limits,
    budgets,
    breaker,
    trafficClasses,
    defaultTimeoutMs: p.timeout ?? 60_000,
    messages,
    recordContent: p.recordContent ?? false,
    warnings: warnings.map((w) => w.message),
  });
}

const SCOPE_ORDER = ['user', 'team', 'tenant', 'environment', 'route', 'provider', 'model'] as const;

/**
 * The id of a budget without an explicit one: `budget:<scope>:<window ms>`, e.g.
 * `budget:tenant:86400000` (unchanged from earlier versions, so stored spend keeps its keys), and for
 * a budget with a `match`, `:<dim>=<value>` pairs joined by `,` in scope-dimension order after it, e.g.
 * `budget:global:86400000:route=chat`: budgets that differ only in what they match get distinct ids.
 */
function generatedBudgetId(scope: readonly string[], windowMs: number, match: Readonly<Record<string, string | undefined>> | undefined): string {
  const base = `budget:${scope.join('+') || 'global'}:${windowMs}`;
  // Values escaped as in store keys: `{ tenant: 'a,route=chat' }` and `{ tenant: 'a', route: 'chat' }` stay apart.
  const pairs = SCOPE_ORDER.filter((d) => match?.[d] !== undefined).map((d) => `${d}=${escapeKeyValue(match![d]!)}`);
  return pairs.length === 0 ? base : `${base}:${pairs.join(',')}`;
}

function toTarget(id: string, t: ParsedPolicy['targets'][string]): ResolvedTarget {
  return {
    id,
    provider: t.provider,
    model: t.model,
    ...(t.contextWindow !== undefined ? { contextWindow: t.contextWindow } : {}),
    ...(t.maxOutputTokens !== undefined ? { maxOutputTokens: t.maxOutputTokens } : {}),
    ...(t.price !== undefined ? { price: t.price } : {}),
    ...(t.dataClasses !== undefined ? { dataClasses: t.dataClasses } : {}),
    ...(t.timeout !== undefined ? { timeoutMs: t.timeout } : {}),
    tokenizer: t.tokenizer ?? (t.provider === 'openai' || t.provider === 'azure' ? 'openai' : 'heuristic'),
    meta: t.meta ?? {},
  };
}

function toRetry(r: NonNullable<ParsedPolicy['retry']>, chainLength: number, priority: string): RetryPolicy {
  const perKind = { ...DEFAULT_PER_KIND } as Record<ErrorKind, number>;
  for (const k of ERROR_KINDS) {
    const v = r.perKind?.[k];
    if (v !== undefined) perKind[k] = v;
  }
  let backoff: Backoff;
  const b = r.backoff;
  if (!b || b.strategy === 'exponential') backoff = exponentialBackoff({ base: b?.base ?? 500, max: b?.max ?? 30_000 });
  else if (b.strategy === 'decorrelated') backoff = decorrelatedBackoff({ base: b.base, max: b.max });
  else backoff = constantBackoff({ delay: b.delay });
  const live = priority === 'live';
  return {
    maxAttempts: r.maxAttempts ?? chainLength + 2,
    perKind,
    backoff,
    maxHintMs: r.maxHint ?? (live ? 5_000 : 60_000),
    maxLimiterWaitMs: r.maxLimiterWait ?? (live ? 1_000 : 30_000),
  };
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]: Exclude<T[K], undefined> };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o) && !(o instanceof Set) && !isStandardSchema(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

function isStandardSchema(o: object): boolean {
  return '~standard' in o;
}

/** Turns zod issues into `path: expected X, got Y` lines, descending into unions to the branch that fits. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Prefer the branch whose problems are inside the value (its type matched) over "wrong type" branches.
      const branches = issue.errors;
      const inner = branches.find((b) => b.every((i) => i.path.length > 0 || i.code !== 'invalid_type'));
      if (inner !== undefined) {
        out.push(...formatIssues(inner, path));
        continue;
      }
      // No branch takes a value of this type: the union's own message when it has one (a duration
      // names both of its forms), else every type it accepts, never only the first branch's.
      const own = issue.message.startsWith('Invalid input') ? undefined : issue.message;
      const types = [...new Set(branches.flatMap((b) => b.filter((i) => i.code === 'invalid_type' && i.path.length === 0).map((i) => (i as { expected: string }).expected)))];
      out.push({ path: formatPath(path), message: own ?? `expected ${types.join(' or ')}, got ${describeValue((issue as { input?: unknown }).input)}` });
      continue;
    }
    out.push({ path: formatPath(path), message: describe(issue) });
  }
  return out;
}

function describe(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      // zod's number type refuses Infinity and NaN: the value is a number, only not a finite one.
      if (issue.expected === 'number' && typeof input === 'number') return `expected a finite number, got ${describeValue(input)}`;
      return `expected ${issue.expected}, got ${describeValue(input)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(input)}`;
    case 'too_small':
      if (issue.origin === 'string') {
        const min = Number(issue.minimum);
        return `expected a non-empty string${min > 1 ? ` of at least ${min} characters` : ''}, got ${describeValue(input)}`;
      }
      return `expected ${issue.origin === 'array' ? 'at least ' + String(issue.minimum) + ' item(s)' : (issue.inclusive ? '>= ' : '> ') + String(issue.minimum)}, got ${describeValue(input)}`;
    case 'too_big':
      return `expected ${issue.origin === 'array' ? 'at most ' + String(issue.maximum) + ' item(s)' : (issue.inclusive ? '<= ' : '< ') + String(issue.maximum)}, got ${describeValue(input)}`;
    case 'unrecognized_keys':
      return `unexpected key(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    case 'invalid_key':
      return 'expected a non-empty name';
    default:
      return issue.message;
  }
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  return String(v);
}

function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const seg of path) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else s += (s ? '.' : '') + String(seg);
  }
  return s;
}
