import type { Clock } from '../clock';
import { ResilienceError } from '../errors/ResilienceError';

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
 * Runs one attempt with its own AbortController, linked to the caller's signal and cut off after
 * `timeoutMs` (measured on the injected clock). Settles as soon as the call settles, the timeout
 * fires or the caller aborts, even when the call ignores its signal.
 */
export function runAttempt<T>(
  invoke: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  parent: AbortSignal | undefined,
  clock: Clock,
): Promise<T> {
  const ac = new AbortController();
  const stopTimer = new AbortController();
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = () => {
      done = true;
      stopTimer.abort();
      parent?.removeEventListener('abort', onParentAbort);
    };
    const onParentAbort = () => {
      if (done) return;
      finish();
      ac.abort(parent!.reason);
      reject(parent!.reason ?? Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }));
    };
    if (parent) {
      if (parent.aborted) return onParentAbort();
      parent.addEventListener('abort', onParentAbort, { once: true });
    }
    if (Number.isFinite(timeoutMs)) {
      clock.sleep(timeoutMs, stopTimer.signal).then(
        () => {
          if (done) return;
          finish();
          const err = new AttemptTimeoutError(timeoutMs);
          ac.abort(err);
          reject(err);
        },
        () => undefined,
      );
    }
    let p: Promise<T>;
    try {
      p = invoke(ac.signal);
    } catch (e) {
      finish();
      return reject(e);
    }
    Promise.resolve(p).then(
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
