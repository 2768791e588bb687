import { MAX_TIMER_MS, type Clock } from '@llm-resilience/core';
import { RedisStoreConfigError } from './RedisStoreConfigError';

/**
 * Longest delay `setTimeout` honours (core's `MAX_TIMER_MS`, about 24.8 days): Node fires a longer
 * timer after 1 ms, which would time out every Redis call, so timeouts above it are rejected.
 *
 * @example
 * ```ts
 * timeoutOption('timeoutMs', 3_000_000_000, 100); // throws RedisStoreConfigError
 * ```
 */
export const MAX_TIMEOUT_MS = MAX_TIMER_MS;

/**
 * How a wrong option value is shown in an error: numbers and booleans as they are, everything else by
 * its type. Strings are never quoted (a misplaced Redis URL or password must not reach the logs).
 *
 * @example
 * ```ts
 * describeValue('redis://:secret@host'); // 'a string'
 * describeValue(-1); // '-1'
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'number':
    case 'boolean':
      return String(value);
    case 'string':
      return value === '' ? 'an empty string' : 'a string';
    case 'bigint':
      return 'a bigint';
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      return 'an object';
  }
}

/**
 * Throws the {@link RedisStoreConfigError} of an option that is not what it should be.
 *
 * @example
 * ```ts
 * if (typeof v !== 'boolean') invalidOption('hashTag', 'true or false', v);
 * ```
 */
export function invalidOption(path: string, expected: string, value: unknown): never {
  throw new RedisStoreConfigError(`\`${path}\` must be ${expected}, got ${describeValue(value)}.`, path);
}

/**
 * The options argument of a constructor, checked to be an object.
 *
 * @example
 * ```ts
 * const o = optionsObject(options, 'RedisLimiterStore');
 * ```
 */
export function optionsObject(options: unknown, owner: string): Record<string, unknown> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new RedisStoreConfigError(`the options of ${owner} must be an object, got ${describeValue(options)}.`);
  }
  return options as Record<string, unknown>;
}

/**
 * Rejects a key of `options` that is not in `known` (a typo would otherwise silently keep a default).
 * `path` prefixes the key in the message, for nested options.
 *
 * @example
 * ```ts
 * knownKeys(o, ['redis', 'prefix'], 'RedisStateStore'); // throws on { redis, prefx: 'app' }
 * ```
 */
export function knownKeys(options: Record<string, unknown>, known: readonly string[], owner: string, path = ''): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const name = key.length > 40 ? `${key.slice(0, 40)}…` : key;
    const lower = key.toLowerCase();
    const hint = lower.length >= 3 ? known.find((k) => k.toLowerCase().startsWith(lower) || lower.startsWith(k.toLowerCase())) : undefined;
    throw new RedisStoreConfigError(
      `unknown option \`${path}${name}\` of ${owner}${hint ? ` (did you mean \`${path}${hint}\`?)` : ''}; ` +
        `known options${path ? ` of \`${path.slice(0, -1)}\`` : ''}: ${known.join(', ')}.`,
      path + key,
    );
  }
}

/**
 * A nested options object (`probeBackoffMs`): `{}` when absent, else checked to be an object with only
 * `known` keys.
 *
 * @example
 * ```ts
 * const backoff = nestedOptions('probeBackoffMs', o.probeBackoffMs, ['initial', 'max'], 'RedisLimiterStore');
 * ```
 */
export function nestedOptions(path: string, value: unknown, known: readonly string[], owner: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalidOption(path, `an object with ${known.map((k) => `\`${k}\``).join(' and/or ')}`, value);
  }
  const o = value as Record<string, unknown>;
  knownKeys(o, known, owner, `${path}.`);
  return o;
}

/**
 * A number option: `fallback` when absent; rejected unless a number for which `ok` holds.
 *
 * @example
 * ```ts
 * const f = numberOption('localFraction', o.localFraction, 0.25, 'a number in (0, 1]', (n) => n > 0 && n <= 1);
 * ```
 */
export function numberOption(path: string, value: unknown, fallback: number, expected: string, ok: (n: number) => boolean): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !ok(value)) invalidOption(path, expected, value);
  return value;
}

/**
 * A duration in ms that must be positive and finite.
 *
 * @example
 * ```ts
 * const leaseMs = positiveMsOption('leaseMs', o.leaseMs, 600_000);
 * ```
 */
export function positiveMsOption(path: string, value: unknown, fallback: number): number {
  return numberOption(path, value, fallback, 'a positive finite number of milliseconds', (n) => n > 0 && n <= Number.MAX_VALUE);
}

/**
 * A duration in ms that must be finite and not negative.
 *
 * @example
 * ```ts
 * const marginMs = nonNegativeMsOption('expiryMarginMs', o.expiryMarginMs, 1000);
 * ```
 */
export function nonNegativeMsOption(path: string, value: unknown, fallback: number): number {
  return numberOption(path, value, fallback, 'a finite number of milliseconds >= 0', (n) => n >= 0 && n <= Number.MAX_VALUE);
}

/**
 * A timer duration in ms: positive and at most {@link MAX_TIMEOUT_MS}.
 *
 * @example
 * ```ts
 * const timeoutMs = timeoutOption('timeoutMs', o.timeoutMs, 100);
 * ```
 */
export function timeoutOption(path: string, value: unknown, fallback: number): number {
  return numberOption(path, value, fallback, `a positive number of milliseconds, at most ${MAX_TIMEOUT_MS}`, (n) => n > 0 && n <= MAX_TIMEOUT_MS);
}

/**
 * An optional boolean option.
 *
 * @example
 * ```ts
 * const hashTag = booleanOption('hashTag', o.hashTag);
 * ```
 */
export function booleanOption(path: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') invalidOption(path, 'true or false', value);
  return value;
}

/**
 * An optional key prefix: a non-empty string (an empty one would make the hash tag `{}`, which Redis
 * Cluster ignores, spreading a reservation's keys over several slots).
 *
 * @example
 * ```ts
 * const prefix = prefixOption('prefix', o.prefix);
 * ```
 */
export function prefixOption(path: string, value: unknown): string | undefined {
  if (value !== undefined && (typeof value !== 'string' || value === '')) invalidOption(path, 'a non-empty string', value);
  return value;
}

/**
 * An optional callback.
 *
 * @example
 * ```ts
 * const onEvent = functionOption<(e: RedisStoreEvent) => void>('onEvent', o.onEvent);
 * ```
 */
export function functionOption<F extends (...args: never[]) => unknown>(path: string, value: unknown): F | undefined {
  if (value !== undefined && typeof value !== 'function') invalidOption(path, 'a function', value);
  return value as F | undefined;
}

/**
 * A string option restricted to `values`; a wrong string is not quoted back.
 *
 * @example
 * ```ts
 * const mode = oneOfOption('onRedisError', o.onRedisError, ['fail-open', 'fail-closed'] as const, 'fail-open');
 * ```
 */
export function oneOfOption<T extends string>(path: string, value: unknown, values: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!values.includes(value as T)) invalidOption(path, `one of ${values.map((v) => `'${v}'`).join(', ')}`, value);
  return value as T;
}

/**
 * An optional {@link Clock}: an object with a `now()` method.
 *
 * @example
 * ```ts
 * const clock = clockOption('clock', o.clock) ?? systemClock;
 * ```
 */
export function clockOption(path: string, value: unknown): Clock | undefined {
  if (value !== undefined && typeof (value as { now?: unknown } | null)?.now !== 'function') {
    invalidOption(path, 'a clock (an object with a now() method)', value);
  }
  return value as Clock | undefined;
}

/**
 * An ioredis connection, recognised by a method it must have (`evalsha`, `subscribe`, `get`).
 *
 * @example
 * ```ts
 * const client = clientOption<ScriptClient>('redis', o.redis, 'evalsha');
 * ```
 */
export function clientOption<C>(path: string, value: unknown, method: string): C {
  if (typeof (value as Record<string, unknown> | null | undefined)?.[method] !== 'function') {
    invalidOption(path, 'an ioredis Redis or Cluster instance', value);
  }
  return value as C;
}
