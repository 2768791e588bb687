import { z } from 'zod';
import { ERROR_KINDS, type ErrorKind } from '../errors/ErrorKind';
import { parseDuration } from './duration';

const DAY_MS = 86_400_000;

const duration = (what: string, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .union([z.number(), z.string()])
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined || ms < min || ms > max) {
        ctx.addIssue({
          code: 'custom',
          message: `expected ${what} (a number of ms or a string like '500ms', '1s', '1m', '1h', '1d'${
            min > 0 || max < Number.MAX_SAFE_INTEGER ? ` between ${min} ms and ${max} ms` : ''
          }), got ${JSON.stringify(value)}`,
        });
        return z.NEVER;
      }
      return ms;
    });

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

export const targetSchema = z.strictObject({
  provider: z.string().min(1),
  model: z.string().min(1),
  /** Context window in tokens; prompts that do not fit skip this target. */
  contextWindow: z.number().int().positive().optional(),
  /** Largest output the model can produce. */
  maxOutputTokens: z.number().int().positive().optional(),
  /** USD per 1M tokens. */
  price: z.strictObject({ input: z.number().nonnegative(), output: z.number().nonnegative() }).optional(),
  /** Data classes this target is approved for. Omitted: approved only for requests without a data class. */
  dataClasses: z.array(z.string().min(1)).optional(),
  /** Per-attempt timeout. */
  timeout: duration('a timeout', 1).optional(),
  /** Which tokenizer estimates prompts for this target. */
  tokenizer: z.enum(['openai', 'heuristic']).optional(),
  /** Free-form values handed to the call (base URL alias, deployment name...). */
  meta: z.record(z.string(), z.unknown()).optional(),
});

const backoffSchema = z.discriminatedUnion('strategy', [
  z.strictObject({
    strategy: z.literal('exponential'),
    base: duration('a base delay').default(500),
    max: duration('a maximum delay').default(30_000),
  }),
  z.strictObject({
    strategy: z.literal('decorrelated'),
    base: duration('a base delay').default(500),
    max: duration('a maximum delay').default(30_000),
  }),
  z.strictObject({ strategy: z.literal('constant'), delay: duration('a delay').default(1000) }),
]);

export const retrySchema = z.strictObject({
  /** Attempts per request across the whole chain (first try included). */
  maxAttempts: z.number().int().min(1).max(20).optional(),
  /** Retries on the same target, per error kind, before falling back. */
  perKind: z.partialRecord(errorKind, nonNegInt).optional(),
  backoff: backoffSchema.optional(),
  /** Longest provider hint we wait for on the same target; longer hints fall back instead. */
  maxHint: duration('a maximum hint wait').optional(),
  /** Wait briefly for a local limit (our own limiter) before falling back. */
  maxLimiterWait: duration('a maximum limiter wait').optional(),
});

const breakerSchema = z.strictObject({
  /** Sliding window over which the error rate is measured. */
  window: duration('a window', 1000).optional(),
  /** Error rate (0..1) that opens the breaker. */
  errorRate: z.number().min(0).max(1).optional(),
  /** Calls in the window before the error rate counts. */
  minimumCalls: z.number().int().positive().optional(),
  /** Consecutive failures that open the breaker. */
  consecutiveFailures: z.number().int().positive().optional(),
  /** A call slower than this counts as slow. */
  slowCall: duration('a slow-call threshold', 1).optional(),
  /** Share of slow calls (0..1) that opens the breaker. */
  slowCallRate: z.number().min(0).max(1).optional(),
  /** How long the breaker stays open before half-open probes. */
  openFor: duration('an open duration', 1).optional(),
  /** Probes admitted while half-open. */
  halfOpenProbes: z.number().int().positive().optional(),
  /** Ramp back after recovery: traffic share grows from 0 to 100% over this time. */
  rampUp: duration('a ramp-up duration').optional(),
  /** 429s in a row that pause the target until the provider's reset time. */
  rateLimitPauseAfter: z.number().int().positive().optional(),
  /** Error kinds that count as failures. */
  failOn: z.array(errorKind).optional(),
});

const messagesSchema = z.strictObject({
  internal: z.string().optional(),
  customer: z.string().optional(),
  queued: z.string().optional(),
});

export const routeSchema = z.strictObject({
  chain: z.array(z.union([z.string().min(1), targetSchema])).min(1),
  /** Traffic class (`live`, `batch`, `experiment` or one of `trafficClasses`). */
  priority: z.string().min(1).optional(),
  retry: retrySchema.optional(),
  /** Error kinds that move to the next target. */
  fallbackOn: z.array(errorKind).optional(),
  /** Per-attempt timeout for this route (target timeouts win). */
  timeout: duration('a timeout', 1).optional(),
  /** Overall deadline for a request on this route, queue wait included. */
  deadline: duration('a deadline', 1).optional(),
  /** Output schema for structured output. */
  output: standardSchema.optional(),
  /** What to do when the output does not validate. */
  onInvalidOutput: z.enum(['retry-stricter', 'fallback', 'fail']).optional(),
  /** Largest worst-case cost (USD) one request may have; dearer targets are skipped. */
  costCeilingUsd: z.number().nonnegative().optional(),
  /** What happens when every target failed or was skipped. */
  onExhausted: z.enum(['fail', 'queue']).optional(),
  /** Audience: which user-facing message errors on this route carry. */
  audience: z.enum(['internal', 'customer']).optional(),
  messages: messagesSchema.optional(),
});

export const limitRuleSchema = z
  .object({
    id: z.string().min(1).optional(),
    scope: z.array(scopeDimension),
    metric: z.enum(['requests', 'inputTokens', 'outputTokens', 'totalTokens', 'cost', 'concurrency']),
    limit: positive,
    window: duration('a window', 1000, DAY_MS).optional(),
    burst: positive.optional(),
    match: z.partialRecord(scopeDimension, z.string()).optional(),
    onFailure: z.enum(['keep', 'release', 'requests']).optional(),
  })
  .superRefine((rule, ctx) => {
    if (rule.metric !== 'concurrency' && rule.window === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['window'],
        message: `expected a window between '1s' and '1d' for metric '${rule.metric}', got undefined`,
      });
    }
  });

export const budgetSchema = z.strictObject({
  id: z.string().min(1).optional(),
  scope: z.array(scopeDimension),
  limitUsd: positive,
  window: duration('a window', 1000, 31 * DAY_MS),
  match: z.partialRecord(scopeDimension, z.string()).optional(),
  /** After this share of the budget (0..1), route to `downgradeTo`. */
  downgradeAt: z.number().min(0).max(1).optional(),
  /** Route name to use instead once `downgradeAt` is passed. */
  downgradeTo: z.string().min(1).optional(),
});

export const trafficClassSchema = z.strictObject({
  /** Higher runs first. */
  priority: z.number().int(),
  /** Share (0..1) of each limit this class may not use, kept for higher classes. */
  reserve: z.number().min(0).max(1).optional(),
  /** When a limit denies: wait briefly then fall back (`wait`), or queue (`queue`), or reject. */
  whenLimited: z.enum(['wait', 'queue', 'reject']).optional(),
  /** Longest time in the queue (or waiting) before rejection. */
  maxWait: duration('a maximum wait').optional(),
  /** Queue length per class before new work is rejected. */
  maxQueue: z.number().int().positive().optional(),
});

export const policySchema = z.strictObject({
  targets: z.record(z.string().min(1), targetSchema).default({}),
  routes: z.record(z.string().min(1), routeSchema),
  limits: z.array(limitRuleSchema).default([]),
  budgets: z.array(budgetSchema).default([]),
  retry: retrySchema.optional(),
  breaker: breakerSchema.optional(),
  trafficClasses: z.record(z.string().min(1), trafficClassSchema).optional(),
  /** Default per-attempt timeout. */
  timeout: duration('a timeout', 1).optional(),
  messages: messagesSchema.optional(),
  /** Prompts, keys and completions are never recorded unless this is true. */
  recordContent: z.boolean().optional(),
});

/** What `definePolicy` accepts. */
export type PolicyInput = z.input<typeof policySchema>;
export type TargetInput = z.input<typeof targetSchema>;
export type RouteInput = z.input<typeof routeSchema>;
export type LimitRuleInput = z.input<typeof limitRuleSchema>;
export type BudgetInput = z.input<typeof budgetSchema>;
export type RetryInput = z.input<typeof retrySchema>;
export type BreakerInput = z.input<typeof breakerSchema>;
export type TrafficClassInput = z.input<typeof trafficClassSchema>;
/** Parsed (but not yet resolved) policy. */
export type ParsedPolicy = z.output<typeof policySchema>;
