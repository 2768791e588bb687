/**
 * `value instanceof C`, except that it answers `false` instead of throwing: `instanceof` runs a
 * Proxy's `getPrototypeOf` trap, which may throw (a revoked Proxy always does). The engine tests what
 * a model call threw with it, so a hostile value cannot skip the engine's clean-up.
 *
 * @example
 * ```ts
 * if (isInstance(err, RequestFailedError)) throw err;
 * ```
 */
export function isInstance<T>(value: unknown, C: abstract new (...args: never[]) => T): value is T {
  try {
    return value instanceof C;
  } catch {
    return false;
  }
}
