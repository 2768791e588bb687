import type { Clock } from '../clock';
import { ResilienceError } from '../errors/ResilienceError';
import { isPromiseLike } from '../limits/LimiterStore';
import type { TrafficClass } from '../policy/Policy';
import { Fifo } from './Fifo';
import { MinHeap } from './MinHeap';
import { QUEUE_REJECT_REASONS, QueueRejectedError, type QueueRejectReason, type QueueRejectedDetails } from './QueueRejectedError';
import type {
  Admission,
  PrioritySchedulerOptions,
  QueueEvent,
  Scheduled,
  ScheduleItem,
  SchedulerStats,
  ShutdownOptions,
  TrafficClassQueueStats,
} from './types';

type Cancel = 'aborted' | 'shutdown';
type Expiry = 'deadline' | 'max-wait';
type Extra = Partial<Omit<QueueRejectedDetails, 'reason' | 'trafficClass' | 'waitedMs'>>;

/** One piece of queued work. */
interface Entry {
  readonly item: ScheduleItem<unknown>;
  readonly cls: ClassState;
  readonly tq: TenantQueue;
  /** When `schedule` was called (waits are measured from here). */
  readonly arrivedAt: number;
  /** The earlier of the deadline and `arrivedAt + maxWaitMs` (moved earlier when the item's deadline is). */
  expireAt: number;
  expireReason: Expiry;
  /** Work of a `whenLimited: 'reject'` class that queued behind other work: tried once, never waits. */
  readonly oneShot: boolean;
  settled: boolean;
  inFlight: boolean;
  inHeap: boolean;
  /** A cancellation that came while `tryAdmit` was in flight; applied when it returns. */
  cancel: Cancel | undefined;
  /** When the limiter last said it could pass. */
  retryAt: number | undefined;
  lastReason: string | undefined;
  onAbort: (() => void) | undefined;
  resolve: (value: Scheduled<unknown>) => void;
  reject: (error: unknown) => void;
}

/**
 * The FIFO of one tenant inside one class. Never revived once dead (a new one is made); a dead queue
 * lets go of its entries at once and leaves its class's rotation by the next compaction. Entries
 * settled while others of the tenant wait (aborted, expired behind the head) stay in `items` only until
 * they outnumber the live ones: then `items` is compacted (live entries keep their FIFO order).
 */
interface TenantQueue {
  readonly key: string;
  readonly tenant: string | undefined;
  items: Fifo<Entry>;
  /** Unsettled entries in `items`. */
  live: number;
  /** Settled entries still in `items` (dropped at the head by `headOf`, elsewhere by compaction). */
  settled: number;
  /** When the head may be tried again (without `notify()`). */
  wakeAt: number;
  dead: boolean;
  /** In its class's `rotation` (false while a pump has taken it out). */
  inRotation: boolean;
}

interface ClassState {
  readonly name: string;
  readonly def: TrafficClass;
  readonly tenants: Map<string, TenantQueue>;
  /** Round-robin order of tenants with waiting work (may hold dead queues, see `deadInRotation`). */
  readonly rotation: Fifo<TenantQueue>;
  /** Dead queues still in `rotation`; compacted away when they are half of it, so it stays O(live queues). */
  deadInRotation: number;
  /** Classes with priority >= this one's, itself included. */
  atOrAbove: ClassState[];
  count: number;
  admitted: number;
  admittedAfterWait: number;
  failed: number;
  readonly rejected: Record<QueueRejectReason, number>;
}

const noop = (): void => {};

/** `retain` predicate of a class rotation: keeps live tenant queues, marks the dead ones as out. */
function keepLive(tq: TenantQueue): boolean {
  if (!tq.dead) return true;
  tq.inRotation = false;
  return false;
}

/** `retain` predicate of a tenant queue's compaction: keeps the entries still waiting. */
function isUnsettled(e: Entry): boolean {
  return !e.settled;
}

/** `retain` predicate of the expiry heap's compaction: drops (and marks as out) the settled entries. */
function keepUnsettledInHeap(e: Entry): boolean {
  if (!e.settled) return true;
  e.inHeap = false;
  return false;
}

/** For a heap rebuilt with all its entries (after one's expiry moved). */
function keepAll(): boolean {
  return true;
}

/** `retain` predicate that empties the expiry heap (when nothing is queued, all of it is settled). */
function dropFromHeap(e: Entry): boolean {
  e.inHeap = false;
  return false;
}

/** A denial's wait as a timer delay: at least 1 ms so a denied item is never retried in a busy loop. */
function waitFor(retryAfterMs: number): number {
  return retryAfterMs > 1 ? retryAfterMs : 1;
}

/**
 * Admission queue with traffic-class priorities, tenant fairness, deadlines and graceful shutdown.
 * Pure: it knows nothing about limits; each item brings a `tryAdmit` that takes capacity (e.g. a
 * limiter reservation) or says when to try again.
 *
 * - **Fast path**: when nothing of the item's class or a higher class is waiting, `tryAdmit` is called
 *   right away; admitted work resolves with `waitedMs: 0`.
 * - **Denied**: a `whenLimited: 'reject'` class rejects at once (reason `limited`); `wait` and `queue`
 *   classes enqueue (a `wait` class is one with a short `maxWaitMs`). A denial with
 *   `retryAfterMs: Infinity` (can never pass) rejects at once with `limited`.
 * - **Pump**: queued work is retried when its wake-up (the limiter's `retryAfterMs`) comes — one timer
 *   for the whole queue, set to the earliest wake-up or expiry — and on every {@link notify}. Each pump
 *   serves classes by priority (highest first); within a class, round-robin across tenants, FIFO
 *   within a tenant. A lower class is not tried in a pump in which a higher class had due work that
 *   was denied and is still waiting, so batch work cannot take capacity live work is waiting for.
 *   Work tried before its wake-up (by `notify()`) and denied again does not hold lower classes back:
 *   its limiter already said "not before the wake-up", and the rule may be its own (a tenant's limit).
 * - **Expiry**: deadlines and max waits are enforced by the timer, also while a pump is waiting on a
 *   slow `tryAdmit` (work whose own `tryAdmit` is in flight is settled when that call returns).
 * - **Never lost**: work is admitted, or rejected with a {@link QueueRejectedError} whose reason is
 *   `limited`, `deadline`, `max-wait`, `queue-full`, `aborted` or `shutdown`, or with what its
 *   `tryAdmit` threw. An admitted value is always delivered (or handed to the item's `release`).
 * - **Events**: queued work leaves the queue with exactly one `admitted`, `rejected` or `failed`
 *   event (see {@link QueueEvent}), so a depth gauge or outcome counter fed from them never drifts.
 *
 * @example
 * ```ts
 * const scheduler = new PriorityScheduler({ clock, classes: policy.trafficClasses, onEvent: (e) => emit('queue', e) });
 * const { value: reservation, waitedMs } = await scheduler.schedule({
 *   trafficClass: 'batch', tenant: 'acme', deadline: request.deadline, signal: request.signal,
 *   tryAdmit: async () => {
 *     const d = await limiter.reserve(ctx, estimate, 'request');
 *     return d.ok ? { ok: true, value: d } : { ok: false, retryAfterMs: d.retryAfterMs, reason: d.rule.id };
 *   },
 *   release: (r) => r.cancel(),
 * });
 * // ... after the call settles and gives capacity back:
 * scheduler.notify();
 * ```
 */
export class PriorityScheduler {
  private readonly clock: Clock;
  private readonly onEvent: ((event: QueueEvent) => void) | undefined;
  private readonly rejectEarly: boolean;
  private readonly byName = new Map<string, ClassState>();
  /** Classes by priority, highest first (stable for equal priorities). */
  private readonly order: ClassState[];
  private readonly expiries = new MinHeap<Entry>((a, b) => a.expireAt < b.expireAt);
  private staleExpiries = 0;
  /** One-shot entries not yet seen by a pump. */
  private oneShots: Entry[] = [];
  /** Unsettled queued entries, all classes. */
  private total = 0;
  /** Fast-path `tryAdmit` calls still running. */
  private fastInFlight = 0;
  private closed = false;
  private draining = false;

  private pumping = false;
  private pumpScheduled = false;
  private repump = false;
  private forceNext = false;
  /** Classes with a priority below this were skipped by the last pump (a higher class was denied). */
  private blockBelow = -Infinity;

  private timer: AbortController | undefined;
  private timerAt = Infinity;
  private drainTimer: AbortController | undefined;
  private drainAt = Infinity;
  private idle: Promise<void> | undefined;
  private resolveIdle: (() => void) | undefined;

  private readonly runPump = (): void => {
    this.pumpScheduled = false;
    void this.pump();
  };

  constructor(options: PrioritySchedulerOptions) {
    this.clock = options.clock;
    this.onEvent = options.onEvent;
    this.rejectEarly = options.rejectEarly ?? true;
    const states: ClassState[] = [];
    for (const [name, def] of Object.entries(options.classes)) {
      const rejected = {} as Record<QueueRejectReason, number>;
      for (const r of QUEUE_REJECT_REASONS) rejected[r] = 0;
      const state: ClassState = {
        name,
        def,
        tenants: new Map(),
        rotation: new Fifo(),
        deadInRotation: 0,
        atOrAbove: [],
        count: 0,
        admitted: 0,
        admittedAfterWait: 0,
        failed: 0,
        rejected,
      };
      states.push(state);
      this.byName.set(name, state);
    }
    this.order = states.sort((a, b) => b.def.priority - a.def.priority);
    for (const s of this.order) s.atOrAbove = this.order.filter((o) => o.def.priority >= s.def.priority);
  }

  /**
   * Waits for admission of one piece of work and resolves with the admitted value, or rejects with
   * a {@link QueueRejectedError} (or with what `tryAdmit` threw). See the class docs for the order.
   *
   * @example
   * ```ts
   * const { value, waitedMs } = await scheduler.schedule({ trafficClass: 'live', tenant: 'acme', tryAdmit });
   * ```
   */
  schedule<T>(item: ScheduleItem<T>): Promise<Scheduled<T>> {
    const r = this.scheduleNow(item);
    return isPromiseLike(r) ? (r as Promise<Scheduled<T>>) : Promise.resolve(r);
  }

  /**
   * {@link schedule}, except that work admitted at once by a synchronous `tryAdmit` is returned
   * directly, without a promise (the engine's path with the in-memory store). Never throws: failures
   * are rejected promises, as with `schedule`.
   *
   * @example
   * ```ts
   * const r = scheduler.scheduleNow(item);
   * const { value } = r instanceof Promise ? await r : r;
   * ```
   */
  scheduleNow<T>(item: ScheduleItem<T>): Scheduled<T> | Promise<Scheduled<T>> {
    const cls = this.byName.get(item.trafficClass);
    if (cls === undefined) return Promise.reject(this.unknownClass(item.trafficClass));
    const now = item.now ?? this.clock.now();
    if (this.closed) return this.rejectNow(cls, item, 'shutdown', now, now);
    if (item.signal !== undefined && item.signal.aborted) return this.rejectNow(cls, item, 'aborted', now, now);
    if (item.deadline !== undefined && now >= item.deadline) return this.rejectNow(cls, item, 'deadline', now, now);
    if (this.total !== 0 && this.waitingAtOrAbove(cls)) return this.enqueue(cls, item, now, now, undefined);
    let r: Admission<T> | PromiseLike<Admission<T>>;
    try {
      r = item.tryAdmit();
    } catch (err) {
      cls.failed++;
      return Promise.reject(err);
    }
    if (isPromiseLike(r)) return this.fastAsync(cls, item, r, now);
    if (r.ok) {
      cls.admitted++;
      return { value: r.value, waitedMs: 0 };
    }
    return this.afterFastDenial(cls, item, r, now, now);
  }

  /**
   * True when work of `trafficClass` scheduled now would try admission at once: the scheduler is open
   * and nothing of this class or a higher one is queued. A caller with its own synchronous fast path
   * (the engine) asks this first, takes capacity itself, and reports it with {@link countAdmitted};
   * whatever it could not take goes through {@link schedule}.
   *
   * @example
   * ```ts
   * if (scheduler.admitsNow('live') && tryTake()) scheduler.countAdmitted('live');
   * ```
   */
  admitsNow(trafficClass: string): boolean {
    const cls = this.byName.get(trafficClass);
    return cls !== undefined && !this.closed && (this.total === 0 || !this.waitingAtOrAbove(cls));
  }

  /**
   * Counts work admitted by the caller's own fast path (see {@link admitsNow}) in `stats()`, as a
   * fast-path admission of {@link schedule} would be.
   *
   * @example
   * ```ts
   * scheduler.countAdmitted('live');
   * ```
   */
  countAdmitted(trafficClass: string): void {
    const cls = this.byName.get(trafficClass);
    if (cls !== undefined) cls.admitted++;
  }

  /**
   * The number of items of `trafficClass` waiting now (0 for an unknown class): `stats().classes[c].queued`
   * in O(1), without the snapshot of every class and tenant that {@link stats} builds. For the `depth`
   * of queue events and gauges read on every event.
   *
   * @example
   * ```ts
   * const depth = scheduler.queuedOf('batch'); // === scheduler.stats().classes.batch.queued
   * ```
   */
  queuedOf(trafficClass: string): number {
    return this.byName.get(trafficClass)?.count ?? 0;
  }

  /**
   * Capacity was given back (a settle, refund or released concurrency slot): try queued work now,
   * whether or not its wake-up has come. Cheap when nothing is queued; calls are coalesced.
   *
   * @example
   * ```ts
   * await limiter.settle(usage);
   * scheduler.notify();
   * ```
   */
  notify(): void {
    if (this.total !== 0) this.requestPump(true);
  }

  /**
   * Stops accepting work (new `schedule` calls reject with `shutdown`). Without `drain`, rejects all
   * queued work at once; with `drain`, keeps admitting it until the queue is empty or `timeoutMs`
   * passes, then rejects the rest. Resolves when nothing is queued or in flight. Calling it again
   * without `drain` ends a drain early.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => scheduler.shutdown({ drain: true, timeoutMs: 30_000 }).then(() => process.exit(0)));
   * ```
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.closed = true;
    if (this.idle === undefined) {
      this.idle = new Promise<void>((resolve) => {
        this.resolveIdle = resolve;
      });
    }
    if (options.drain === true && this.resolveIdle !== undefined) {
      this.draining = true;
      if (options.timeoutMs !== undefined) this.startDrainTimer(options.timeoutMs);
    } else {
      this.draining = false;
      this.rejectAll();
    }
    this.checkIdle();
    return this.idle;
  }

  /**
   * A snapshot of every class: waiting items, oldest wait, admissions and rejections by reason.
   *
   * @example
   * ```ts
   * const batch = scheduler.stats().classes.batch!;
   * console.log(batch.queued, batch.oldestWaitMs, batch.rejected['max-wait']);
   * ```
   */
  stats(): SchedulerStats {
    const now = this.clock.now();
    const classes: Record<string, TrafficClassQueueStats> = {};
    for (const cls of this.order) {
      let oldest = Infinity;
      for (const tq of cls.tenants.values()) {
        const head = this.headOf(tq);
        if (head !== undefined && head.arrivedAt < oldest) oldest = head.arrivedAt;
      }
      classes[cls.name] = {
        queued: cls.count,
        tenants: cls.tenants.size,
        oldestWaitMs: oldest === Infinity ? 0 : now - oldest,
        admitted: cls.admitted,
        admittedAfterWait: cls.admittedAfterWait,
        rejected: { ...cls.rejected },
        failed: cls.failed,
      };
    }
    return { queued: this.total, closed: this.closed, classes };
  }

  // ---------------------------------------------------------------- admission paths

  private waitingAtOrAbove(cls: ClassState): boolean {
    const above = cls.atOrAbove;
    for (let i = 0; i < above.length; i++) if (above[i]!.count !== 0) return true;
    return false;
  }

  private fastAsync<T>(
    cls: ClassState,
    item: ScheduleItem<T>,
    pending: PromiseLike<Admission<T>>,
    arrivedAt: number,
  ): Promise<Scheduled<T>> {
    this.fastInFlight++;
    return Promise.resolve(pending).then(
      (r) => {
        this.fastInFlight--;
        const now = this.clock.now();
        let out: Promise<Scheduled<T>>;
        if (!r.ok) {
          out = this.afterFastDenial(cls, item, r, arrivedAt, now);
        } else if (item.release !== undefined && item.signal !== undefined && item.signal.aborted) {
          this.release(item, r.value);
          out = this.rejectNow(cls, item, 'aborted', arrivedAt, now);
        } else if (item.release !== undefined && this.closed && !this.draining) {
          // shutdown() (without drain) was called while the limiter answered: not admitted after all.
          this.release(item, r.value);
          out = this.rejectNow(cls, item, 'shutdown', arrivedAt, now);
        } else {
          cls.admitted++;
          out = Promise.resolve({ value: r.value, waitedMs: now - arrivedAt });
        }
        this.checkIdle();
        return out;
      },
      (err: unknown) => {
        this.fastInFlight--;
        cls.failed++;
        this.checkIdle();
        throw err;
      },
    );
  }

  private afterFastDenial<T>(
    cls: ClassState,
    item: ScheduleItem<T>,
    r: { retryAfterMs: number; reason: string; pollHint?: boolean },
    arrivedAt: number,
    now: number,
  ): Promise<Scheduled<T>> {
    const denial = { retryAfterMs: r.retryAfterMs, limitReason: r.reason };
    if (r.retryAfterMs === Infinity || cls.def.whenLimited === 'reject') {
      return this.rejectNow(cls, item, 'limited', arrivedAt, now, denial);
    }
    if (this.closed && !this.draining) return this.rejectNow(cls, item, 'shutdown', arrivedAt, now, denial);
    if (item.signal !== undefined && item.signal.aborted) return this.rejectNow(cls, item, 'aborted', arrivedAt, now, denial);
    if (item.deadline !== undefined && now >= item.deadline) return this.rejectNow(cls, item, 'deadline', arrivedAt, now, denial);
    return this.enqueue(cls, item, arrivedAt, now, r);
  }

  /** Queues work: after a denial (`denial` set, wakes at its retry time) or behind other work (due now). */
  private enqueue<T>(
    cls: ClassState,
    item: ScheduleItem<T>,
    arrivedAt: number,
    now: number,
    denial: { retryAfterMs: number; reason: string; pollHint?: boolean } | undefined,
  ): Promise<Scheduled<T>> {
    const def = cls.def;
    const oneShot = def.whenLimited === 'reject';
    if (!oneShot && cls.count >= def.maxQueue) {
      return this.rejectNow(cls, item, 'queue-full', arrivedAt, now, {
        maxQueue: def.maxQueue,
        ...(denial ? { retryAfterMs: denial.retryAfterMs, limitReason: denial.reason } : {}),
      });
    }
    // One-shot work never waits past the pump that tries it, so maxWaitMs does not apply to it.
    let expireAt = oneShot ? Infinity : arrivedAt + def.maxWaitMs;
    let expireReason: Expiry = 'max-wait';
    if (item.deadline !== undefined && item.deadline <= expireAt) {
      expireAt = item.deadline;
      expireReason = 'deadline';
    }
    let retryAt: number | undefined;
    if (denial !== undefined) {
      retryAt = now + waitFor(denial.retryAfterMs);
      if (this.rejectEarly && denial.pollHint !== true && retryAt >= expireAt) {
        return this.rejectNow(cls, item, expireReason, arrivedAt, now, {
          retryAfterMs: denial.retryAfterMs,
          limitReason: denial.reason,
          early: true,
        });
      }
    }

    const key = item.tenant ?? '';
    let tq = cls.tenants.get(key);
    if (tq === undefined) {
      tq = { key, tenant: item.tenant, items: new Fifo(), live: 0, settled: 0, wakeAt: retryAt ?? now, dead: false, inRotation: false };
      cls.tenants.set(key, tq);
      this.rotate(cls, tq);
    }
    const queue = tq;
    let entry!: Entry;
    const promise = new Promise<Scheduled<T>>((resolve, reject) => {
      entry = {
        item: item as ScheduleItem<unknown>,
        cls,
        tq: queue,
        arrivedAt,
        expireAt,
        expireReason,
        oneShot,
        settled: false,
        inFlight: false,
        inHeap: false,
        cancel: undefined,
        retryAt,
        lastReason: denial?.reason,
        onAbort: undefined,
        resolve: resolve as (value: Scheduled<unknown>) => void,
        reject,
      };
    });
    queue.items.push(entry);
    queue.live++;
    cls.count++;
    this.total++;
    if (item.signal !== undefined) {
      const e = entry;
      e.onAbort = () => this.onAbort(e);
      item.signal.addEventListener('abort', e.onAbort, { once: true });
    }
    if (oneShot) this.oneShots.push(entry);
    // One-shot work too: queued behind a pump that waits on a slow call, it must still expire on time.
    if (expireAt !== Infinity) {
      this.expiries.push(entry);
      entry.inHeap = true;
    }
    if (this.onEvent !== undefined) {
      this.emit({
        type: 'enqueued',
        trafficClass: cls.name,
        tenant: item.tenant,
        queued: cls.count,
        retryAfterMs: denial?.retryAfterMs,
      });
    }
    if (denial === undefined) this.requestPump(false);
    else this.armAt(Math.min(queue.wakeAt, expireAt));
    // A running pump may be waiting on a slow tryAdmit: the timer must still expire this entry.
    if (this.pumping) this.armAt(expireAt);
    return promise;
  }

  private onAbort(e: Entry): void {
    if (e.settled) return;
    if (e.inFlight) {
      e.cancel ??= 'aborted';
      return;
    }
    this.rejectEntry(e, 'aborted', this.clock.now());
    // It may have been the work that blocked lower classes in the last pump.
    if (this.total !== 0) this.requestPump(false);
  }

  // ---------------------------------------------------------------- pump

  private requestPump(force: boolean): void {
    if (force) this.forceNext = true;
    if (this.pumping) {
      this.repump = true;
      return;
    }
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(this.runPump);
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.repump = false;
        const force = this.forceNext;
        this.forceNext = false;
        await this.runPass(force);
      } while (this.repump);
    } finally {
      this.pumping = false;
    }
    this.rearm();
    this.checkIdle();
  }

  /** One pump: expire, then serve classes by priority until a class is denied. */
  private async runPass(force: boolean): Promise<void> {
    this.expire(this.clock.now());
    const oneShots = this.oneShots;
    if (oneShots.length !== 0) this.oneShots = [];
    let blockBelow = -Infinity;
    let blockedUntil = Infinity;
    for (const cls of this.order) {
      if (cls.def.priority < blockBelow) break;
      if (cls.count === 0) continue;
      const deniedUntil = await this.pumpClass(cls, force);
      if (deniedUntil !== Infinity) {
        blockBelow = cls.def.priority;
        if (deniedUntil < blockedUntil) blockedUntil = deniedUntil;
      }
    }
    this.blockBelow = blockBelow;
    if (oneShots.length !== 0) {
      // One-shot work this pump was responsible for and did not try: it never waits.
      const now = this.clock.now();
      for (const e of oneShots) {
        if (e.settled || e.inFlight) continue;
        const blocked = e.cls.def.priority < blockBelow;
        const at = Math.max(e.tq.wakeAt, blocked ? blockedUntil : -Infinity);
        this.rejectEntry(e, 'limited', now, {
          retryAfterMs: Math.max(0, at - now),
          limitReason: e.lastReason ?? (blocked ? 'higher-priority work is waiting for capacity' : undefined),
        });
      }
    }
  }

  /**
   * Serves one class: round-robin over tenants whose head is due (all of them when `force`), one item
   * per turn, until every tenant was denied, is not due, or is empty. Tenants that were not served
   * keep their place at the front for the next pump. Returns the earliest retry time of denied work
   * that was due and is still waiting (Infinity when none): work tried early by a forced pump and
   * denied again does not block lower classes.
   */
  private async pumpClass(cls: ClassState, force: boolean): Promise<number> {
    let deniedUntil = Infinity;
    const stopped: TenantQueue[] = [];
    for (;;) {
      const tq = cls.rotation.shift();
      if (tq === undefined) break;
      tq.inRotation = false;
      if (tq.dead) {
        cls.deadInRotation--;
        continue;
      }
      let now = this.clock.now();
      const due = tq.wakeAt <= now;
      if (!force && !due) {
        stopped.push(tq);
        continue;
      }
      const e = this.headOf(tq);
      if (e === undefined) continue;
      if (now >= e.expireAt) {
        this.rejectEntry(e, e.expireReason, now);
        this.rotate(cls, tq);
        continue;
      }

      e.inFlight = true;
      let r: Admission<unknown>;
      try {
        const pending = e.item.tryAdmit();
        if (isPromiseLike(pending)) {
          // While this call runs, the timer keeps expiring the rest of the queue.
          this.armExpiry();
          r = await pending;
        } else {
          r = pending;
        }
      } catch (err) {
        e.inFlight = false;
        this.failEntry(e, err);
        this.rotate(cls, tq);
        continue;
      }
      e.inFlight = false;
      now = this.clock.now();
      // The item's deadline may have moved earlier during its try (the engine moved it to a route with
      // a deadline of its own): it bounds the entry from now on, the expiry timer included.
      const moved = e.item.deadline;
      if (moved !== undefined && moved < e.expireAt) this.moveExpiry(e, moved);
      const { expireAt, expireReason } = e;

      if (r.ok) {
        tq.wakeAt = now;
        if (e.cancel !== undefined && e.item.release !== undefined) {
          this.release(e.item, r.value);
          this.rejectEntry(e, e.cancel, now);
        } else if (now >= expireAt && e.item.release !== undefined) {
          // Its time ran out while its own call ran (the timer skipped it meanwhile): not admitted late.
          this.release(e.item, r.value);
          this.rejectEntry(e, expireReason, now);
        } else {
          this.admitEntry(e, r.value, now);
        }
        this.rotate(cls, tq);
        continue;
      }

      e.lastReason = r.reason;
      if (r.retryAfterMs === Infinity) {
        // This item can never pass; the ones behind it may.
        this.rejectEntry(e, e.cancel ?? 'limited', now, { retryAfterMs: Infinity });
        this.rotate(cls, tq);
        continue;
      }
      const retryAt = now + waitFor(r.retryAfterMs);
      tq.wakeAt = retryAt;
      e.retryAt = retryAt;
      stopped.push(tq);
      if (e.cancel !== undefined) this.rejectEntry(e, e.cancel, now);
      else if (e.oneShot) this.rejectEntry(e, 'limited', now);
      // Its expiry came during the call (the timer skipped it while it was in flight).
      else if (now >= expireAt) this.rejectEntry(e, expireReason, now);
      else if (this.rejectEarly && r.pollHint !== true && retryAt >= expireAt) this.rejectEntry(e, expireReason, now, { early: true });
      else if (due && retryAt < deniedUntil) deniedUntil = retryAt;
    }
    for (const tq of stopped) this.rotate(cls, tq);
    return deniedUntil;
  }

  /** Puts a live tenant queue at the back of its class's rotation (a dead one is dropped). */
  private rotate(cls: ClassState, tq: TenantQueue): void {
    if (tq.dead || tq.inRotation) return;
    tq.inRotation = true;
    cls.rotation.push(tq);
  }

  /** Moves `e`'s expiry earlier, to its item's new deadline: its place in the expiry heap and the timer follow. */
  private moveExpiry(e: Entry, deadline: number): void {
    e.expireAt = deadline;
    e.expireReason = 'deadline';
    // Rare (a budget downgrade): the heap is rebuilt rather than given a decrease-key of its own.
    if (e.inHeap) this.expiries.retain(keepAll);
    else {
      this.expiries.push(e);
      e.inHeap = true;
    }
    this.armExpiry();
  }

  private headOf(tq: TenantQueue): Entry | undefined {
    for (;;) {
      const e = tq.items.peek();
      if (e === undefined || !e.settled) return e;
      tq.items.shift();
      tq.settled--;
    }
  }

  /**
   * Rejects every entry whose expiry has come. Runs at the start of each pump pass and from the timer,
   * also while a pump waits on a `tryAdmit`. An entry whose own `tryAdmit` is in flight is skipped
   * (dropped from the heap): the pump settles it when the call returns.
   */
  private expire(now: number): void {
    const heap = this.expiries;
    for (;;) {
      const e = heap.peek();
      if (e === undefined || e.expireAt > now) return;
      heap.pop();
      e.inHeap = false;
      if (e.settled) {
        this.staleExpiries--;
        continue;
      }
      if (e.inFlight) continue;
      this.rejectEntry(e, e.expireReason, now);
    }
  }

  // ---------------------------------------------------------------- timers

  /** The queued entry that expires first, dropping settled ones off the top of the expiry heap. */
  private earliestExpiry() {
    const heap = this.expiries;
    let top = heap.peek();
    while (top !== undefined && top.settled) {
      heap.pop();
      top.inHeap = false;
      this.staleExpiries--;
      top = heap.peek();
    }
    return top;
  }

  /** Sets the pump timer to the earliest wake-up or expiry of the queue. */
  private rearm(): void {
    if (this.total === 0) {
      this.cancelTimer();
      return;
    }
    const now = this.clock.now();
    const top = this.earliestExpiry();
    let at = top === undefined ? Infinity : top.expireAt;
    for (const cls of this.order) {
      if (cls.count === 0) continue;
      // Due work of a class skipped for a denied higher class waits for that class's wake-up.
      const blocked = cls.def.priority < this.blockBelow;
      for (const tq of cls.tenants.values()) {
        const w = tq.wakeAt;
        if (w < at && (!blocked || w > now)) at = w;
      }
    }
    this.setTimer(at, now);
  }

  /** Moves the pump timer earlier if `at` is before it (a pump about to run re-arms when it ends). */
  private armAt(at: number): void {
    if (this.pumpScheduled) return;
    if (this.timer === undefined || at < this.timerAt) this.setTimer(at, this.clock.now());
  }

  /**
   * During a pump that waits on a `tryAdmit`: makes sure the timer fires by the earliest expiry, so
   * deadlines and max waits do not wait for that call. (Wake-ups can wait: the pump passes again.)
   */
  private armExpiry(): void {
    const top = this.earliestExpiry();
    if (top !== undefined && (this.timer === undefined || top.expireAt < this.timerAt)) {
      this.setTimer(top.expireAt, this.clock.now());
    }
  }

  /** The pump timer fired: pump, or, when a pump is running (maybe stuck on a slow limiter), expire now. */
  private onTimer(): void {
    if (!this.pumping) {
      this.requestPump(false);
      return;
    }
    this.repump = true;
    this.expire(this.clock.now());
    if (this.pumping && this.total !== 0) this.armExpiry();
  }

  private setTimer(at: number, now: number): void {
    if (at === Infinity) {
      this.cancelTimer();
      return;
    }
    if (this.timer !== undefined && this.timerAt === at) return;
    this.cancelTimer();
    const ac = new AbortController();
    this.timer = ac;
    this.timerAt = at;
    // At least 1 ms: a wake-up that is already due must not turn into a microtask spin.
    this.clock.sleep(Math.max(1, at - now), ac.signal).then(() => {
      if (this.timer !== ac) return;
      this.timer = undefined;
      this.timerAt = Infinity;
      this.onTimer();
    }, noop);
  }

  private cancelTimer(): void {
    const t = this.timer;
    if (t === undefined) return;
    this.timer = undefined;
    this.timerAt = Infinity;
    t.abort();
  }

  private startDrainTimer(timeoutMs: number): void {
    const now = this.clock.now();
    const at = now + Math.max(0, timeoutMs);
    if (this.drainTimer !== undefined && this.drainAt <= at) return;
    this.drainTimer?.abort();
    const ac = new AbortController();
    this.drainTimer = ac;
    this.drainAt = at;
    this.clock.sleep(at - now, ac.signal).then(() => {
      if (this.drainTimer !== ac) return;
      this.drainTimer = undefined;
      this.draining = false;
      this.rejectAll();
      this.checkIdle();
    }, noop);
  }

  // ---------------------------------------------------------------- settling

  private rejectAll(): void {
    const now = this.clock.now();
    const entries: Entry[] = [];
    for (const cls of this.order) {
      for (const tq of cls.tenants.values()) for (const e of tq.items.toArray()) if (!e.settled) entries.push(e);
    }
    for (const e of entries) {
      if (e.settled) continue;
      if (e.inFlight) e.cancel ??= 'shutdown';
      else this.rejectEntry(e, 'shutdown', now);
    }
  }

  private finish(e: Entry): void {
    e.settled = true;
    if (e.onAbort !== undefined) e.item.signal?.removeEventListener('abort', e.onAbort);
    if (e.inHeap) {
      this.staleExpiries++;
      // At most max(64, live entries in the heap) settled ones wait for the next compaction.
      if (this.staleExpiries > 64 && this.staleExpiries * 2 > this.expiries.size) {
        this.expiries.retain(keepUnsettledInHeap);
        this.staleExpiries = 0;
      }
    }
    const tq = e.tq;
    const cls = e.cls;
    if (--tq.live === 0) {
      tq.dead = true;
      cls.tenants.delete(tq.key);
      // Let go of the settled entries (and through them the items' closures) now, and of the queue
      // itself soon: nothing may pump this class again for a long time.
      tq.items = new Fifo();
      if (tq.inRotation && ++cls.deadInRotation * 2 > cls.rotation.size) {
        cls.rotation.retain(keepLive);
        cls.deadInRotation = 0;
      }
    } else if (++tq.settled > tq.live) {
      // Settled entries behind live ones (aborted behind a waiting head) would otherwise stay until the
      // head leaves — up to maxWaitMs — holding their items' closures, uncounted by maxQueue. Compacting
      // when they outnumber the live ones keeps the queue O(live) at amortised O(1) per settled entry.
      tq.items.retain(isUnsettled);
      tq.settled = 0;
    }
    cls.count--;
    if (--this.total === 0) {
      // Everything left in these is settled.
      if (this.expiries.size !== 0) {
        this.expiries.retain(dropFromHeap);
        this.staleExpiries = 0;
      }
      this.oneShots = [];
      this.cancelTimer();
      this.checkIdle();
    }
  }

  private admitEntry(e: Entry, value: unknown, now: number): void {
    this.finish(e);
    const cls = e.cls;
    cls.admitted++;
    cls.admittedAfterWait++;
    const waitedMs = now - e.arrivedAt;
    if (this.onEvent !== undefined) {
      this.emit({ type: 'admitted', trafficClass: cls.name, tenant: e.item.tenant, waitedMs });
    }
    e.resolve({ value, waitedMs });
  }

  private rejectEntry(e: Entry, reason: QueueRejectReason, now: number, extra?: Extra): void {
    this.finish(e);
    const details: Extra = {};
    if (e.retryAt !== undefined) details.retryAfterMs = Math.max(0, e.retryAt - now);
    if (e.lastReason !== undefined) details.limitReason = e.lastReason;
    e.reject(this.rejection(e.cls, e.item, reason, e.arrivedAt, now, extra ? Object.assign(details, extra) : details));
  }

  /** Queued work whose `tryAdmit` threw: leaves the queue (reported as `failed`) with that error. */
  private failEntry(e: Entry, err: unknown): void {
    this.finish(e);
    const cls = e.cls;
    cls.failed++;
    if (this.onEvent !== undefined) {
      const waitedMs = this.clock.now() - e.arrivedAt;
      this.emit({ type: 'failed', trafficClass: cls.name, tenant: e.item.tenant, waitedMs, error: err });
    }
    e.reject(err);
  }

  private rejectNow<T>(
    cls: ClassState,
    item: ScheduleItem<T>,
    reason: QueueRejectReason,
    arrivedAt: number,
    now: number,
    extra?: Extra,
  ): Promise<Scheduled<T>> {
    return Promise.reject(this.rejection(cls, item, reason, arrivedAt, now, extra ?? {}));
  }

  /** Counts, builds and reports a rejection. */
  private rejection(
    cls: ClassState,
    item: { readonly tenant?: string; readonly signal?: AbortSignal },
    reason: QueueRejectReason,
    arrivedAt: number,
    now: number,
    extra: Extra,
  ): QueueRejectedError {
    cls.rejected[reason]++;
    const waitedMs = now - arrivedAt;
    if (reason === 'aborted' && extra.cause === undefined && item.signal !== undefined) extra.cause = item.signal.reason;
    const error = new QueueRejectedError({
      ...extra,
      reason,
      trafficClass: cls.name,
      waitedMs,
      maxWaitMs: cls.def.maxWaitMs,
      maxQueue: cls.def.maxQueue,
    });
    if (this.onEvent !== undefined) {
      this.emit({ type: 'rejected', trafficClass: cls.name, tenant: item.tenant, reason, waitedMs, error });
    }
    return error;
  }

  private release<T>(item: ScheduleItem<T>, value: T): void {
    try {
      item.release?.(value);
    } catch {
      // A throwing release is the caller's bug; the scheduler's state must stay consistent.
    }
  }

  private emit(event: QueueEvent): void {
    try {
      this.onEvent?.(event);
    } catch {
      // Listeners must not break scheduling.
    }
  }

  private checkIdle(): void {
    if (this.resolveIdle === undefined || this.total !== 0 || this.fastInFlight !== 0) return;
    const resolve = this.resolveIdle;
    this.resolveIdle = undefined;
    this.draining = false;
    this.cancelTimer();
    if (this.drainTimer !== undefined) {
      const t = this.drainTimer;
      this.drainTimer = undefined;
      t.abort();
    }
    resolve();
  }

  private unknownClass(name: string): ResilienceError {
    const known = this.order.map((c) => `'${c.name}'`).join(', ');
    return new ResilienceError(
      `Unknown traffic class '${name}'; the scheduler knows ${known || 'no classes'}. ` +
        `Use one of them, or define the class in the policy's trafficClasses.`,
      { kind: 'invalid_request', code: 'ERR_LLMR_UNKNOWN_TRAFFIC_CLASS' },
    );
  }
}
