import { classifyError, DEFAULT_FALLBACK_ON, ERROR_KINDS, isErrorKind, type ErrorKind } from '@llm-resilience/core';
import { isApplicationException } from '../decorators/appExceptions';
import { isPlainObject, shown, typeOf } from '../describeValue';
import { unknownKey } from '../knownKeys';
import { NestConfigError } from '../NestConfigError';
import type { ObservableInput, Observable, OperatorFunction } from 'rxjs';
import { catchBeforeFirstValue } from './catchBeforeFirstValue';

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

const WHERE = 'withFallback';

function invalid(message: string): NestConfigError {
  return new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', message);
}

/** A plain object that is no ObservableInput (not thenable, iterable, array-like, ...): the options. */
function isOptions(value: unknown): value is WithFallbackOptions {
  if (!isPlainObject(value)) return false;
  const o = value as Record<PropertyKey, unknown>;
  return (
    typeof o.subscribe !== 'function' &&
    typeof o.then !== 'function' &&
    typeof o[Symbol.iterator] !== 'function' &&
    typeof o[Symbol.asyncIterator] !== 'function' &&
    typeof o['@@observable'] !== 'function' &&
    typeof o.getReader !== 'function' &&
    typeof o.length !== 'number'
  );
}

/** True for what rxjs `from` accepts: Observable, Promise, array or array-like, iterable, async iterable, ReadableStream. */
function isObservableInput(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const o = value as Record<PropertyKey, unknown>;
  return (
    typeof o.subscribe === 'function' ||
    typeof o.then === 'function' ||
    typeof o[Symbol.iterator] === 'function' ||
    typeof o[Symbol.asyncIterator] === 'function' ||
    typeof o[(Symbol as { observable?: symbol }).observable ?? '@@observable'] === 'function' ||
    typeof o.getReader === 'function' ||
    typeof o.length === 'number'
  );
}

function checkOptions(options: WithFallbackOptions): Set<ErrorKind> {
  const unknown = unknownKey(options, ['on', 'onFallback']);
  if (unknown) throw invalid(`${WHERE} options.${unknown.key}: ${unknown.problem}.`);
  if (options.onFallback !== undefined && typeof options.onFallback !== 'function') {
    throw invalid(`${WHERE} options.onFallback: expected a function ({ index, kind, error }) => void, got ${typeOf(options.onFallback)}.`);
  }
  if (options.on === undefined) return new Set(DEFAULT_ON);
  if (!Array.isArray(options.on)) throw invalid(`${WHERE} options.on: expected an array of error kinds, such as ['overloaded'], got ${shown(options.on)}.`);
  (options.on as unknown[]).forEach((k, i) => {
    if (!isErrorKind(k)) throw invalid(`${WHERE} options.on[${i}]: ${shown(k)} is not an error kind; known: ${ERROR_KINDS.join(', ')}.`);
  });
  return new Set(options.on);
}

/**
 * Falls back to alternatives in order when the source fails with an error whose kind (the core's
 * `classifyError`, so provider SDK errors and the engine's typed errors both work) is in `on`; any
 * other error, or the last alternative's error, goes on. Alternatives are subscribed lazily. The
 * application's own `HttpException`s (a handler's `ForbiddenException` under `next.handle()`) always
 * go on as thrown, whatever `on` says: they are answers to the client, not failures of a model. A
 * source that has emitted does not fall back either (a stream broken after its first chunks would get
 * an alternative's answer spliced after them): its error goes on.
 *
 * Checked when the operator is created (`NestConfigError`, `ERR_LLMR_NEST_INVALID_OPTIONS`): at
 * least one alternative, each an ObservableInput (not a string, which would emit its characters: use
 * `of('text')`) or a function; options without unknown keys, `on` an array of error kinds.
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
  const hasOptions = args.length > 0 && isOptions(last);
  const options: WithFallbackOptions = hasOptions ? (last as WithFallbackOptions) : {};
  const alternatives = (hasOptions ? args.slice(0, -1) : args) as Array<FallbackAlternative<T>>;
  if (alternatives.length === 0) throw invalid(`${WHERE}: expected at least one alternative (an ObservableInput or (error, kind) => ObservableInput) before the options.`);
  alternatives.forEach((alternative, i) => {
    if (typeof alternative === 'string') {
      throw invalid(`${WHERE} alternatives[${i}]: a string would be emitted character by character; pass of('...') or ['...'].`);
    }
    if (typeof alternative !== 'function' && !isObservableInput(alternative)) {
      throw invalid(
        `${WHERE} alternatives[${i}]: expected an ObservableInput (Observable, Promise, array, iterable) or a function (error, kind) => ObservableInput, got ${typeOf(alternative)}.`,
      );
    }
  });
  const on = checkOptions(options);
  return (source: Observable<T>) =>
    alternatives.reduce<Observable<T>>(
      (current, alternative, index) =>
        current.pipe(
          // Once a value went out, an alternative's answer would be spliced after it: the error goes on.
          catchBeforeFirstValue((error: unknown) => {
            if (isApplicationException(error)) return undefined;
            const kind = classifyError(error).kind;
            if (!on.has(kind)) return undefined;
            options.onFallback?.({ index, kind, error });
            return typeof alternative === 'function' ? alternative(error, kind) : alternative;
          }),
        ),
      source,
    );
}
