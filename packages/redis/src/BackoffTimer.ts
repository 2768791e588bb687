import { unitRandom, type Clock } from '@llm-resilience/core';

/**
 * Options of {@link BackoffTimer}.
 *
 * @example
 * ```ts
 * const opts: BackoffTimerOptions = { clock, initialMs: 100, maxMs: 5000, run: () => retry(), random: () => 0.5 };
 * ```
 */
export interface BackoffTimerOptions {
  /** Waits on `clock.sleep` (a `ManualClock` in tests). */
  clock: Clock;
  /** The first step, and the step after {@link BackoffTimer.reset} (ms, > 0). */
  initialMs: number;
  /** The step doubles with every retry scheduled, up to this (ms, >= `initialMs`). No wait is longer. */
  maxMs: number;
  /** What runs when a wait ends. Must not throw. */
  run: () => void;
  /**
   * Draws in [0, 1) for the jitter: each wait is `step / 2 + random() × step / 2`, rounded to whole ms. A value outside
   * [0, 1) (NaN, 1, -5) or a throw is replaced by `Math.random()`, as the core engine does with its
   * `random`. Default `Math.random`.
   */
  random?: () => number;
}

/**
 * At most one pending retry, after a wait drawn from a step that doubles with each one scheduled (from
 * `initialMs` up to `maxMs`) until {@link reset} says the retried work succeeded. For work that no
 * event will retry: a command that timed out on connections that stayed up sends no `ready` event.
 *
 * Each wait is "equal jitter" within its step: between half and all of it (`step / 2 + random() ×
 * step / 2`), so processes that lost Redis together do not retry in lockstep, while no wait is longer
 * than the step (never more than `maxMs`) nor shorter than half of it. Waits on the injected clock;
 * {@link cancel} (or {@link reset}) drops the pending wait, so a closed owner leaves no timer.
 *
 * @example
 * ```ts
 * const retry = new BackoffTimer({ clock, initialMs: 100, maxMs: 5000, run: () => void subscribe() });
 * retry.schedule(); // runs in 50..100 ms, the next schedule() in 100..200 ms, ...
 * retry.reset();    // succeeded: nothing pending, the next schedule() waits 50..100 ms again
 * ```
 */
export class BackoffTimer {
  private stepMs: number;
  private pending: AbortController | undefined;
  /** A draw in [0, 1): the injected source's, or `Math.random()` for a value outside it or a throw. */
  private readonly draw: () => number;

  constructor(private readonly options: BackoffTimerOptions) {
    this.stepMs = options.initialMs;
    this.draw = options.random === undefined ? Math.random : unitRandom(options.random);
  }

  /** True while a retry waits to run. */
  get scheduled(): boolean {
    return this.pending !== undefined;
  }

  /** The step of the next {@link schedule} (ms): its wait is drawn between half and all of it. */
  get nextStepMs(): number {
    return this.stepMs;
  }

  /**
   * Schedules `run` after a wait drawn within the current step, which then doubles (up to `maxMs`);
   * nothing when one is already pending. Returns the wait (ms), or `undefined` when one was pending.
   */
  schedule(): number | undefined {
    if (this.pending !== undefined) return undefined;
    const pending = new AbortController();
    this.pending = pending;
    const step = this.stepMs;
    this.stepMs = Math.min(this.stepMs * 2, this.options.maxMs);
    const wait = Math.round(step / 2 + (this.draw() * step) / 2);
    this.options.clock.sleep(wait, pending.signal).then(
      () => {
        if (this.pending !== pending) return;
        this.pending = undefined;
        this.options.run();
      },
      () => undefined, // cancelled
    );
    return wait;
  }

  /** Drops the pending retry, if any; the step keeps its length. */
  cancel(): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.abort();
  }

  /** The retried work succeeded: drops the pending retry, and the next step starts over at `initialMs`. */
  reset(): void {
    this.cancel();
    this.stepMs = this.options.initialMs;
  }
}
