/**
 * An injected random source kept to [0, 1): a value outside it (NaN, 1e9, -5) or a throw would put
 * NaN, huge or negative waits into a backoff; `Math.random()` stands in for that draw.
 *
 * @example
 * ```ts
 * const random = unitRandom(options.random ?? Math.random);
 * const waitMs = 100 * (0.5 + random() / 2); // always within [50, 100)
 * ```
 */
export function unitRandom(random: () => number): () => number {
  return () => {
    let v: number;
    try {
      v = random();
    } catch {
      return Math.random();
    }
    return v >= 0 && v < 1 ? v : Math.random();
  };
}
