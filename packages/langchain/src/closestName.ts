/** Edits (insert, delete, replace) that turn `x` into `y`. */
function distance(x: string, y: string): number {
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[y.length]!;
}

/**
 * The name in `names` that `given` is most likely a typo of (at most 2 edits away, case ignored, or
 * one of them starting with the other), else `undefined`.
 *
 * @example
 * ```ts
 * closestName('fallback', ['fallbacks', 'targets']); // 'fallbacks'
 * closestName('retries', ['fallbacks', 'targets']); // undefined
 * ```
 */
export function closestName(given: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const g = given.toLowerCase();
  for (const name of names) {
    const n = name.toLowerCase();
    const prefix = g.length >= 4 && (n.startsWith(g) || g.startsWith(n));
    const score = prefix ? 1 : distance(g, n);
    if (score < bestDistance) {
      best = name;
      bestDistance = score;
    }
  }
  return bestDistance <= 2 ? best : undefined;
}
