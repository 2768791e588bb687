import { systemClock, type Clock } from '../clock';
import { ResilienceError } from '../errors/ResilienceError';
import { attemptTimers, type AttemptTimer } from './AttemptTimers';
import type { AttemptContext, Usage } from './types';

/**
 * Thrown into an attempt when its timeout fires; classified as `timeout`.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof AttemptTimeoutError) console.log(e.timeoutMs); }
 * ```
 */
export class AttemptTimeoutError extends ResilienceError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`The model call did not answer within ${timeoutMs} ms; raise the target's timeout or use a faster model.`, {
      kind: 'timeout',
      code: 'ERR_LLMR_ATTEMPT_TIMEOUT',
    });
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Reason given to the internal signal that cancels an injected clock's timeout sleep once the attempt
 * settled. A constant: aborting without a reason would build a `DOMException` (with a stack) per call.
 */
const ATTEMPT_SETTLED = Object.freeze({ name: 'AttemptSettled' });
/** Stands in for an attempt's call function once it has been called (see runAttempt). */
const CALLED = (): never => {
  throw new Error('The attempt has already called its model call.');
};

/**
 * Runs one attempt with its own abort signal, linked to the caller's signal and cut off after
 * `timeoutMs` (measured on the injected clock). With the system clock, `startedAt` (a `Date.now()`
 * the caller took when the attempt started) is where the timeout counts from, saving a clock read.
 * Settles as soon as the call settles, the timeout fires or the caller aborts, even when the call
 * ignores its signal. When the attempt is cut off (timeout or abort) while the call's promise is
 * still pending, that promise is left in `holder.unfinished`: the call may still be running (it
 * ignored its signal, or has not noticed yet), and the engine keeps its reservation until it ends.
 *
 * This is on every call's path, so it stays cheap:
 * - `invoke` gets a getter for the attempt's signal; its AbortController is created on first read
 *   (already aborted, with the same reason, if the attempt was cut off before that), so a call that
 *   never reads the signal costs no controller;
 * - with the system clock the timeout goes to {@link attemptTimers} (one Node timer shared by all
 *   attempts with the same timeout) and is unlinked when the attempt settles; an injected clock
 *   (tests) gets a `sleep` cancelled through a signal.
 */
export function runAttempt<T>(
  invoke: (signal: () => AbortSignal) => Promise<T>,
  timeoutMs: number,
  parent: AbortSignal | undefined,
  clock: Clock,
  startedAt?: number,
  holder?: { unfinished: Promise<unknown> | undefined },
): Promise<T> {
  let ac: AbortController | undefined;
  let aborted = false;
  let abortReason: unknown;
  const signal = (): AbortSignal => {
    if (ac === undefined) {
      ac = new AbortController();
      if (aborted) ac.abort(abortReason);
    }
    return ac.signal;
  };
  const abort = (reason: unknown) => {
    aborted = true;
    abortReason = reason;
    ac?.abort(reason);
  };
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: AttemptTimer | undefined;
    let stopTimer: AbortController | undefined;
    let call: Promise<T> | undefined;
    const finish = () => {
      done = true;
      if (timer !== undefined) attemptTimers.cancel(timer);
      stopTimer?.abort(ATTEMPT_SETTLED);
      parent?.removeEventListener('abort', onParentAbort);
      // The attempt's `signal` closure (ctx.signal) outlives it in a held call's context: it must not
      // keep the caller's signal (and what its listeners reach) alive.
      parent = undefined;
    };
    const onParentAbort = () => {
      if (done) return;
      const reason: unknown = parent!.reason;
      finish();
      if (holder !== undefined && call !== undefined) holder.unfinished = call;
      abort(reason);
      reject(reason ?? Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }));
    };
    const onTimeout = () => {
      if (done) return;
      finish();
      if (holder !== undefined && call !== undefined) holder.unfinished = call;
      const err = new AttemptTimeoutError(timeoutMs);
      abort(err);
      reject(err);
    };
    if (parent) {
      if (parent.aborted) return onParentAbort();
      parent.addEventListener('abort', onParentAbort, { once: true });
    }
    if (Number.isFinite(timeoutMs)) {
      if (clock === systemClock && timeoutMs > 0) {
        timer = attemptTimers.schedule(timeoutMs, onTimeout, startedAt);
      } else {
        // An injected clock, or no time left at all (fires after the current microtasks, like sleep(0)).
        stopTimer = new AbortController();
        clock.sleep(timeoutMs, stopTimer.signal).then(onTimeout, () => undefined);
      }
    }
    let p: Promise<T>;
    try {
      const run = invoke;
      invoke = CALLED; // nor the call function (and what its scope reaches), once called
      p = run(signal);
    } catch (e) {
      finish();
      return reject(e);
    }
    call = Promise.resolve(p);
    call.then(
      (v) => {
        if (done) return;
        finish();
        resolve(v);
      },
      (e) => {
        if (done) return;
        finish();
        reject(e);
      },
    );
  });
}

function noSignal(): AbortSignal {
  throw new Error('The attempt has not started: its signal is not available yet.');
}

/**
 * The {@link AttemptContext} handed to each attempt. A class, not an object literal: the context is
 * created for every attempt and its `signal` is a getter (the AbortController is created on first
 * read, see {@link runAttempt}), and V8 builds an object literal with an accessor on a slow path
 * (about a microsecond per object) while a prototype getter costs nothing per instance.
 *
 * `signal` lives on the prototype, so `{ ...ctx }` does not copy it: read `ctx.signal` itself.
 * `reportHeaders` and `reportUsage` are bound, so they may be passed around detached.
 *
 * @internal Created by the engine for each attempt.
 */
export class AttemptContextImpl implements AttemptContext {
  declare readonly deadline?: number;
  declare readonly repair?: { readonly reason: string };
  /** Headers the call reported, if any. */
  reportedHeaders: unknown = undefined;
  /** Usage the call reported, if any. */
  reportedUsage: Usage | undefined = undefined;
  /** The call's promise when the attempt was cut off before it settled (see {@link runAttempt}). */
  unfinished: Promise<unknown> | undefined = undefined;
  /** The attempt's lazy signal; set by {@link runAttempt}'s `invoke` before the call runs. */
  signalOf: () => AbortSignal = noSignal;
  readonly reportHeaders = (headers: unknown): void => {
    this.reportedHeaders = headers;
  };
  readonly reportUsage = (usage: Usage): void => {
    this.reportedUsage = usage;
  };

  constructor(
    readonly attempt: number,
    readonly targetAttempt: number,
    readonly requestId: string,
    readonly route: string,
    deadline: number | undefined,
    readonly maxOutputTokens: number,
    repair: { readonly reason: string } | undefined,
  ) {
    // Optional fields are absent, not undefined, when not set (as the engine's object literal had them).
    if (deadline !== undefined) (this as { deadline?: number }).deadline = deadline;
    if (repair) (this as { repair?: { readonly reason: string } }).repair = repair;
  }

  get signal(): AbortSignal {
    return this.signalOf();
  }
}
