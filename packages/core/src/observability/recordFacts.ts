import type { AttemptRecord, RequestRecord } from '../engine/types';

/**
 * Internal: what the metric sinks derive from one request record (shared by the OpenTelemetry and
 * Prometheus sinks so both count the same way).
 */
export interface RecordFacts {
  /** One entry per move to a later target: the target moved to. */
  fallbacksTo: string[];
  /**
   * Provider 429s on the way to a successful answer: rate pressure the engine absorbed. A 429 the
   * request can never pass (`neverFits`, OpenAI's "Request too large") is not one: it is the request's
   * size, not load, as for the breakers (see `isNeverFits`).
   */
  rateLimitsAbsorbed: Array<{ target: string; provider: string }>;
  /** Provider of the target that answered (or was tried last). */
  finalProvider?: string;
  /** The model that answered, else the primary model. */
  model: string;
  /**
   * Tokens of the answer the request used, for the token metrics; undefined when no answer's usage is
   * on the record (see {@link usedTokens}).
   */
  tokens?: { input: number; output: number };
}

/**
 * Derives fallbacks, absorbed 429s and the final provider from a record.
 *
 * @example
 * ```ts
 * recordFacts(record).fallbacksTo; // ['fast-b']
 * ```
 */
export function recordFacts(record: RequestRecord): RecordFacts {
  const attempts = record.attempts;
  const fallbacksTo: string[] = [];
  const first = attempts[0];
  if (first && first.model !== record.primary_model) fallbacksTo.push(first.target); // primary skipped
  for (let i = 1; i < attempts.length; i++) {
    const a = attempts[i]!;
    // A chain that started over after a requeue wait is a new run: going back to the primary is no
    // fallback, starting on another target (the primary skipped) is one, as for a request's first attempt.
    const moved = a.requeued === true ? a.model !== record.primary_model : a.target !== attempts[i - 1]!.target;
    if (moved) fallbacksTo.push(a.target);
  }
  // Primary skipped for a target with the same model name (another provider): still a fallback.
  if (record.fallback_used && fallbacksTo.length === 0 && first) fallbacksTo.push(first.target);

  const rateLimitsAbsorbed =
    record.outcome === 'success'
      ? attempts.filter(absorbedRateLimit).map((a) => ({ target: a.target, provider: a.provider }))
      : [];

  let final = record.final_target ? [...attempts].reverse().find((a) => a.target === record.final_target) : undefined;
  final ??= record.final_model ? [...attempts].reverse().find((a) => a.model === record.final_model) : undefined;
  final ??= attempts[attempts.length - 1];

  const facts: RecordFacts = { fallbacksTo, rateLimitsAbsorbed, model: record.final_model ?? record.primary_model };
  if (final) facts.finalProvider = final.provider;
  const tokens = usedTokens(record);
  if (tokens) facts.tokens = tokens;
  return facts;
}

/**
 * True for an attempt that `rate_limits_absorbed` counts (when the request succeeded): a provider 429
 * of rate pressure, which a wait, retry or fallback got past. A 429 the request can never pass
 * (`neverFits`: it alone exceeds the limit, OpenAI's "Request too large") is not rate pressure and
 * not counted, as it is no breaker verdict (see `isNeverFits`).
 *
 * @example
 * ```ts
 * absorbedRateLimit({ errorKind: 'rate_limited' });                  // true
 * absorbedRateLimit({ errorKind: 'rate_limited', neverFits: true }); // false: "Request too large"
 * absorbedRateLimit({ errorKind: 'overloaded' });                    // false
 * ```
 */
export function absorbedRateLimit(a: Pick<AttemptRecord, 'errorKind' | 'neverFits'>): boolean {
  return a.errorKind === 'rate_limited' && a.neverFits !== true;
}

/**
 * The tokens of the answer a request used, as the token metrics count them, or undefined when the
 * record holds none. A record starts with the pre-call estimate as `input_tokens`, and a failed
 * request keeps it: no provider answered (every call refused, a rejection at admission or in the
 * queue), or the replies were rejected by validation (billed: their cost is in `actual_cost`, their
 * tokens are no answer the request used). So only records with a `final_model` count: a success, and
 * a stream that broke off after it started whose adapter gave its usage (`fail(error, usage)`).
 *
 * @example
 * ```ts
 * usedTokens({ ...record, outcome: 'failure', attempts: [] }); // undefined: no provider answered
 * ```
 */
export function usedTokens(record: RequestRecord): { input: number; output: number } | undefined {
  const answered = record.outcome === 'success' || record.final_model !== undefined;
  if (!answered || (record.input_tokens <= 0 && record.output_tokens <= 0)) return undefined;
  return { input: Math.max(0, record.input_tokens), output: Math.max(0, record.output_tokens) };
}

/**
 * Numeric breaker state for gauges: 0 closed, 1 half-open, 2 open, 3 paused, 4 ramping, -1 unknown.
 *
 * @example
 * ```ts
 * breakerStateValue('half_open'); // 1
 * ```
 */
export function breakerStateValue(state: string): number {
  switch (state.toLowerCase().replace('-', '_')) {
    case 'closed':
      return 0;
    case 'half_open':
      return 1;
    case 'open':
      return 2;
    case 'paused':
      return 3;
    case 'ramping':
      return 4;
    default:
      return -1;
  }
}

/**
 * Keeps a free-form reason usable as a metric label: a short lower-case code passes, anything else
 * (sentences, numbers, ids) becomes `other`, so labels stay low-cardinality.
 *
 * @example
 * ```ts
 * reasonLabel('error_rate'); // 'error_rate'
 * reasonLabel('error rate 25% over 2m'); // 'other'
 * ```
 */
export function reasonLabel(reason: string | undefined): string {
  if (!reason) return 'unknown';
  return /^[a-z][a-z0-9_.-]{0,39}$/.test(reason) ? reason : 'other';
}

/**
 * The error kind of an attempt for `error.type` / `error_kind`: undefined on success, `validation_failed`
 * for a reply that failed the schema, `unknown` when the engine gave no kind.
 *
 * @example
 * ```ts
 * attemptErrorKind({ outcome: 'error', errorKind: 'timeout' }); // 'timeout'
 * ```
 */
export function attemptErrorKind(a: Pick<AttemptRecord, 'outcome' | 'errorKind'>): string | undefined {
  if (a.outcome === 'success') return undefined;
  return a.errorKind ?? (a.outcome === 'invalid_output' ? 'validation_failed' : 'unknown');
}

/** Milliseconds to seconds for duration instruments. */
export const toSeconds = (ms: number): number => ms / 1000;
