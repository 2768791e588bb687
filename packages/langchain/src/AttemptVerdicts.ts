import { ResilienceError, type ResilienceEvents } from '@llm-resilience/core';
import type { AttemptRun } from './attemptRun';
import { OutputValidationError } from './OutputValidationError';

/** An attempt whose call returned a reply the engine has not judged yet. */
interface Held {
  attempt: number;
  target: string;
  run: AttemptRun;
  value: unknown;
}

/**
 * Ends the attempt runs of one `invoke()` / `batch()` request with the engine's verdict on their reply.
 * A call's reply is only an answer once the engine accepted it: on a route with an `output` schema the
 * engine checks it after the call returned, and a reply it rejects is a `validation_failed` attempt
 * (recorded `invalid_output`) that falls back, retries stricter or fails the request. So the attempt
 * run of a reply is not ended when the call returns: it is held until the engine's events for the
 * request say what became of it:
 *
 * - `attempt` (the engine's record of the attempt, keyed by request id and attempt number) with
 *   outcome `success`: the run ends with the reply;
 * - `validation` (the route's schema rejected the reply; the reason redacted by the engine's `redact`
 *   option): the run fails with an {@link OutputValidationError} of that reason, the error the other
 *   rejection paths (the adapter's `output` option, a parser's error) report;
 * - `attempt` with outcome `error` (the engine failed the attempt after it returned): the run fails
 *   with a {@link ResilienceError} of the recorded kind.
 *
 * Feed it the request's `attempt` and `validation` events ({@link AttemptVerdicts.onEvent}), and call
 * {@link AttemptVerdicts.settle} before the next attempt's run starts and when the request ends: a run
 * still held then (its verdict never came: another watcher took the request id's events) is settled
 * from what the engine did next — a next attempt, or a request that failed, means the reply was
 * rejected; a request that returned means it was accepted.
 *
 * Streams are not held: the engine never validates a stream, and a stream's attempt run ends when the
 * stream does.
 *
 * @example
 * ```ts
 * const verdicts = new AttemptVerdicts();
 * const stop = RequestEventRouter.of(engine).watch(requestId, (name, e) => verdicts.onEvent(name, e));
 * try { r = await engine.execute(req, async (t, ctx) => { await verdicts.settle('rejected'); const v = await call(t, ctx); verdicts.hold(ctx.attempt, t.id, run, v); return v; }); }
 * finally { stop(); await verdicts.settle(r ? 'accepted' : 'rejected'); }
 * ```
 */
export class AttemptVerdicts {
  private held: Held | undefined;
  private ending: Promise<void> = Promise.resolve();

  /** Holds the run of attempt `attempt` on `target`, whose call returned `value`, until its verdict. */
  hold(attempt: number, target: string, run: AttemptRun, value: unknown): void {
    this.held = { attempt, target, run, value };
  }

  /** Applies one of the request's engine events (others are ignored). */
  onEvent(name: string, payload: unknown): void {
    const held = this.held;
    if (held === undefined) return;
    if (name === 'attempt') {
      const { attempt } = payload as ResilienceEvents['attempt'];
      if (attempt.attempt !== held.attempt || attempt.outcome === 'invalid_output') return; // its `validation` event follows
      if (attempt.outcome === 'success') this.end(held, (run) => run.end(held.value));
      else {
        const kind = attempt.errorKind ?? 'unknown';
        const error = new ResilienceError(`The engine failed the attempt of '${held.target}' after its reply (${kind}).`, { kind, code: 'ERR_LLMR_ATTEMPT_FAILED' });
        this.end(held, (run) => run.fail(error));
      }
    } else if (name === 'validation') {
      const { target, reason } = payload as ResilienceEvents['validation'];
      if (target !== held.target) return;
      this.end(held, (run) => run.fail(new OutputValidationError(target, reason)));
    }
  }

  /**
   * Ends a run still held as `verdict` says (`rejected`: with an {@link OutputValidationError} whose
   * reason says the engine did not use the reply), then waits for every run this tracker ended.
   */
  async settle(verdict: 'accepted' | 'rejected'): Promise<void> {
    const held = this.held;
    if (held !== undefined) {
      this.end(held, (run) =>
        verdict === 'accepted' ? run.end(held.value) : run.fail(new OutputValidationError(held.target, 'the engine did not use the reply')),
      );
    }
    await this.ending;
  }

  private end(held: Held, how: (run: AttemptRun) => Promise<void>): void {
    if (this.held === held) this.held = undefined;
    const ended = how(held.run).catch(() => undefined);
    this.ending = Promise.all([this.ending, ended]).then(() => undefined);
  }
}
