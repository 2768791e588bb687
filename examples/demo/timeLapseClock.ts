import { performance } from 'node:perf_hooks';
import { systemClock, type Clock, type Disposable } from '@llm-resilience/core';

/**
 * A clock that runs `speed` times faster than real time: the whole demo (engine, fake providers,
 * traffic) reads it, so per-minute provider limits, Retry-After hints, breaker open periods and
 * spend windows all stay consistent while a few minutes of scenario play in well under a minute.
 * At `speed: 6`, one real second is six scenario seconds and a per-minute limit resets every 10 s.
 *
 * Compressed time magnifies stalls: 100 ms of event-loop lag would be 600 ms of scenario time (a
 * slow provider that is not there). {@link TimeLapseClock.watchLag} freezes scenario time while the
 * process is not keeping up, so a busy machine plays the scenario slower instead of differently.
 *
 * @example
 * ```ts
 * const clock = new TimeLapseClock(6);
 * const watch = clock.watchLag();
 * await clock.sleep(6_000); // about 1 real second
 * watch.dispose();
 * ```
 */
export class TimeLapseClock implements Clock {
  /** Scenario epoch-ms at construction. */
  readonly startedAt: number;
  private realStart: number;
  /** Real ms during which scenario time stood still. */
  private frozenMs = 0;
  private last: number;

  constructor(
    /** Scenario milliseconds per real millisecond (1 = real time). */
    readonly speed: number,
    startedAt: number = Date.now(),
    /** Real time: a monotonic `now()` in ms and a `sleep`. Default: `performance.now()` and the system clock. */
    private readonly real: Clock = { now: () => performance.now(), sleep: (ms, signal) => systemClock.sleep(ms, signal) },
  ) {
    if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError(`TimeLapseClock speed must be a positive number, got ${speed}.`);
    this.startedAt = startedAt;
    this.last = startedAt;
    this.realStart = real.now();
  }

  /** Scenario time (epoch ms, whole milliseconds); never goes backwards. */
  now(): number {
    const t = Math.floor(this.startedAt + (this.real.now() - this.realStart - this.frozenMs) * this.speed);
    if (t > this.last) this.last = t;
    return this.last;
  }

  /** Waits until `ms` of scenario time have passed (about `ms / speed` real milliseconds). */
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return this.real.sleep(0, signal);
    const until = this.now() + ms;
    for (let left = ms; left > 0; left = until - this.now()) {
      await this.real.sleep(Math.max(1, left / this.speed), signal);
    }
  }

  /**
   * Moves scenario time back to `startedAt` at this real moment, so set-up work does not use up
   * scenario time. Call it before anything sleeps on the clock.
   *
   * @example
   * ```ts
   * await fake.start(); // reads the clock, takes a few real ms
   * clock.restart();    // t=0 is now
   * ```
   */
  restart(): void {
    this.realStart = this.real.now();
    this.frozenMs = 0;
    this.last = this.startedAt;
  }

  /**
   * Holds scenario time still for `realMs` of real time (it resumes from where it stood).
   *
   * @example
   * ```ts
   * clock.freeze(120); // the event loop was 120 ms late: that time did not happen in the scenario
   * ```
   */
  freeze(realMs: number): void {
    if (realMs > 0) this.frozenMs += realMs;
  }

  /**
   * Watches the event loop with a heartbeat and freezes scenario time for lateness beyond
   * `toleranceMs` per beat.
   *
   * @example
   * ```ts
   * const watch = clock.watchLag({ everyMs: 20, toleranceMs: 4 });
   * // ...
   * watch.dispose();
   * ```
   */
  watchLag(options: { everyMs?: number; toleranceMs?: number } = {}): Disposable {
    const every = options.everyMs ?? 20;
    const tolerance = options.toleranceMs ?? 4;
    let previous = this.real.now();
    const timer = setInterval(() => {
      const at = this.real.now();
      this.freeze(at - previous - every - tolerance);
      previous = at;
    }, every);
    timer.unref();
    return { dispose: () => clearInterval(timer) };
  }
}
