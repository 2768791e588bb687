/**
 * A backoff strategy: how long to wait before retry number `retry` (1 for the first retry).
 * Immutable; `random` is injected so tests are exact.
 *
 * @example
 * ```ts
 * const b = exponentialBackoff({ base: 500, max: 30_000 });
 * b.delay(1, 0, Math.random); // 0..1000 ms (full jitter)
 * ```
 */
export interface Backoff {
  readonly strategy: 'exponential' | 'decorrelated' | 'constant';
  /** Delay in ms before retry number `retry` (1-based); `previous` is the last delay used (0 at first). */
  delay(retry: number, previous: number, random: () => number): number;
}

/**
 * Exponential backoff with full jitter (the default, as AWS and OpenAI recommend):
 * `random(0, min(max, base * 2^retry))`.
 *
 * @example
 * ```ts
 * exponentialBackoff({ base: 500, max: 8000 }).delay(3, 0, () => 0.5); // 2000
 * ```
 */
export function exponentialBackoff(opts: { base: number; max: number }): Backoff {
  return {
    strategy: 'exponential',
    delay: (retry, _previous, random) => random() * Math.min(opts.max, opts.base * 2 ** retry),
  };
}

/**
 * Decorrelated jitter: `min(max, random(base, previous * 3))`; spreads retries of many clients apart.
 *
 * @example
 * ```ts
 * decorrelatedBackoff({ base: 500, max: 8000 }).delay(2, 900, () => 0); // 500
 * ```
 */
export function decorrelatedBackoff(opts: { base: number; max: number }): Backoff {
  return {
    strategy: 'decorrelated',
    delay: (_retry, previous, random) => {
      const upper = Math.max(opts.base, (previous || opts.base) * 3);
      return Math.min(opts.max, opts.base + random() * (upper - opts.base));
    },
  };
}

/**
 * The same delay every time.
 *
 * @example
 * ```ts
 * constantBackoff({ delay: 1000 }).delay(5, 0, Math.random); // 1000
 * ```
 */
export function constantBackoff(opts: { delay: number }): Backoff {
  return { strategy: 'constant', delay: () => opts.delay };
}
