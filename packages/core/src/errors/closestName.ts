/** Edits (insert, delete, replace, swap of neighbours) that turn `a` into `b`. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The name in `names` that `given` is most likely a typo of, for "did you mean ...?" in configuration
 * errors: at most two edits away (a swap of neighbours is one), case ignored, or (from 4 characters) one
 * of them starting with the other; else `undefined`. Names longer than 40 characters get no suggestion.
 *
 * @example
 * ```ts
 * closestName('limts', ['limits', 'identity']);                  // 'limits'
 * closestName('maxOutput', ['maxOutputTokens', 'fallbacks']);     // 'maxOutputTokens'
 * closestName('colour', ['limits']);                              // undefined
 * ```
 */
export function closestName(given: string, names: readonly string[]): string | undefined {
  if (given.length > 40) return undefined;
  const g = given.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of names) {
    const n = name.toLowerCase();
    const score = g.length >= 4 && (n.startsWith(g) || g.startsWith(n)) ? 1 : distance(g, n);
    if (score < bestDistance) {
      best = name;
      bestDistance = score;
    }
  }
  return best;
}
