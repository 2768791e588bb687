import type { LimitAdjustment } from '@llm-resilience/core';
import { LeaseMark } from './LeaseMark';

/** One release waiting for Redis, with the local time it was set aside and the failed sends so far. */
export interface QueuedRelease {
  adjustment: LimitAdjustment;
  at: number;
  attempts: number;
}

/**
 * True for the release of an in-flight concurrency slot that carries its {@link LeaseMark}: it removes
 * exactly its own lease on Redis, so sending it twice is harmless.
 *
 * @example
 * ```ts
 * isLeaseRelease({ key: 'model=m', kind: 'concurrency', limit: 4, windowMs: 0, delta: -1, mark: new LeaseMark('1.2.1.1|1') }); // true
 * ```
 */
export function isLeaseRelease(a: LimitAdjustment): boolean {
  return a.kind === 'concurrency' && !(a.windowMs > 0) && a.delta < 0 && a.mark instanceof LeaseMark;
}

/**
 * Releases of concurrency slots held on Redis that could not be written there (Redis down or slower
 * than `timeoutMs`), kept so the store can send them again once Redis answers. Only lease releases
 * ({@link isLeaseRelease}) are kept. A release is kept for at most the lease lifetime: by then its
 * lease has expired on Redis and the slot is free anyway; {@link take} drops such releases and
 * reports how many to `onExpired`. At most `max` are kept; beyond that the oldest go (counted by
 * {@link add}).
 *
 * @example
 * ```ts
 * const queue = new ReleaseQueue(600_000, 100_000, (count) => onEvent({ type: 'adjustDropped', count, error }));
 * const overflow = queue.add(releases, clock.now());
 * const batch = queue.take(clock.now(), 1000); // send; on failure: queue.putBack(batch)
 * ```
 */
export class ReleaseQueue {
  private entries: QueuedRelease[] = [];

  constructor(
    private readonly leaseMs: number,
    private readonly max: number,
    /** Told how many releases {@link take} dropped because their lease expired (never with 0). */
    private readonly onExpired?: (count: number) => void,
  ) {}

  /** Releases waiting (some may be past their lease until the next {@link take}). */
  get size(): number {
    return this.entries.length;
  }

  /** Keeps `releases`, set aside at `now`; returns how many older ones were pushed out (over `max`). */
  add(releases: readonly LimitAdjustment[], now: number): number {
    for (const adjustment of releases) this.entries.push({ adjustment, at: now, attempts: 0 });
    const over = this.entries.length - this.max;
    if (over <= 0) return 0;
    this.entries.splice(0, over);
    return over;
  }

  /**
   * Removes and returns up to `limit` releases whose lease may still be held, oldest first; drops the
   * expired ones and reports how many to `onExpired`.
   */
  take(now: number, limit: number): QueuedRelease[] {
    // Oldest first: the expired ones are at the front.
    let first = 0;
    while (first < this.entries.length && now - this.entries[first]!.at >= this.leaseMs) first++;
    const batch = this.entries.slice(first, first + limit);
    this.entries = this.entries.slice(first + limit);
    if (first > 0) this.onExpired?.(first); // after the queue is updated: the listener may add to it
    return batch;
  }

  /** Puts back a batch {@link take} returned, ahead of what was added since; returns how many were pushed out (over `max`). */
  putBack(batch: readonly QueuedRelease[]): number {
    this.entries = [...batch, ...this.entries];
    const over = this.entries.length - this.max;
    if (over <= 0) return 0;
    this.entries.splice(0, over);
    return over;
  }

  /** Empties the queue; returns how many releases it held. */
  clear(): number {
    const n = this.entries.length;
    this.entries = [];
    return n;
  }
}
