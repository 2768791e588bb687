import { redactOptionProblems } from '../errors/Redactor';
import { ResilienceError } from '../errors/ResilienceError';
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
    const expected = 'false, or { maxTokens, tokenRatio } with finite numbers > 0';
    if (v === false) return undefined;
    if (v === null || typeof v !== 'object') return expected;
    const { maxTokens, tokenRatio } = v as { maxTokens?: unknown; tokenRatio?: unknown };
    if (maxTokens !== undefined && positive(maxTokens) !== undefined) return expected;
    if (tokenRatio !== undefined && positive(tokenRatio) !== undefined) return expected;
    return undefined;
  },
  metrics: object,
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
 * was expected; unknown options are reported too (a misspelt `loger` would otherwise do nothing).
 *
 * @example
 * ```ts
 * checkResilienceOptions({ retryBudget: { maxTokens: Number.NaN } });
 * // throws: options.retryBudget: expected false, or { maxTokens, tokenRatio } with finite numbers > 0, got object
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
