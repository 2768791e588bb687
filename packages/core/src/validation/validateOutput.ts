import { ECHO_MIN_CHARS, redactQuoted } from '../errors/redactQuoted';
import { systemClock, type Clock } from '../clock';
import type { StandardSchemaLike } from '../policy/schema';
import { jsonCandidates } from './parseJsonReply';

/**
 * Result of {@link validateOutput}.
 *
 * @example
 * ```ts
 * const r: OutputValidation = await validateOutput(text, schema);
 * if (!r.ok) console.log(r.reason);
 * ```
 */
export type OutputValidation<O = unknown> = { ok: true; value: O } | { ok: false; reason: string };

/**
 * Options of {@link validateOutput}.
 *
 * @example
 * ```ts
 * await validateOutput(text, schema, { timeoutMs: 5_000, clock });
 * ```
 */
export interface ValidateOutputOptions {
  /** Longest wait for an asynchronous validator (all candidates together); a slower one fails validation. */
  timeoutMs?: number;
  /** Clock for that wait. Default: the system clock. */
  clock?: Clock;
  /** Stops the wait for an asynchronous validator when it aborts: the validation then fails (the caller left). */
  signal?: AbortSignal;
}

const cancelled = { ok: false, reason: 'the validation was cancelled (the signal aborted)' } as const;

type Verdict<O> = { value: O; issues?: undefined } | { issues: ReadonlyArray<{ message: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> }> };

/**
 * Parses JSON out of a reply and validates it with a Standard Schema (zod 4, valibot, arktype...).
 * Every JSON value the reply carries is tried in order (see {@link jsonCandidates}); the first that
 * matches wins, else the first one's issues are the reason. Never throws: a validator that throws
 * fails the value it was given (the next value is tried), and an asynchronous one slower than
 * `timeoutMs`, or still running when `signal` aborts, fails the validation.
 *
 * @example
 * ```ts
 * const r = await validateOutput('{"urgency":"high"}', z.object({ urgency: z.enum(['low', 'high']) }));
 * ```
 */
export async function validateOutput<O>(
  text: string | undefined,
  schema: StandardSchemaLike<O>,
  options: ValidateOutputOptions = {},
): Promise<OutputValidation<O>> {
  if (text === undefined) return { ok: false, reason: 'the reply has no text to validate' };
  let first: OutputValidation<O> | undefined;
  const clock = options.clock ?? systemClock;
  const until = options.timeoutMs === undefined ? undefined : clock.now() + options.timeoutMs;
  const signal = options.signal;
  if (signal?.aborted) return cancelled;
  for (const candidate of jsonCandidates(text)) {
    let verdict: Verdict<O>;
    try {
      const result = schema['~standard'].validate(candidate) as Verdict<O> | Promise<Verdict<O>>;
      if (result instanceof Promise || (result !== null && typeof (result as { then?: unknown }).then === 'function')) {
        const settled = await within(result as Promise<Verdict<O>>, until === undefined ? Infinity : until - clock.now(), clock, signal);
        if (signal?.aborted) return cancelled;
        if (settled === undefined) return { ok: false, reason: `the output validator did not answer within ${options.timeoutMs} ms` };
        verdict = settled;
      } else {
        verdict = result as Verdict<O>;
      }
    } catch (e) {
      // A validator's own error may quote the reply (`JSON.parse`: `"Patient Ja"... is not valid JSON`).
      // It fails this candidate only: a hand-written validator may throw on `[1]` and accept the object after it.
      first ??= { ok: false, reason: `the output validator threw: ${redactQuoted(e instanceof Error ? e.message : String(e), 4)}` };
      continue;
    }
    if (!verdict.issues) return { ok: true, value: verdict.value };
    const reasons = verdict.issues
      .slice(0, 3)
      .map((i) => `${formatPath(i.path)}${redactQuoted(i.message)}`)
      .join('; ');
    first ??= { ok: false, reason: `the reply does not match the schema: ${reasons}` };
  }
  return first ?? { ok: false, reason: text.trim() === '' ? 'empty reply' : 'the reply is not valid JSON' };
}

/** `p`'s value, or `undefined` once `ms` have passed or `signal` aborted, whichever comes first (the wait ends when `p` settles). */
async function within<T>(p: Promise<T>, ms: number, clock: Clock, signal: AbortSignal | undefined): Promise<T | undefined> {
  if (!(ms > 0)) return undefined;
  if (ms === Infinity && signal === undefined) return p;
  const stop = new AbortController();
  const timeout = clock.sleep(ms, signal === undefined ? stop.signal : AbortSignal.any([stop.signal, signal])).then(
    () => undefined,
    () => undefined,
  );
  try {
    return await Promise.race([p, timeout]);
  } finally {
    stop.abort();
  }
}

function formatPath(path: ReadonlyArray<PropertyKey | { key: PropertyKey }> | undefined): string {
  if (!path || path.length === 0) return '';
  // A segment is a key of the reply (a `z.record`'s keys may be whole sentences): long ones are redacted.
  return path.map((p) => redactKey(String(typeof p === 'object' ? p.key : p))).join('.') + ': ';
}

function redactKey(key: string): string {
  return key.length >= ECHO_MIN_CHARS ? `[${key.length} chars]` : key;
}
