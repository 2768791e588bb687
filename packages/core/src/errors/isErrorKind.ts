import { ERROR_KINDS, type ErrorKind } from './ErrorKind';

/**
 * True when `value` is one of the {@link ErrorKind} strings.
 *
 * @example
 * ```ts
 * isErrorKind('rate_limited'); // true
 * isErrorKind('RATE_LIMITED'); // false
 * isErrorKind(429);            // false
 * ```
 */
export function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && (ERROR_KINDS as readonly string[]).includes(value);
}
