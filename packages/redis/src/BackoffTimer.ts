import type { Clock } from '@llm-resilience/core';

/**
 * Options of {@link BackoffTimer}.
 *
 * @example
 * ```ts
 * const opts: BackoffTimerOptions = { clock, initialMs: 100, maxMs: 5000, run: () => retry() };
 * ```
 */
export interface BackoffTimerOptions {
  /** Waits on `clock.sleep` (a `ManualClock` in tests). */
  clock: Clock;
  /** The first wait, and the wait after {@link BackoffTimer.reset} (ms, > 0). */
  initialMs: number;
  /** The wait doubles with every retry scheduled, up to this (ms, >= `initialMs`). */
  maxMs: number;
  /** What runs when a wait ends. Must not throw. */
  run: () => void;
}

/**
 * At most one pending retry, after a wait that doubles with each one scheduled (from `initialMs` up to
 * `maxMs`) until {@link reset} says the retried work succeeded. For work that no event will retry: a
 * command that timed out on a connection that stayed up sends no `ready` event. Waits on the injected
 * clock; {@link cancel} (or {@link reset}) drops the pending wait, so a closed owner leaves no timer.
 *
 * @example
 * ```ts
 * const retry = new BackoffTimer({ clock, initialMs: 100, maxMs: 5000, run: () => void subscribe() });
 * retry.schedule(); // runs in 100 ms, the next schedule() in 200 ms, ...
 * retry.reset();    // succeeded: nothing pending, the next schedule() waits 100 ms again
 * ```
 */
export class BackoffTimer {
  private waitMs: number;
  private pending: AbortController | undefined;

  constructor(private readonly options: BackoffTimerOptions) {
    this.waitMs = options.initialMs;
  }

  /** True while a retry waits to run. */
  get scheduled(): boolean {
    return this.pending !== undefined;
  }

  /** The wait the next {@link schedule} will use (ms). */
  get nextWaitMs(): number {
    return this.waitMs;
  }

  /** Schedules `run` after the current wait, which then doubles; nothing when one is already pending. */
  schedule(): void {
    if (this.pending !== undefined) return;
    const pending = new AbortController();
    this.pending = pending;
    const wait = this.waitMs;
    this.waitMs = Math.min(this.waitMs * 2, this.options.maxMs);
    this.options.clock.sleep(wait, pending.signal).then(
      () => {
        if (this.pending !== pending) return;
        this.pending = undefined;
        this.options.run();
      },
      () => undefined, // cancelled
    );
  }

  /** Drops the pending retry, if any; the wait keeps its length. */
  cancel(): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.abort();
  }

  /** The retried work succeeded: drops the pending retry, and the next wait starts over at `initialMs`. */
  reset(): void {
    this.cancel();
    this.waitMs = this.options.initialMs;
  }
}
