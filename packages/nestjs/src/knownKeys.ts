/**
 * Unknown keys of option objects. A misspelt option (`limts`, `identiy`, `rout`) would otherwise be
 * ignored without a word, and what it meant to set silently not happen.
 */

/** Edit distance of two short strings (insertions, deletions, substitutions, swaps of neighbours). */
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
 * The known key closest to `key` (at most two edits away, case ignored), if any.
 *
 * @example
 * ```ts
 * closestKey('limts', ['limits', 'identity']); // 'limits'
 * closestKey('colour', ['limits']);            // undefined
 * ```
 */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  if (key.length > 40) return undefined;
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const dist = distance(key.toLowerCase(), k.toLowerCase());
    if (dist < bestDistance) {
      best = k;
      bestDistance = dist;
    }
  }
  return best;
}

/**
 * The first own enumerable key of `value` that is not in `known`, with the end of a message about it:
 * `"not an option (did you mean 'limits'?); known: engine, policy, ..."`. Undefined when every key is known.
 *
 * @example
 * ```ts
 * const u = unknownKey({ limts: [] }, ['engine', 'limits']);
 * if (u) throw invalid(`${where} ${u.key}: ${u.problem}.`); // "limts: not an option (did you mean 'limits'?); known: engine, limits."
 * ```
 */
export function unknownKey(value: object, known: readonly string[]): { key: string; problem: string } | undefined {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = closestKey(key, known);
    const shownKey = key.length > 40 ? `${key.slice(0, 40)}...` : key;
    return { key: shownKey, problem: `not an option${near ? ` (did you mean '${near}'?)` : ''}; known: ${known.join(', ')}` };
  }
  return undefined;
}
