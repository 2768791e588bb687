import { redactOptionProblems } from '../errors/Redactor';
import { ResilienceError } from '../errors/ResilienceError';
import type { Metrics } from '../observability/Metrics';
import type { ResilienceOptions } from './types';

/**
 * What the option's value should have been (`undefined`: it is fine), or, for an option with parts
 * (`redact`), every problem with its own path.
 */
type Check = (v: unknown) => string | { problems: string[] } | undefined;

const fn: Check = (v) => (typeof v === 'function' ? undefined : 'a function');
const object: Check = (v) => (v !== null && typeof v === 'object' ? undefined : 'an object');
/** An object whose `methods` are functions. */
const withMethods =
  (...methods: string[]): Check =>
  (v) => {
    const expected = `an object with ${methods.map((m) => `${m}()`).join(' and ')}`;
    if (v === null || typeof v !== 'object') return expected;
    return methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function') ? undefined : expected;
  };
/** The methods of `Metrics` (every one optional to the guard, which treats a missing one as a no-op). */
const METRICS_METHODS = ['request', 'attempt', 'breaker', 'queue', 'lateUsage'] as const satisfies readonly (keyof Metrics)[];
/** Fails to compile when `Metrics` gains a method this list does not name. */
const everyMetricsMethod: Exclude<keyof Metrics, (typeof METRICS_METHODS)[number]> extends never ? true : never = true;
void everyMetricsMethod;
const positive: Check = (v) => (typeof v === 'number' && v > 0 && v < Infinity ? undefined : 'a finite number > 0');

const CHECKS: Record<keyof ResilienceOptions, Check> = {
  clock: withMethods('now', 'sleep'),
  store: withMethods('reserve', 'adjust'),
  tokenizer: withMethods('count'),
  logger: (v) => {
    if (v === null || typeof v !== 'object') return 'an object with debug/info/warn/error methods';
    for (const level of ['debug', 'info', 'warn', 'error']) {
      const m = (v as Record<string, unknown>)[level];
      if (m !== undefined && typeof m !== 'function') return `an object whose ${level} is a function`;
    }
    return undefined;
  },
  random: fn,
  usage: fn,
  text: fn,
  retryBudget: (v) => {
    if (v === false) return undefined;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'false, or { maxTokens, tokenRatio } with finite numbers > 0';
    const problems: string[] = [];
    for (const [key, value] of Object.entries(v)) {
      if (value === undefined) continue;
      if (key !== 'maxTokens' && key !== 'tokenRatio') {
        problems.push(`options.retryBudget.${key}: unknown option (known: maxTokens, tokenRatio)`);
        continue;
      }
      const expected = positive(value);
      if (expected !== undefined) problems.push(`options.retryBudget.${key}: expected ${expected}, got ${typeOf(value)}`);
    }
    return problems.length > 0 ? { problems } : undefined;
  },
  metrics: (v) => {
    const expected = `an object with at least one of ${METRICS_METHODS.map((m) => `${m}()`).join(', ')}`;
    if (v === null || typeof v !== 'object') return expected;
    const sink = v as Record<string, unknown>;
    const problems: string[] = [];
    for (const m of METRICS_METHODS) {
      const method = sink[m];
      if (method !== undefined && typeof method !== 'function') problems.push(`options.metrics.${m}: expected a function, got ${typeOf(method)}`);
    }
    if (problems.length > 0) return { problems };
    // Other members are allowed, as on clock, store and logger: a sink is often a class instance with
    // its own fields. But a sink with none of the methods (a misspelt `requests`) would drop everything.
    return METRICS_METHODS.some((m) => typeof sink[m] === 'function') ? undefined : expected;
  },
  defaultMaxOutputTokens: positive,
  breakerSync: withMethods('publish'),
  pacingSync: withMethods('publish'),
  redact: (v) => {
    const problems = redactOptionProblems(v, 'options.redact');
    return problems.length > 0 ? { problems } : undefined;
  },
};

/**
 * @internal The names of the options `createResilience` knows, in the order it lists them.
 *
 * @example
 * ```ts
 * RESILIENCE_OPTION_NAMES.includes('redact'); // true
 * ```
 */
export const RESILIENCE_OPTION_NAMES: readonly string[] = Object.keys(CHECKS);

/**
 * Checks the options of `createResilience` when the engine is created, so a wrong one fails at
 * start-up instead of on the first request (or, for a retry budget, after the first success).
 * Throws a {@link ResilienceError} (`ERR_LLMR_INVALID_OPTIONS`) listing every bad option with what
 * was expected; unknown options are reported too (a misspelt `loger` would otherwise do nothing), and
 * so are unknown keys of the plain-data options `retryBudget` and `redact`. An object option with
 * methods (`clock`, `store`, `logger`, `metrics`, ...) may carry other members, but a `metrics` sink
 * must have at least one `Metrics` method.
 *
 * @example
 * ```ts
 * checkResilienceOptions({ retryBudget: { maxTokens: Number.NaN } });
 * // throws: options.retryBudget.maxTokens: expected a finite number > 0, got NaN
 * ```
 */
export function checkResilienceOptions(options: ResilienceOptions): void {
  if (options === null || typeof options !== 'object') throw invalid([`options: expected an object, got ${typeOf(options)}`]);
  const problems: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const check = (CHECKS as Record<string, Check | undefined>)[key];
    if (check === undefined) {
      problems.push(`options.${key}: unknown option (known: ${RESILIENCE_OPTION_NAMES.join(', ')})`);
      continue;
    }
    const expected = check(value);
    if (typeof expected === 'string') problems.push(`options.${key}: expected ${expected}, got ${typeOf(value)}`);
    else if (expected !== undefined) problems.push(...expected.problems);
  }
  if (problems.length > 0) throw invalid(problems);
}

function invalid(problems: string[]): ResilienceError {
  return new ResilienceError(`Invalid createResilience options:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
    kind: 'invalid_request',
    code: 'ERR_LLMR_INVALID_OPTIONS',
  });
}

/** The value's type (never its contents: an option may hold a key or a client). */
function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return String(v);
  return typeof v;
}
