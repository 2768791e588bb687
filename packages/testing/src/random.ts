/**
 * A source of uniform numbers in [0, 1).
 *
 * @example
 * ```ts
 * const rnd: Random = createRandom(42);
 * ```
 */
export type Random = () => number;

/**
 * A small seeded PRNG (mulberry32): the same seed always gives the same sequence.
 *
 * @example
 * ```ts
 * const rnd = createRandom(42);
 * rnd(); // 0.6011037519201636, every time
 * ```
 */
export function createRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 32-bit FNV-1a hash of a string, as 8 lowercase hex digits. Used to tag replies with the prompt.
 *
 * @example
 * ```ts
 * hashText('hello'); // '4f9f2cab'
 * ```
 */
export function hashText(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** One standard normal sample (Box–Muller). */
function normal(rnd: Random): number {
  const u = Math.max(rnd(), Number.EPSILON);
  const v = rnd();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * A log-normal sample with the given median and 95th percentile (both > 0, p95 >= p50).
 *
 * @example
 * ```ts
 * const ms = sampleLogNormal(createRandom(1), 300, 1200);
 * ```
 */
export function sampleLogNormal(rnd: Random, p50: number, p95: number): number {
  if (p50 <= 0) return 0;
  const sigma = p95 > p50 ? Math.log(p95 / p50) / 1.6448536269514722 : 0;
  return p50 * Math.exp(sigma * normal(rnd));
}
