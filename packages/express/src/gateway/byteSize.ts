/**
 * A size as `express.json({ limit })` reads it: a number of bytes, or a number with a unit
 * (`'4mb'`, `'100kb'`, `'1.5gb'`; units of 1024, case-insensitive).
 *
 * @example
 * ```ts
 * BYTE_SIZE.test('64mb'); // true
 * BYTE_SIZE.test('lots'); // false
 * ```
 */
export const BYTE_SIZE = /^\d+(\.\d+)?\s*(b|kb|mb|gb|tb|pb)?$/i;

const UNITS: Readonly<Record<string, number>> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4, pb: 1024 ** 5 };

/**
 * The whole number of bytes a size stands for (a fraction of a byte is dropped), or `undefined` when
 * it is not a size: a number that is not a whole number >= 0, or a string {@link BYTE_SIZE} does not
 * match.
 *
 * @example
 * ```ts
 * parseByteSize('64mb'); // 67_108_864
 * parseByteSize(1024); // 1024
 * parseByteSize('32 MiB'); // undefined
 * ```
 */
export function parseByteSize(size: unknown): number | undefined {
  if (typeof size === 'number') return Number.isSafeInteger(size) && size >= 0 ? size : undefined;
  if (typeof size !== 'string') return undefined;
  const m = BYTE_SIZE.exec(size.trim());
  if (!m) return undefined;
  const bytes = Math.floor(Number.parseFloat(size) * UNITS[(m[2] ?? 'b').toLowerCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
