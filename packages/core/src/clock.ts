/**
 * Time source for everything time-based in the core. Inject a {@link ManualClock} in tests so that
 * backoff, windows and deadlines are exact and nothing sleeps real time.
 *
 * @example
 * ```ts
 * const engine = createResilience(policy, { clock: new ManualClock() });
 * ```
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
}

/**
 * The longest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days): Node fires a longer one after
 * 1 ms. Options that become timers are checked against it.
 *
 * @example
 * ```ts
 * if (!(ms <= MAX_TIMER_MS)) throw new RangeError(`timeoutMs: expected at most ${MAX_TIMER_MS}, got ${ms}`);
 * ```
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * The real clock: `Date.now()` and `setTimeout`. A sleep longer than `setTimeout` takes (about 24.8
 * days, `Infinity` included) is several timers in turn, never one that Node would fire after 1 ms.
 *
 * @example
 * ```ts
 * await systemClock.sleep(100);
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (!(ms > 0)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let left = ms;
      let timer: ReturnType<typeof setTimeout>;
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal!));
      };
      const arm = () => {
        const step = Math.min(left, MAX_TIMER_MS);
        left -= step;
        timer = setTimeout(() => {
          if (left > 0) return arm();
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }, step);
      };
      arm();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
}

/**
 * A clock that only moves when told to. `sleep` resolves when {@link ManualClock.advance} passes its
 * due time, in due-time order, with microtasks flushed between timers.
 *
 * @example
 * ```ts
 * const clock = new ManualClock(0);
 * const done = clock.sleep(1000);
 * await clock.advance(1000); // `done` is now resolved
 * ```
 */
export class ManualClock implements Clock {
  private current: number;
  private timers: Timer[] = [];
  private seq = 0;

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer: Timer = { at: this.current + ms, seq: this.seq++, resolve: () => resolve() };
      this.timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((t) => t !== timer);
          reject(abortReason(signal));
        },
        { once: true },
      );
    });
  }

  /** Number of sleeps waiting to fire. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing every timer due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await flush();
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > target) break;
      this.timers.shift();
      this.current = Math.max(this.current, next.at);
      next.resolve();
      await flush();
    }
    this.current = Math.max(this.current, target);
    await flush();
  }

  /** Advances to the next pending timer (if any) and fires it. Returns false when none is pending. */
  async next(): Promise<boolean> {
    await flush();
    this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const t = this.timers[0];
    if (!t) return false;
    await this.advance(Math.max(0, t.at - this.current));
    return true;
  }

  /** Sets the time directly (never backwards). */
  set(time: number): void {
    if (time < this.current) throw new RangeError(`ManualClock.set: cannot go back from ${this.current} to ${time}`);
    this.current = time;
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r));
}
