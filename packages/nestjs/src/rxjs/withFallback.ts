import { classifyError, DEFAULT_FALLBACK_ON, type ErrorKind } from '@llm-resilience/core';
import { catchError, from, throwError, type ObservableInput, type Observable, type OperatorFunction } from 'rxjs';

/** Kinds that switch to the next alternative by default: the core's default `fallbackOn`. */
const DEFAULT_ON: readonly ErrorKind[] = DEFAULT_FALLBACK_ON;

/**
 * One alternative of {@link withFallback}: an ObservableInput subscribed to when the previous one
 * failed, or a function of the error (and its kind) returning one.
 *
 * @example
 * ```ts
 * const alt: FallbackAlternative<string> = (err, kind) => of(`Sorry, we are busy (${kind}).`);
 * ```
 */
export type FallbackAlternative<T> = ObservableInput<T> | ((error: unknown, kind: ErrorKind) => ObservableInput<T>);

/**
 * Options of {@link withFallback}, given as its last argument.
 *
 * @example
 * ```ts
 * withFallback(backup$, { on: ['rate_limited', 'overloaded'] });
 * ```
 */
export interface WithFallbackOptions {
  /** Error kinds that switch to the next alternative. Default: the core's default `fallbackOn` kinds. */
  on?: readonly ErrorKind[];
  /** Called when an alternative takes over (index 0 is the first alternative). */
  onFallback?: (info: { index: number; kind: ErrorKind; error: unknown }) => void;
}

function isOptions(value: unknown): value is WithFallbackOptions {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  const o = value as Record<PropertyKey, unknown>;
  return (
    typeof o.subscribe !== 'function' &&
    typeof o.then !== 'function' &&
    typeof o[Symbol.iterator] !== 'function' &&
    typeof o[Symbol.asyncIterator] !== 'function' &&
    typeof o['@@observable'] !== 'function' &&
    typeof o.getReader !== 'function'
  );
}

/**
 * Falls back to alternatives in order when the source fails with an error whose kind (the core's
 * `classifyError`, so provider SDK errors and the engine's typed errors both work) is in `on`; any
 * other error, or the last alternative's error, goes on. Alternatives are subscribed lazily.
 *
 * @example
 * ```ts
 * primary$.pipe(
 *   withFallback(backup$, (err) => of(CANNED_REPLY), { on: ['rate_limited', 'overloaded', 'timeout'] }),
 * );
 * ```
 */
export function withFallback<T>(...args: Array<FallbackAlternative<T> | WithFallbackOptions>): OperatorFunction<T, T> {
  const last = args[args.length - 1];
  const options: WithFallbackOptions = args.length > 0 && isOptions(last) ? last : {};
  const alternatives = (isOptions(last) ? args.slice(0, -1) : args) as Array<FallbackAlternative<T>>;
  const on = new Set(options.on ?? DEFAULT_ON);
  return (source: Observable<T>) =>
    alternatives.reduce<Observable<T>>(
      (current, alternative, index) =>
        current.pipe(
          catchError((error: unknown) => {
            const kind = classifyError(error).kind;
            if (!on.has(kind)) return throwError(() => error);
            options.onFallback?.({ index, kind, error });
            return from(typeof alternative === 'function' ? alternative(error, kind) : alternative);
          }),
        ),
      source,
    );
}
