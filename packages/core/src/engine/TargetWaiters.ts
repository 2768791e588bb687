import type { Clock } from '../clock';
import { holdsInFlightSlot, type Reservation } from '../limits/Limiter';

/** What a waiter waits for, and what a release frees: the target's provider and model. */
export interface TargetSlot {
  readonly provider: string;
  readonly model: string;
}

interface Waiter {
  readonly slot: TargetSlot;
  readonly wake: () => void;
}

/** Abort reason of a wait cut short by {@link TargetWaiters.released}. */
const WOKEN = Object.freeze({ name: 'TargetSlotReleased' });

/**
 * Attempts waiting for a target-scoped concurrency slot (a rule with `provider` or `model` in its
 * scope), oldest first. The limiter cannot say when a slot frees, so a denial asks to retry after a
 * poll interval (250 ms); with this, a call of the same engine that gives a target's reservation back
 * wakes the oldest attempt waiting on a target with the same provider or model at once. One waiter per
 * release: one release frees one slot, and waking every waiter would make all but one of them ask the
 * limiter again for nothing. A waiter that loses the slot anyway (another request took it first, or the
 * rule was keyed on something else) waits again; a slot freed by another process sharing a Redis store
 * is seen at the next poll.
 *
 * @example
 * ```ts
 * const waiters = new TargetWaiters(clock);
 * while (!d.ok) {
 *   await waiters.wait({ provider: 'openai', model: 'gpt-4o' }, d.retryAfterMs, signal);
 *   d = await limiter.reserve(ctx, estimate, 'target');
 * }
 * // elsewhere, when a call on openai/gpt-4o settles:
 * waiters.released({ provider: 'openai', model: 'gpt-4o' });
 * ```
 */
export class TargetWaiters {
  private readonly waiting = new Set<Waiter>(); // insertion order: oldest first

  constructor(private readonly clock: Clock) {}

  /** Number of attempts waiting. */
  get size(): number {
    return this.waiting.size;
  }

  /**
   * Sleeps `ms` on the clock, or less when {@link released} wakes this waiter first. Rejects with the
   * signal's reason when `signal` aborts first.
   */
  wait(slot: TargetSlot, ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return this.clock.sleep(ms, signal); // rejects with the signal's reason
    const stop = new AbortController();
    const onAbort = () => stop.abort(signal!.reason);
    const waiter: Waiter = { slot, wake: () => stop.abort(WOKEN) };
    signal?.addEventListener('abort', onAbort, { once: true });
    this.waiting.add(waiter);
    const done = () => {
      this.waiting.delete(waiter);
      signal?.removeEventListener('abort', onAbort);
    };
    return this.clock.sleep(ms, stop.signal).then(done, (err: unknown) => {
      done();
      if (stop.signal.reason !== WOKEN) throw err;
    });
  }

  /** A reservation on `slot`'s target was given back: wakes the oldest waiter with the same provider or model. */
  released(slot: TargetSlot): void {
    if (this.waiting.size === 0) return;
    for (const w of this.waiting) {
      if (w.slot.provider === slot.provider || w.slot.model === slot.model) {
        this.waiting.delete(w);
        w.wake();
        return;
      }
    }
  }
}

/**
 * True when `reservation` holds a concurrency slot (see {@link holdsInFlightSlot}), so giving it back
 * can let a waiter in.
 *
 * @example
 * ```ts
 * if (holdsSlot(reservation)) waiters.released(target);
 * ```
 */
export function holdsSlot(reservation: Reservation): boolean {
  for (let i = 0; i < reservation.size; i++) {
    if (holdsInFlightSlot(reservation.ruleAt(i))) return true;
  }
  return false;
}
