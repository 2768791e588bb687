import type { Usage } from './types';

/**
 * The largest token count believed for one call of a target whose context window is not configured:
 * above every context window offered today (10M tokens) with room to spare.
 */
export const MAX_PLAUSIBLE_TOKENS = 100_000_000;

/** A usage report after {@link plausibleUsage}: what to charge, and the fields that were replaced. */
export interface CheckedUsage {
  usage: Usage;
  /** Names of the fields that were not plausible (the estimate was used for them), if any. */
  replaced: Array<keyof Usage> | undefined;
}

/**
 * Checks a usage report (from the reply, `ctx.reportUsage`, a custom extractor or a stream's
 * `complete(usage)`) before limits, budgets and the record are charged with it. A count must be a
 * finite number, at least 0, and at most twice the target's context window (one call cannot use
 * more than its window; twice leaves room for a window configured too small), or at most
 * {@link MAX_PLAUSIBLE_TOKENS} when the window is unknown. A field that is not is replaced by the
 * estimate the call was admitted with: a garbage or overflowing count would otherwise put a user's
 * token bucket in debt for months, or make it `NaN`.
 *
 * @example
 * ```ts
 * plausibleUsage({ inputTokens: 812, outputTokens: 1e308 }, 800, 200, 128_000);
 * // { usage: { inputTokens: 812, outputTokens: 200 }, replaced: ['outputTokens'] }
 * ```
 */
export function plausibleUsage(reported: Usage, estimatedInput: number, estimatedOutput: number, contextWindow: number | undefined): CheckedUsage {
  const max = contextWindow !== undefined ? 2 * contextWindow : MAX_PLAUSIBLE_TOKENS;
  const input = reported.inputTokens;
  const output = reported.outputTokens;
  const inputOk = isCount(input, max);
  const outputOk = isCount(output, max);
  if (inputOk && outputOk) return { usage: reported, replaced: undefined };
  const replaced: Array<keyof Usage> = [];
  if (!inputOk) replaced.push('inputTokens');
  if (!outputOk) replaced.push('outputTokens');
  return { usage: { inputTokens: inputOk ? input : estimatedInput, outputTokens: outputOk ? output : estimatedOutput }, replaced };
}

function isCount(v: unknown, max: number): v is number {
  return typeof v === 'number' && v >= 0 && v <= max;
}
