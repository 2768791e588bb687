import { z } from 'zod';
import { ERROR_KINDS, type ErrorKind } from '../errors/ErrorKind';
import { MAX_TIMER_MS } from '../clock';
import { parseDuration } from './duration';

const DAY_MS = 86_400_000;

/**
 * A per-attempt timeout becomes one `setTimeout` (shared per length, see AttemptTimers), and Node
 * fires a delay above {@link MAX_TIMER_MS} after 1 ms: every attempt would time out at once.
 */
const timeout = (what: string) =>
  duration(what, 1, MAX_TIMER_MS, ` (${MAX_TIMER_MS} ms, about 24.8 d, is the longest delay a timer honours)`);

const duration = (what: string, min = 0, max = Number.MAX_SAFE_INTEGER, why = '') => {
  const expected = `expected ${what} (a number of ms or a duration string like '500ms', '1s', '1m', '1h', '1d'${
    min > 0 || max < Number.MAX_SAFE_INTEGER ? ` between ${min} ms and ${max} ms` : ''
  })${why}`;
  return (
    z
      // A value of neither type gets this message too (not the first branch's "expected number").
      .union([z.number(), z.string()], {
        error: (issue) => (issue.code === 'invalid_union' ? `${expected}, got ${describeRaw(issue.input)}` : undefined),
      })
      .transform((value, ctx) => {
        const ms = parseDuration(value);
        if (ms === undefined || ms < min || ms > max) {
          ctx.addIssue({ code: 'custom', message: `${expected}, got ${describeRaw(value)}` });
          return z.NEVER;
        }
        return ms;
      })
  );
};

/** A raw config value as error messages show it: JSON for strings, `Infinity` and `NaN` as such. */
function describeRaw(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === undefined) return 'undefined';
  try {
    return JSON.stringify(v) ?? typeof v;
  } catch {
    return typeof v;
  }
}

const positive = z.number().positive();
const nonNegInt = z.number().int().nonnegative();
const errorKind = z.enum(ERROR_KINDS as [ErrorKind, ...ErrorKind[]]);
const scopeDimension = z.enum(['user', 'team', 'tenant', 'environment', 'route', 'provider', 'model']);

/** A Standard Schema (zod 4, valibot, arktype...): anything with a `~standard.validate` function. */
const standardSchema = z.custom<StandardSchemaLike>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { '~standard'?: { validate?: unknown } })['~standard']?.validate === 'function',
  { message: 'expected a Standard Schema (e.g. a zod 4 schema)' },
);

/**
 * The minimal shape of a Standard Schema v1 (https://standardschema.dev), which zod 4, valibot and
 * arktype implement.
 *
 * @example
 * ```ts
 * const schema: StandardSchemaLike = z.strictObject({ intent: z.string() });
 * ```
 */
export interface StandardSchemaLike<Output = unknown> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (
      value: unknown,
    ) =>
      | { value: Output; issues?: undefined }
      | { issues: ReadonlyArray<{ message: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> }> }
      | Promise<
          | { value: Output; issues?: undefined }
          | { issues: ReadonlyArray<{ message: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> }> }
        >;
  };
}

export const targetSchema = z
  .strictObject({
    provider: z
      .string()
      .min(1)
      .describe(
        "Provider name (`openai`, `anthropic`, `azure`, `google`, ...). Keys the provider-wide circuit breaker, the retry budget and `provider`-scoped limits.",
      ),
    model: z.string().min(1).describe('Model name as the provider knows it; handed to your call as `target.model`.'),
    /** Context window in tokens; prompts that do not fit skip this target. */
    contextWindow: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        'Context window in tokens. A request whose estimated input plus output cap does not fit is skipped (`context_window`). Omitted: never skipped for size.',
      ),
    /** Largest output the model can produce. */
    maxOutputTokens: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("Largest output the model can produce; caps the request's `maxOutputTokens` on this target."),
    /** USD per 1M tokens. */
    price: z
      .strictObject({
        input: z.number().nonnegative().describe('USD per 1M input tokens.'),
        output: z.number().nonnegative().describe('USD per 1M output tokens.'),
      })
      .optional()
      .describe('Price in USD per 1M tokens; used for cost estimates, budgets, cost limits and the cost ceiling. Omitted: the target costs 0.'),
    /** Data classes this target is approved for. Omitted: approved only for requests without a data class. */
    dataClasses: z
      .array(z.string().min(1))
      .optional()
      .describe(
        'Data classes this target is approved for. A request with a `dataClass` only goes to targets listing it. Omitted: approved only for requests without a data class.',
      ),
    /** Per-attempt timeout. */
    timeout: timeout('a timeout')
      .optional()
      .describe(
        'Per-attempt timeout for this target (ms or `"30s"`), 1 ms to 2147483647 ms (about 24.8 d, the longest timer delay); wins over the route and policy timeouts.',
      ),
    /** Which tokenizer estimates prompts for this target. */
    tokenizer: z
      .enum(['openai', 'heuristic'])
      .optional()
      .describe(
        "How the request is counted when this target is the primary: `openai` with the tokenizer for its model name (exact BPE for OpenAI model names, the chars/3.5 heuristic for others), `heuristic` with the heuristic. A custom `tokenizer` given to `createResilience` counts for every target, with the model name (see docs/concepts/token-estimation.md).",
      ),
    /** Free-form values handed to the call (base URL alias, deployment name...). */
    meta: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('Free-form values handed to your call as `target.meta` (base URL alias, deployment name, ...). Never read by the engine.'),
  })
  .describe('A provider + model the engine can call, with what it can do and what it costs.');

const backoffSchema = z
  .discriminatedUnion('strategy', [
    z
      .strictObject({
        strategy: z.literal('exponential').describe('Exponential backoff with full jitter: `random(0, min(max, base × 2^retry))`.'),
        base: duration('a base delay').default(500).describe('Base delay; at most `max`.'),
        max: duration('a maximum delay').default(30_000).describe('Largest delay.'),
      })
      .describe('Exponential backoff with full jitter.'),
    z
      .strictObject({
        strategy: z.literal('decorrelated').describe('Decorrelated jitter: `min(max, random(base, previous × 3))`.'),
        base: duration('a base delay').default(500).describe('Base (and smallest) delay; at most `max`.'),
        max: duration('a maximum delay').default(30_000).describe('Largest delay.'),
      })
      .describe('Decorrelated jitter.'),
    z
      .strictObject({
        strategy: z.literal('constant').describe('The same delay before every retry.'),
        delay: duration('a delay').default(1000).describe('The delay.'),
      })
      .describe('Constant delay.'),
  ])
  .superRefine((b, ctx) => {
    // Both strategies compute min(max, ...): a base above max would be silently clamped to max.
    if (b.strategy !== 'constant' && b.base > b.max) {
      ctx.addIssue({
        code: 'custom',
        path: ['base'],
        message: `expected a base delay at most max (${b.max} ms), got ${b.base} ms (base defaults to 500 ms, max to 30000 ms)`,
      });
    }
  })
  .describe('Backoff between retries on the same target when the provider gave no hint.');

export const retrySchema = z
  .strictObject({
    /** Attempts per request across the whole chain (first try included). */
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .max(20)
      .optional()
      .describe(
        "Attempts per request across the whole chain, first try included: one budget, never restarted by a fallback (each requeued run of an `onExhausted: 'queue'` route gets a new one).",
      ),
    /** Retries on the same target, per error kind, before falling back. */
    perKind: z
      .partialRecord(errorKind, nonNegInt)
      .optional()
      .describe(
        'Retries on the same target per error kind before falling back. Kinds you omit keep their defaults. A retry of `quota_exhausted`, `context_length`, `auth`, `policy_rejected`, `invalid_request` or `cancelled` is applied but warned about at start-up (`LLMR_RETRY_NEVER_SUCCEEDS`): it fails the same way every time.',
      ),
    backoff: backoffSchema.optional(),
    /** Longest provider hint we wait for on the same target; longer hints fall back instead. */
    maxHint: duration('a maximum hint wait')
      .optional()
      .describe(
        "Longest provider retry hint (`retry-after` & co.; for a 429 that gives only the reset of the exhausted quota, the time until the call's share has refilled) waited for on the same target; a longer hint moves on (fallback) instead.",
      ),
    /** Wait briefly for a local limit (our own limiter) before falling back. */
    maxLimiterWait: duration('a maximum limiter wait')
      .optional()
      .describe(
        'Longest wait, in all, for our own target-scoped limits, proactive pacing and a paused breaker before an attempt; beyond it the target is skipped (`limited` / `paced` / `breaker_open`).',
      ),
  })
  .describe('Retry rules. Route values override policy values field by field.');

const breakerSchema = z
  .strictObject({
    /** Sliding window over which the error rate is measured. */
    window: duration('a window', 1000).optional().describe('Sliding window (10 buckets) over which error and slow-call rates are measured.'),
    /** Error rate (0..1) that opens the breaker. */
    errorRate: z.number().min(0).max(1).optional().describe('Failure share (0..1) in the window above which the breaker opens.'),
    /** Calls in the window before the error rate counts. */
    minimumCalls: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Calls in the window before the error and slow-call rates are judged.'),
    /** Consecutive failures that open the breaker. */
    consecutiveFailures: z.number().int().positive().optional().describe('Failures in a row that open the breaker, whatever the window says.'),
    /** A call slower than this counts as slow. */
    slowCall: duration('a slow-call threshold', 1).optional().describe('A call at least this slow counts as slow.'),
    /** Share of slow calls (0..1) that opens the breaker. */
    slowCallRate: z.number().min(0).max(1).optional().describe('Slow share (0..1) in the window above which the breaker opens.'),
    /** How long the breaker stays open before half-open probes. */
    openFor: duration('an open duration', 1)
      .optional()
      .describe('How long an opened breaker stays open before half-open probes; doubles after each failed recovery (up to 8×).'),
    /** Probes admitted while half-open. */
    halfOpenProbes: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Concurrent probes admitted while half-open; this many successes end the half-open state.'),
    /** Ramp back after recovery: traffic share grows from 0 to 100% over this time. */
    rampUp: duration('a ramp-up duration')
      .optional()
      .describe('After successful probes, traffic share grows linearly from 10% to 100% over this time; 0 closes at once.'),
    /** 429s in a row that pause the target until the latest of their retry hints. */
    rateLimitPauseAfter: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        "Provider 429s in a row that pause the target until the latest of their hints: the provider's `retry-after` & co., or, for a 429 that gives only the reset of the exhausted quota, the time the call's share has refilled.",
      ),
    /** Error kinds that count as failures. */
    failOn: z.array(errorKind).optional().describe('Error kinds that count as failures; other kinds give no verdict on the target.'),
  })
  .describe('Circuit breaker thresholds, shared by every per-target and per-provider breaker.');

const messagesSchema = z
  .strictObject({
    internal: z.string().optional().describe('Message for your own team when a request hits a rate limit (direct).'),
    customer: z.string().optional().describe('Message for customers on capacity and reliability failures (calm, no provider names).'),
    queued: z
      .string()
      .optional()
      .describe("Message for work that waits in a queue. Not attached to errors: read it with `userMessageFor('queued', ...)` where you tell a user their work is waiting."),
  })
  .describe("User-facing messages per audience (the seed's step 10).");

export const routeSchema = z
  .strictObject({
    chain: z
      .array(z.union([z.string().min(1), targetSchema]))
      .min(1)
      .describe('Targets in the order they are tried: names from `targets`, or target objects written inline. The first is the primary.'),
    /** Traffic class (`live`, `batch`, `experiment` or one of `trafficClasses`). */
    priority: z
      .string()
      .min(1)
      .optional()
      .describe('Traffic class of the route (`live`, `batch`, `experiment` or a name from `trafficClasses`).'),
    retry: retrySchema.optional(),
    /** Error kinds that move to the next target. */
    fallbackOn: z
      .array(errorKind)
      .optional()
      .describe('Error kinds that move to the next target once retries on the current one are used up; other kinds stop the request.'),
    /** Per-attempt timeout for this route (target timeouts win). */
    timeout: timeout('a timeout')
      .optional()
      .describe('Per-attempt timeout for this route, 1 ms to 2147483647 ms (about 24.8 d, the longest timer delay); a target timeout wins.'),
    /** Overall deadline for a request on this route, queue wait included. */
    deadline: duration('a deadline', 1)
      .optional()
      .describe("Overall deadline of a request on this route, queue wait included (the earlier of this and the request's own)."),
    /** Output schema for structured output. */
    output: standardSchema
      .optional()
      .describe('Output schema (zod 4 or any Standard Schema). The engine parses JSON out of the reply and validates it.'),
    /** What to do when the output does not validate. */
    onInvalidOutput: z
      .enum(['retry-stricter', 'fallback', 'fail'])
      .optional()
      .describe(
        'When the reply does not validate: retry once on the same target with `ctx.repair` set (`retry-stricter`), move to the next target (`fallback`), or stop (`fail`). Needs `output`.',
      ),
    /** Largest worst-case cost (USD) one request may have; dearer targets are skipped. */
    costCeilingUsd: z
      .number()
      .nonnegative()
      .optional()
      .describe('Largest worst-case cost (USD) of one call; targets whose worst case is dearer are skipped (`cost_ceiling`).'),
    /** What happens when every target failed or was skipped. */
    onExhausted: z
      .enum(['fail', 'queue'])
      .optional()
      .describe(
        "What happens when every target failed or was skipped: `fail` rejects with `ChainExhaustedError`; `queue` waits (the provider's hint, else the breakers' `openFor`, 1 s to 60 s) and runs the chain again while it ends on a capacity kind (`rate_limited`, `overloaded`, `timeout`, `network`, `unknown`), until the deadline or the traffic class's `maxWait` (see docs/concepts/fallbacks.md).",
      ),
    /** Audience: which user-facing message errors on this route carry. */
    audience: z
      .enum(['internal', 'customer'])
      .optional()
      .describe("Who reads this route's failure messages (`error.userMessage`)."),
    messages: messagesSchema.optional(),
  })
  .describe('A route (task type): its fallback chain and how it behaves under pressure.');

export const limitRuleSchema = z
  .strictObject({
    id: z.string().min(1).optional().describe('Stable id, used in store keys, denial messages and events. Must be unique, also among the budgets\' ids.'),
    scope: z
      .array(scopeDimension)
      .describe(
        'Dimensions the limit is counted per (user, team, tenant, environment, route, provider, model), each at most once; `[]` is one global bucket. With `provider` or `model` the rule is target-scoped (reserved per attempt).',
      ),
    metric: z
      .enum(['requests', 'inputTokens', 'outputTokens', 'totalTokens', 'cost', 'concurrency'])
      .describe('What is counted: requests, input/output/total tokens, cost in USD, or requests in flight (`concurrency`).'),
    limit: positive.describe('Units allowed per window (in flight for `concurrency`: a whole number).'),
    window: duration('a window', 1000, DAY_MS)
      .optional()
      .describe('Window between 1 s and 1 d (`"1m"`, `"1h"`, ...). Required, except for `concurrency`, which counts requests in flight and refuses a window.'),
    burst: positive
      .optional()
      .describe('Bucket capacity: most units admitted at once. For whole units (every metric but `cost`) the capacity, `burst` or else `limit`, must be at least 1. Not for `concurrency` rules.'),
    match: z
      .partialRecord(scopeDimension, z.string())
      .optional()
      .describe(
        'Apply the rule only when these dimensions have these values (e.g. `{ environment: "staging" }`). A `route` must name a route; a `provider` or `model` must be one of the targets\' and needs `provider` or `model` in `scope` (else the rule is reserved before a target is chosen and would never apply).',
      ),
    onFailure: z
      .enum(['keep', 'release', 'requests'])
      .optional()
      .describe('What a failed call keeps charged on this rule: everything (`keep`), nothing (`release`), or request counts only (`requests`).'),
  })
  .superRefine((rule, ctx) => {
    if (rule.metric !== 'concurrency' && rule.window === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['window'],
        message: `expected a window between '1s' and '1d' for metric '${rule.metric}', got undefined`,
      });
    }
  })
  .describe('A limit rule: `limit` units of `metric` per `window`, counted per `scope`.');

export const budgetSchema = z
  .strictObject({
    id: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Stable id, used in store keys and `budget` events. Must be unique, also among the limit rules\' ids (limits and budgets are reserved together). A budget with a `match` gets its pairs appended to the generated id, in scope-dimension order, joined by `,` (e.g. `budget:global:86400000:route=chat`), so budgets that differ only in `match` get distinct ids.',
      ),
    scope: z
      .array(scopeDimension)
      .describe(
        'Dimensions the budget is kept per (`["tenant"]`, `["team"]`, `[]` for one global budget). Budgets are reserved once per request, before a target is chosen, so `provider` and `model` are rejected here (cap the spend of a model with a `cost` limit rule).',
      ),
    limitUsd: positive.describe('Spend cap in USD per window. Each request reserves its worst-case cost before the call.'),
    window: duration('a window', 1000, 31 * DAY_MS).describe(
      'Budget period, 1 s to 31 d. Fixed windows aligned to the epoch (a `"1d"` budget resets at 00:00 UTC).',
    ),
    match: z
      .partialRecord(scopeDimension, z.string())
      .optional()
      .describe('Apply the budget only when these dimensions have these values. A `route` must name a route; `provider` and `model` are refused (a budget is reserved before a target is chosen).'),
    /** After this share of the budget (0..1), route to `downgradeTo`. */
    downgradeAt: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe('Share of the budget (0..1) after which requests move to `downgradeTo`; needs `downgradeTo`.'),
    /** Route name to use instead once `downgradeAt` is passed. */
    downgradeTo: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Route used instead once `downgradeAt` is passed (a cheaper chain); limits and budgets then count the request under that route. Only requests the budget applies to (its `match`) are downgraded, by this budget's spend for their scope values (reservations in flight included).",
      ),
  })
  .describe('A spend cap in USD, enforced before the call.');

export const trafficClassSchema = z
  .strictObject({
    /** Higher runs first. */
    priority: z.number().int().describe('Higher is served first.'),
    /** Share (0..1) of each limit this class may not use, kept for higher classes. */
    reserve: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe('Share (0..1) of every limit this class may not use: headroom kept for higher classes.'),
    /** When a limit denies: wait briefly then fall back (`wait`), or queue (`queue`), or reject. */
    whenLimited: z
      .enum(['wait', 'queue', 'reject'])
      .optional()
      .describe('When a request-scoped limit denies: wait in the queue up to `maxWait` (`wait`, `queue`) or reject at once (`reject`).'),
    /** Longest time in the queue (or waiting) before rejection. */
    maxWait: duration('a maximum wait').optional().describe('Longest time in the queue before rejection (`max-wait`).'),
    /** Queue length per class before new work is rejected. */
    maxQueue: z.number().int().positive().optional().describe('Queued items per class before new work is rejected (`queue-full`).'),
  })
  .describe('A traffic class (live, batch, experiment or your own) and how it is scheduled.');

/**
 * The zod 4 schema of a policy: what `definePolicy` validates raw config with. Use it to validate or
 * describe configuration elsewhere (`definePolicy` adds the cross-field checks and defaults).
 *
 * @example
 * ```ts
 * const r = policySchema.safeParse(JSON.parse(raw));
 * if (!r.success) console.error(r.error.issues.map((i) => i.path.join('.')));
 * ```
 */
export const policySchema = z
  .strictObject({
    targets: z
      .record(z.string().min(1), targetSchema)
      .default({})
      .describe('Named targets (provider + model) that routes refer to by name.'),
    routes: z.record(z.string().min(1), routeSchema).describe('Routes (task types) by name; `execute({ route })` picks one.'),
    limits: z.array(limitRuleSchema).default([]).describe('Limit rules, all enforced together (reserve-then-settle, all or nothing).'),
    budgets: z.array(budgetSchema).default([]).describe('Spend caps in USD, enforced by reserving worst-case cost before each call.'),
    retry: retrySchema.optional(),
    breaker: breakerSchema.optional(),
    trafficClasses: z
      .record(z.string().min(1), trafficClassSchema)
      .optional()
      .describe('Traffic classes by name. `live`, `batch` and `experiment` always exist; entries here override them or add new ones.'),
    /** Default per-attempt timeout. */
    timeout: timeout('a timeout')
      .optional()
      .describe('Default per-attempt timeout, 1 ms to 2147483647 ms (about 24.8 d, the longest timer delay); route and target timeouts win.'),
    messages: messagesSchema.optional(),
    /** Prompts, keys and completions are never recorded unless this is true. */
    recordContent: z
      .boolean()
      .optional()
      .describe("Copy the request's `input` (prompt) into the record's `content`. Keys are never recorded."),
  })
  .describe('An llm-resilience policy: what `definePolicy` accepts.');

/**
 * What `definePolicy` accepts.
 *
 * @example
 * ```ts
 * const input: PolicyInput = { targets: { fast: { provider: 'openai', model: 'gpt-4o-mini' } }, routes: { chat: { chain: ['fast'] } } };
 * const policy = definePolicy(input);
 * ```
 */
export type PolicyInput = z.input<typeof policySchema>;
/**
 * One target of `PolicyInput.targets`: provider, model and capabilities.
 *
 * @example
 * ```ts
 * const fast: TargetInput = { provider: 'openai', model: 'gpt-4o-mini', contextWindow: 128_000, price: { input: 0.15, output: 0.6 } };
 * ```
 */
export type TargetInput = z.input<typeof targetSchema>;
/**
 * One route of `PolicyInput.routes`: a task type and its fallback chain.
 *
 * @example
 * ```ts
 * const supportReply: RouteInput = { chain: ['fast', 'backup'], timeout: '20s', priority: 'live' };
 * ```
 */
export type RouteInput = z.input<typeof routeSchema>;
/**
 * One rule of `PolicyInput.limits`.
 *
 * @example
 * ```ts
 * const userTpm: LimitRuleInput = { id: 'user-tpm', scope: ['user'], metric: 'totalTokens', limit: 40_000, window: '1m' };
 * ```
 */
export type LimitRuleInput = z.input<typeof limitRuleSchema>;
/**
 * One budget of `PolicyInput.budgets`: a spend cap in USD.
 *
 * @example
 * ```ts
 * const tenantDaily: BudgetInput = { id: 'tenant-daily', scope: ['tenant'], limitUsd: 50, window: '1d' };
 * ```
 */
export type BudgetInput = z.input<typeof budgetSchema>;
/**
 * The retry policy (`PolicyInput.retry`, or a route's `retry`).
 *
 * @example
 * ```ts
 * const retry: RetryInput = { maxAttempts: 3, backoff: { strategy: 'exponential', base: '500ms', max: '30s' } };
 * ```
 */
export type RetryInput = z.input<typeof retrySchema>;
/**
 * The circuit breakers' settings (`PolicyInput.breaker`).
 *
 * @example
 * ```ts
 * const breaker: BreakerInput = { consecutiveFailures: 5, openFor: '30s' };
 * ```
 */
export type BreakerInput = z.input<typeof breakerSchema>;
/**
 * One entry of `PolicyInput.trafficClasses`.
 *
 * @example
 * ```ts
 * const nightly: TrafficClassInput = { priority: 5, reserve: 0.3, maxWait: '1h' };
 * ```
 */
export type TrafficClassInput = z.input<typeof trafficClassSchema>;
/** Parsed (but not yet resolved) policy. */
export type ParsedPolicy = z.output<typeof policySchema>;
