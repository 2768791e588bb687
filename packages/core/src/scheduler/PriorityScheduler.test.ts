import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ManualClock } from '../clock';
import { ResilienceError } from '../errors/ResilienceError';
import type { TrafficClass } from '../policy/Policy';
import { PriorityScheduler } from './PriorityScheduler';
import { hangsAfterDenial, track, type Tracked } from './schedulerTestKit';
import { QueueRejectedError } from './QueueRejectedError';
import type { Admission, QueueEvent } from './types';

const CLASSES: Record<string, TrafficClass> = {
  live: { name: 'live', priority: 100, reserve: 0, whenLimited: 'wait', maxWaitMs: 2_000, maxQueue: 100 },
  strict: { name: 'strict', priority: 50, reserve: 0, whenLimited: 'reject', maxWaitMs: 0, maxQueue: 100 },
  batch: { name: 'batch', priority: 10, reserve: 0.2, whenLimited: 'queue', maxWaitMs: 600_000, maxQueue: 1_000 },
  tiny: { name: 'tiny', priority: 5, reserve: 0, whenLimited: 'queue', maxWaitMs: 60_000, maxQueue: 2 },
};

/** A pool of `free` admissions; denials say "retry in `retryAfterMs`". Records every try. */
class Pool {
  free: number;
  retryAfterMs: number;
  readonly calls: string[] = [];
  constructor(free = 0, retryAfterMs = 1_000) {
    this.free = free;
    this.retryAfterMs = retryAfterMs;
  }
  admit(id: string): () => Admission<string> {
    return () => {
      this.calls.push(id);
      if (this.free > 0) {
        this.free--;
        return { ok: true, value: id };
      }
      return { ok: false, retryAfterMs: this.retryAfterMs, reason: 'rule:test' };
    };
  }
}



function rejection(t: Tracked<unknown>): QueueRejectedError {
  expect(t.status).toBe('rejected');
  expect(t.error).toBeInstanceOf(QueueRejectedError);
  return t.error as QueueRejectedError;
}

/** Node's garbage collector, for the tests that check what the scheduler lets go of. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}


function setup(opts: { free?: number; retryAfterMs?: number; rejectEarly?: boolean } = {}) {
  const clock = new ManualClock(0);
  const pool = new Pool(opts.free ?? 0, opts.retryAfterMs ?? 1_000);
  const events: QueueEvent[] = [];
  const scheduler = new PriorityScheduler({
    clock,
    classes: CLASSES,
    onEvent: (e) => events.push(e),
    ...(opts.rejectEarly !== undefined ? { rejectEarly: opts.rejectEarly } : {}),
  });
  return { clock, pool, events, scheduler, flush: () => clock.advance(0) };
}

describe('PriorityScheduler', () => {
  describe('fast path', () => {
    it('admits at once with waitedMs 0, calling tryAdmit synchronously and queueing nothing', async () => {
      const { clock, pool, scheduler, events } = setup({ free: 1 });
      const p = scheduler.schedule({ trafficClass: 'live', tenant: 't1', tryAdmit: pool.admit('a') });
      expect(pool.calls).toEqual(['a']);
      await expect(p).resolves.toEqual({ value: 'a', waitedMs: 0 });
      const s = scheduler.stats();
      expect(s.queued).toBe(0);
      expect(s.classes.live).toMatchObject({ queued: 0, admitted: 1, admittedAfterWait: 0 });
      expect(clock.pending).toBe(0);
      expect(events).toEqual([]);
    });

    it('scheduleNow returns a fast-path admission directly, and a promise when the work has to wait', async () => {
      const { clock, pool, scheduler } = setup({ free: 1 });
      expect(scheduler.scheduleNow({ trafficClass: 'live', tryAdmit: pool.admit('a') })).toEqual({ value: 'a', waitedMs: 0 });
      // `now` from the caller is used instead of a clock reading: a deadline at that instant has passed.
      const late = scheduler.scheduleNow({ trafficClass: 'live', now: 5_000, deadline: 5_000, tryAdmit: pool.admit('late') });
      await expect(late).rejects.toMatchObject({ reason: 'deadline' });
      const waiting = scheduler.scheduleNow({ trafficClass: 'live', tryAdmit: pool.admit('b') });
      expect(waiting).toBeInstanceOf(Promise);
      pool.free = 1;
      clock.advance(1_000);
      await expect(waiting).resolves.toEqual({ value: 'b', waitedMs: 1_000 });
      expect(pool.calls).toEqual(['a', 'b', 'b']);
    });

    it('admitsNow says whether new work of a class would go first; countAdmitted counts a caller-side admission', async () => {
      const { pool, scheduler } = setup();
      expect(scheduler.admitsNow('live')).toBe(true);
      expect(scheduler.admitsNow('nope')).toBe(false);
      const waiting = scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('b') }); // queued: the pool is empty
      expect(scheduler.admitsNow('batch')).toBe(false); // it would queue behind the waiting batch work
      expect(scheduler.admitsNow('tiny')).toBe(false); // lower classes too
      expect(scheduler.admitsNow('live')).toBe(true); // higher classes go first
      scheduler.countAdmitted('live');
      expect(scheduler.stats().classes.live).toMatchObject({ admitted: 1, queued: 0 });
      const stopped = scheduler.shutdown();
      expect(scheduler.admitsNow('live')).toBe(false);
      await expect(waiting).rejects.toMatchObject({ reason: 'shutdown' });
      await stopped;
    });

    it('admits through an async tryAdmit', async () => {
      const { scheduler } = setup();
      const p = scheduler.schedule({ trafficClass: 'batch', tryAdmit: async () => ({ ok: true as const, value: 42 }) });
      await expect(p).resolves.toEqual({ value: 42, waitedMs: 0 });
      expect(scheduler.stats().classes.batch!.admitted).toBe(1);
    });

    it('passes on what tryAdmit throws or rejects with, and counts it as failed', async () => {
      const { scheduler } = setup();
      const boom = new Error('store down');
      await expect(
        scheduler.schedule({
          trafficClass: 'live',
          tryAdmit: () => {
            throw boom;
          },
        }),
      ).rejects.toBe(boom);
      await expect(scheduler.schedule({ trafficClass: 'live', tryAdmit: () => Promise.reject(boom) })).rejects.toBe(boom);
      expect(scheduler.stats().classes.live!.failed).toBe(2);
    });

    it('reports queued work whose tryAdmit throws with a failed event, so queue depth and outcomes stay consistent', async () => {
      const clock = new ManualClock(0);
      const seen: Array<{ event: QueueEvent; depth: number }> = [];
      const scheduler: PriorityScheduler = new PriorityScheduler({
        clock,
        classes: CLASSES,
        onEvent: (e) => seen.push({ event: e, depth: scheduler.queuedOf(e.trafficClass) }),
      });
      const boom = new Error('store down');
      let tries = 0;
      const t = track(
        scheduler.schedule({
          trafficClass: 'batch',
          tenant: 'acme',
          tryAdmit: (): Admission<string> => {
            if (++tries === 1) return { ok: false, retryAfterMs: 1_000, reason: 'rule:test' };
            throw boom;
          },
        }),
      );
      await clock.advance(0);
      expect(seen.map((s) => [s.event.type, s.depth])).toEqual([['enqueued', 1]]);
      await clock.advance(1_000);
      expect(t.status).toBe('rejected');
      expect(t.error).toBe(boom);
      expect(tries).toBe(2);
      expect(seen.map((s) => [s.event.type, s.depth])).toEqual([
        ['enqueued', 1],
        ['failed', 0],
      ]);
      expect(seen[1]!.event).toEqual({ type: 'failed', trafficClass: 'batch', tenant: 'acme', waitedMs: 1_000, error: boom });
      expect(scheduler.stats().classes.batch).toMatchObject({ queued: 0, failed: 1 });
    });

    it('rejects an unknown traffic class with a coded error', async () => {
      const { scheduler, pool } = setup({ free: 1 });
      const err = await scheduler.schedule({ trafficClass: 'nope', tryAdmit: pool.admit('a') }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResilienceError);
      expect(err).toMatchObject({ code: 'ERR_LLMR_UNKNOWN_TRAFFIC_CLASS', kind: 'invalid_request' });
      expect((err as Error).message).toContain("'live'");
      expect(pool.calls).toEqual([]);
    });
  });

  describe('whenLimited', () => {
    it("'reject' rejects a denied request at once with reason limited and the limiter's retryAfter", async () => {
      const { scheduler, pool, events, clock } = setup({ retryAfterMs: 1_500 });
      const t = track(scheduler.schedule({ trafficClass: 'strict', tryAdmit: pool.admit('a') }));
      await clock.advance(0);
      const err = rejection(t);
      expect(err).toMatchObject({
        reason: 'limited',
        kind: 'rate_limited',
        code: 'ERR_LLMR_QUEUE_REJECTED',
        retryAfterMs: 1_500,
        trafficClass: 'strict',
        waitedMs: 0,
        limitReason: 'rule:test',
      });
      expect(err.message).toContain("whenLimited: 'queue'");
      expect(scheduler.stats().classes.strict!.rejected.limited).toBe(1);
      expect(scheduler.stats().queued).toBe(0);
      expect(events.map((e) => e.type)).toEqual(['rejected']);
    });

    it('rejects work that can never pass (retryAfterMs Infinity) at once, even in a queueing class', async () => {
      const { scheduler, pool, flush } = setup({ retryAfterMs: Infinity });
      const t = track(scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('huge') }));
      await flush();
      expect(rejection(t)).toMatchObject({ reason: 'limited', retryAfterMs: Infinity });
      expect(rejection(t).message).toContain('can never pass');
      expect(scheduler.stats().queued).toBe(0);
    });

    it("'queue' admits a denied item when its retryAfter has passed, with one timer", async () => {
      const { scheduler, pool, clock, events } = setup();
      const t = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'acme', tryAdmit: pool.admit('a') }));
      await clock.advance(0);
      expect(t.status).toBe('pending');
      expect(scheduler.stats().classes.batch!.queued).toBe(1);
      expect(clock.pending).toBe(1);
      await clock.advance(999);
      expect(pool.calls).toEqual(['a']);
      pool.free = 1;
      await clock.advance(1);
      expect(pool.calls).toEqual(['a', 'a']);
      expect(t).toMatchObject({ status: 'resolved', value: { value: 'a', waitedMs: 1_000 } });
      expect(clock.pending).toBe(0);
      expect(scheduler.stats().classes.batch).toMatchObject({ queued: 0, admitted: 1, admittedAfterWait: 1 });
      expect(events).toEqual([
        { type: 'enqueued', trafficClass: 'batch', tenant: 'acme', queued: 1, retryAfterMs: 1_000 },
        { type: 'admitted', trafficClass: 'batch', tenant: 'acme', waitedMs: 1_000 },
      ]);
    });

    it('keeps a single pump timer however many items wait', async () => {
      const { scheduler, pool, clock, flush } = setup();
      for (let i = 0; i < 50; i++) {
        void scheduler.schedule({ trafficClass: 'batch', tenant: `t${i}`, tryAdmit: pool.admit(`i${i}`) }).catch(() => {});
      }
      await flush();
      expect(scheduler.stats().queued).toBe(50);
      expect(clock.pending).toBe(1);
      await scheduler.shutdown();
      expect(clock.pending).toBe(0);
    });

    it('retries each denied tenant head once per pump while nothing is admitted', async () => {
      const { scheduler, pool, clock } = setup();
      for (const id of ['a1', 'a2', 'a3']) void scheduler.schedule({ trafficClass: 'batch', tenant: 'A', tryAdmit: pool.admit(id) }).catch(() => {});
      await clock.advance(0);
      expect(pool.calls).toEqual(['a1']); // a2, a3 wait behind a1 (FIFO within a tenant)
      await clock.advance(1_000);
      expect(pool.calls).toEqual(['a1', 'a1']);
      await scheduler.shutdown();
    });
  });

  describe('notify()', () => {
    it('wakes queued work before its retryAfter', async () => {
      const { scheduler, pool, clock } = setup();
      const t = track(scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('a') }));
      await clock.advance(100);
      expect(t.status).toBe('pending');
      pool.free = 1;
      scheduler.notify();
      await clock.advance(0);
      expect(t).toMatchObject({ status: 'resolved', value: { value: 'a', waitedMs: 100 } });
      expect(clock.pending).toBe(0);
    });

    it('does nothing when the queue is empty', async () => {
      const { scheduler, pool, clock } = setup();
      scheduler.notify();
      await clock.advance(0);
      expect(pool.calls).toEqual([]);
      expect(clock.pending).toBe(0);
    });

    it('coalesces calls within a tick into one pump', async () => {
      const { scheduler, pool, clock } = setup();
      void scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('a') }).catch(() => {});
      await clock.advance(0);
      for (let i = 0; i < 10; i++) scheduler.notify();
      await clock.advance(0);
      expect(pool.calls).toEqual(['a', 'a']);
      await scheduler.shutdown();
    });
  });

  describe('priority', () => {
    it('serves a higher class first', async () => {
      const { scheduler, pool, clock } = setup();
      const batch = track(scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('batch') }));
      await clock.advance(10);
      const live = track(scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('live') }));
      await clock.advance(0);
      expect(pool.calls).toEqual(['batch', 'live']); // live took the fast path: lower work does not hold it back

      pool.calls.length = 0;
      pool.free = 1;
      scheduler.notify();
      await clock.advance(0);
      expect(pool.calls).toEqual(['live', 'batch']);
      expect(live).toMatchObject({ status: 'resolved', value: { waitedMs: 0 + 0 } });
      expect(batch.status).toBe('pending');

      pool.free = 1;
      scheduler.notify();
      await clock.advance(0);
      expect(batch).toMatchObject({ status: 'resolved', value: { value: 'batch', waitedMs: 10 } });
    });

    it('reports live wait time from its arrival', async () => {
      const { scheduler, pool, clock } = setup();
      void scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('batch') }).catch(() => {});
      const live = track(scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('live') }));
      await clock.advance(300);
      pool.free = 1;
      scheduler.notify();
      await clock.advance(0);
      expect(live).toMatchObject({ status: 'resolved', value: { value: 'live', waitedMs: 300 } });
      await scheduler.shutdown();
    });

    it('queues lower-class work behind waiting higher-class work, and tries it when the higher work is not due', async () => {
      const { scheduler, pool, clock } = setup();
      const live = track(scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('live') })); // denied, wakes at 1000
      await clock.advance(0);
      pool.free = 1;
      const batch = track(scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('batch') }));
      expect(pool.calls).toEqual(['live']); // not on the fast path: a higher class is waiting
      await clock.advance(0);
      expect(pool.calls).toEqual(['live', 'batch']);
      expect(batch).toMatchObject({ status: 'resolved', value: { waitedMs: 0 } });
      expect(live.status).toBe('pending');
      await scheduler.shutdown();
    });

    it('does not try a lower class in a pump, notify() included, in which due higher work was denied', async () => {
      const { scheduler, pool, clock } = setup({ retryAfterMs: 500 });
      const live = track(scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('live') })); // wakes at 500
      const batch = track(scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('batch') })); // behind live
      await clock.advance(0); // live is not due: batch is tried (denied, wakes at 500)
      expect(pool.calls).toEqual(['live', 'batch']);
      clock.set(500); // both due; no timer fired yet
      scheduler.notify();
      await new Promise<void>((r) => setImmediate(r));
      expect(pool.calls).toEqual(['live', 'batch', 'live']);
      expect(live.status).toBe('pending');
      expect(batch.status).toBe('pending');
      await scheduler.shutdown();
    });

    it("a notify() that tries higher work before its wake-up does not hold lower classes back when it is denied again (e.g. by its tenant's own limit)", async () => {
      const { scheduler, clock } = setup();
      // Tenant A's own limit: one admission per 1 000 ms.
      let aNext = 0;
      const aLimit = (): Admission<string> => {
        if (clock.now() >= aNext) {
          aNext = clock.now() + 1_000;
          return { ok: true, value: 'A' };
        }
        return { ok: false, retryAfterMs: aNext - clock.now(), reason: 'rule:tenant-rpm' };
      };
      const a1 = track(scheduler.schedule({ trafficClass: 'live', tenant: 'A', tryAdmit: aLimit }));
      const a2 = track(scheduler.schedule({ trafficClass: 'live', tenant: 'A', tryAdmit: aLimit })); // queued, wakes at 1000
      await clock.advance(0);
      let bTries = 0;
      const b = track(
        scheduler.schedule({
          trafficClass: 'batch',
          tenant: 'B',
          tryAdmit: () => {
            bTries++;
            return { ok: true, value: 'B' };
          },
        }),
      );
      scheduler.notify(); // another request ended in the same tick
      await clock.advance(0);
      expect(a1.status).toBe('resolved');
      expect(bTries).toBe(1);
      expect(b).toMatchObject({ status: 'resolved', value: { value: 'B', waitedMs: 0 } });
      expect(a2.status).toBe('pending');
      await clock.advance(1_000);
      expect(a2).toMatchObject({ status: 'resolved', value: { value: 'A', waitedMs: 1_000 } });
    });

    it('retries lower work blocked by a denied higher class when the higher class wakes', async () => {
      const { scheduler, pool, clock } = setup({ retryAfterMs: 500 });
      const batch = track(scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('batch') })); // wakes 500
      const live = track(scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('live') })); // wakes 500
      await clock.advance(0);
      pool.calls.length = 0;
      await clock.advance(500); // both due; live denied -> batch not tried
      expect(pool.calls).toEqual(['live']);
      pool.free = 2;
      await clock.advance(500); // live's wake-up; then batch, which was due and blocked
      expect(pool.calls).toEqual(['live', 'live', 'batch']);
      expect(live.status).toBe('resolved');
      expect(batch.status).toBe('resolved');
    });

    it('tries blocked lower work at once when the higher work that blocked it is aborted', async () => {
      const { scheduler, pool, clock } = setup({ retryAfterMs: 500 });
      const ac = new AbortController();
      const batch = track(scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('batch') }));
      const live = track(scheduler.schedule({ trafficClass: 'live', signal: ac.signal, tryAdmit: pool.admit('live') }));
      await clock.advance(500); // both due; live denied again (wakes at 1000), batch blocked
      expect(pool.calls).toEqual(['batch', 'live', 'live']);
      await clock.advance(100);
      pool.free = 1;
      ac.abort();
      await clock.advance(0);
      expect(rejection(live).reason).toBe('aborted');
      expect(batch).toMatchObject({ status: 'resolved', value: { value: 'batch', waitedMs: 600 } });
    });

    it("rejects 'reject'-class work that arrives behind higher work which is denied in the same pump", async () => {
      const { scheduler, pool, clock } = setup({ retryAfterMs: 500 });
      void scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('live') }).catch(() => {}); // wakes at 500
      await clock.advance(0);
      clock.set(500); // live is due; no timer fired yet
      const strict = track(scheduler.schedule({ trafficClass: 'strict', tryAdmit: pool.admit('strict') }));
      await new Promise<void>((r) => setImmediate(r));
      expect(pool.calls).toEqual(['live', 'live']);
      expect(rejection(strict)).toMatchObject({ reason: 'limited', limitReason: 'higher-priority work is waiting for capacity' });
      expect(scheduler.stats().classes.strict!.queued).toBe(0);
      await scheduler.shutdown();
    });

    it("admits 'reject'-class work that arrives behind higher work which is not due", async () => {
      const { scheduler, pool, clock } = setup();
      void scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('live') }).catch(() => {});
      await clock.advance(0);
      pool.free = 1;
      const strict = track(scheduler.schedule({ trafficClass: 'strict', tryAdmit: pool.admit('strict') }));
      await clock.advance(0);
      expect(strict).toMatchObject({ status: 'resolved', value: { value: 'strict', waitedMs: 0 } });
      const denied = track(scheduler.schedule({ trafficClass: 'strict', tryAdmit: pool.admit('strict2') }));
      await clock.advance(0);
      expect(rejection(denied)).toMatchObject({ reason: 'limited', retryAfterMs: 1_000, limitReason: 'rule:test' });
      await scheduler.shutdown();
    });
  });

  describe('tenant fairness', () => {
    it("serves a tenant's single item within the first 2 admissions despite another tenant's 100", async () => {
      const { scheduler, pool, clock } = setup();
      const results: Tracked<string>[] = [];
      for (let i = 0; i < 100; i++) {
        results.push(track(scheduler.schedule({ trafficClass: 'batch', tenant: 'A', tryAdmit: pool.admit(`A${i}`) })));
      }
      results.push(track(scheduler.schedule({ trafficClass: 'batch', tenant: 'B', tryAdmit: pool.admit('B0') })));
      await clock.advance(0);
      const admitted: string[] = [];
      for (let round = 0; round < 101; round++) {
        pool.free = 1;
        scheduler.notify();
        await clock.advance(0);
        for (const r of results) if (r.status === 'resolved' && !admitted.includes(r.value!.value)) admitted.push(r.value!.value);
        expect(admitted).toHaveLength(round + 1);
      }
      expect(admitted.indexOf('B0')).toBeLessThan(2);
      expect(admitted.filter((id) => id.startsWith('A'))).toEqual(Array.from({ length: 100 }, (_, i) => `A${i}`));
      expect(scheduler.stats().queued).toBe(0);
    });

    it('rotates across tenants when there is capacity for several', async () => {
      const { scheduler, pool, clock } = setup();
      const order: string[] = [];
      for (const [tenant, n] of [['A', 3], ['B', 3], ['C', 1]] as const) {
        for (let i = 0; i < n; i++) {
          void scheduler.schedule({ trafficClass: 'batch', tenant, tryAdmit: pool.admit(`${tenant}${i}`) }).then((r) => order.push(r.value));
        }
      }
      await clock.advance(0);
      pool.free = 7;
      scheduler.notify();
      await clock.advance(0);
      expect(order).toEqual(['A0', 'B0', 'C0', 'A1', 'B1', 'A2', 'B2']);
    });
  });

  describe('deadlines and max wait', () => {
    it('rejects at once when the deadline is before the earliest possible admission', async () => {
      const { scheduler, pool, clock } = setup();
      const t = track(scheduler.schedule({ trafficClass: 'batch', deadline: 500, tryAdmit: pool.admit('a') }));
      await clock.advance(0);
      const err = rejection(t);
      expect(err).toMatchObject({ reason: 'deadline', waitedMs: 0, retryAfterMs: 1_000, kind: 'rate_limited' });
      expect(err.message).toContain('earliest possible admission is after its deadline');
      expect(scheduler.stats().queued).toBe(0);
    });

    it('rejects at the deadline when admission never came (rejectEarly off)', async () => {
      const { scheduler, pool, clock } = setup({ rejectEarly: false });
      const t = track(scheduler.schedule({ trafficClass: 'batch', deadline: 500, tryAdmit: pool.admit('a') }));
      await clock.advance(499);
      expect(t.status).toBe('pending');
      await clock.advance(1);
      expect(rejection(t)).toMatchObject({ reason: 'deadline', waitedMs: 500, retryAfterMs: 500 });
      expect(clock.pending).toBe(0);
      expect(pool.calls).toEqual(['a']);
    });

    it('rejects at once, without trying, a deadline that already passed', async () => {
      const { scheduler, pool, clock } = setup({ free: 1 });
      await clock.advance(1_000);
      const t = track(scheduler.schedule({ trafficClass: 'live', deadline: 1_000, tryAdmit: pool.admit('a') }));
      await clock.advance(0);
      expect(rejection(t).reason).toBe('deadline');
      expect(pool.calls).toEqual([]);
    });

    it("rejects with max-wait once the class's maxWaitMs has passed (rejectEarly off)", async () => {
      const { scheduler, pool, clock } = setup({ rejectEarly: false });
      const t = track(scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('a') }));
      await clock.advance(1_999);
      expect(t.status).toBe('pending');
      expect(pool.calls).toEqual(['a', 'a']); // at 0 and at 1000
      await clock.advance(1);
      const err = rejection(t);
      expect(err).toMatchObject({ reason: 'max-wait', waitedMs: 2_000 });
      expect(err.message).toContain('maxWait of 2.0 s');
    });

    it('rejects with max-wait as soon as the next admission would come after maxWaitMs', async () => {
      const { scheduler, pool, clock } = setup();
      const t = track(scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('a') }));
      await clock.advance(999);
      expect(t.status).toBe('pending');
      await clock.advance(1); // denied at 1000, next chance at 2000 = max wait
      expect(rejection(t)).toMatchObject({ reason: 'max-wait', waitedMs: 1_000, retryAfterMs: 1_000 });

      pool.retryAfterMs = 5_000;
      const long = track(scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('b') }));
      await clock.advance(0);
      expect(rejection(long)).toMatchObject({ reason: 'max-wait', waitedMs: 0, retryAfterMs: 5_000 });
    });
  });

  describe('slow (async) limiters', () => {
    it('re-arms for a tenant whose wake-up passed while another tenant was being tried', async () => {
      const { scheduler, pool, clock } = setup({ retryAfterMs: 1 });
      const a = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'A', tryAdmit: pool.admit('a') })); // wakes at 1
      const b = track(
        scheduler.schedule({
          trafficClass: 'batch',
          tenant: 'B',
          tryAdmit: () => {
            clock.set(clock.now() + 10); // this try takes 10 ms
            return { ok: false, retryAfterMs: 60_000, reason: 'slow' };
          },
        }),
      );
      // Flush without clock.advance, which would put the time back to its own target.
      await new Promise<void>((r) => setImmediate(r)); // a not due yet; b tried, denied at 10
      expect(clock.now()).toBe(10);
      pool.free = 1;
      await clock.advance(1);
      expect(a).toMatchObject({ status: 'resolved', value: { value: 'a', waitedMs: 10 } }); // its timer (due at 1) fires at once
      expect(b.status).toBe('pending');
      await scheduler.shutdown();
    });

    it('rejects, without trying, a head whose deadline passed while another tenant was being tried', async () => {
      const { scheduler, pool, clock } = setup();
      let bTries = 0;
      const a = track(
        scheduler.schedule({
          trafficClass: 'batch',
          tenant: 'A',
          tryAdmit: () => {
            clock.set(clock.now() + 600); // a slow limiter
            return { ok: false, retryAfterMs: 5_000, reason: 'slow' };
          },
        }),
      );
      await clock.advance(0);
      pool.free = 1;
      const b = track(
        scheduler.schedule({
          trafficClass: 'batch',
          tenant: 'B',
          deadline: clock.now() + 500,
          tryAdmit: () => {
            bTries++;
            return pool.admit('b')();
          },
        }),
      );
      scheduler.notify(); // tries A (600 ms), then B, whose deadline has passed by then
      await clock.advance(0);
      expect(rejection(b)).toMatchObject({ reason: 'deadline', waitedMs: 600 });
      expect(bTries).toBe(0);
      expect(a.status).toBe('pending');
      await scheduler.shutdown();
    });
  });

  describe('a limiter call that hangs', () => {
    it('rejects the rest of the queue at its deadlines and max waits while the call hangs', async () => {
      const { scheduler, clock } = setup({ rejectEarly: false });
      const hung = hangsAfterDenial(100);
      const a = track(scheduler.schedule({ trafficClass: 'live', tenant: 'A', tryAdmit: hung.tryAdmit })); // wakes at 100, then hangs
      const deny = (): Admission<string> => ({ ok: false, retryAfterMs: 100, reason: 'rule:test' });
      const b = track(scheduler.schedule({ trafficClass: 'live', tenant: 'B', deadline: 500, tryAdmit: deny }));
      const c = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'C', deadline: 700, tryAdmit: deny }));
      await clock.advance(100);
      expect(hung.calls()).toBe(2); // A's second call is in flight
      await clock.advance(400);
      expect(rejection(b)).toMatchObject({ reason: 'deadline', waitedMs: 500 });
      expect(c.status).toBe('pending');
      await clock.advance(200);
      expect(rejection(c)).toMatchObject({ reason: 'deadline', waitedMs: 700 });
      await clock.advance(5_000); // past A's max wait (2 s): A is settled when its call returns
      expect(a.status).toBe('pending');
      expect(scheduler.stats().queued).toBe(1);
      hung.answer({ ok: false, retryAfterMs: 100, reason: 'rule:test' });
      await clock.advance(0);
      expect(rejection(a)).toMatchObject({ reason: 'max-wait', waitedMs: 5_700 });
      expect(scheduler.stats().queued).toBe(0);
      expect(clock.pending).toBe(0);
    });

    it('rejects work queued while the call hangs at its deadline', async () => {
      const { scheduler, clock } = setup();
      const hung = hangsAfterDenial(100);
      const a = track(scheduler.schedule({ trafficClass: 'live', tenant: 'A', tryAdmit: hung.tryAdmit }));
      await clock.advance(150); // A's second call is in flight
      const deny = (): Admission<string> => ({ ok: false, retryAfterMs: 10, reason: 'rule:test' });
      const denied = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'B', deadline: 300, tryAdmit: deny }));
      // Behind waiting live work: queued without a try.
      const behind = track(scheduler.schedule({ trafficClass: 'live', tenant: 'C', deadline: 400, tryAdmit: deny }));
      await clock.advance(150);
      expect(rejection(denied)).toMatchObject({ reason: 'deadline', waitedMs: 150 });
      expect(behind.status).toBe('pending');
      await clock.advance(100);
      expect(rejection(behind)).toMatchObject({ reason: 'deadline', waitedMs: 250 });
      hung.answer({ ok: true, value: 'slot' });
      await clock.advance(0);
      expect(a).toMatchObject({ status: 'resolved', value: { value: 'slot', waitedMs: 400 } });
      expect(clock.pending).toBe(0);
    });

    it('a drain rejects what is left at its timeout, and shutdown resolves when the call returns (its work cancelled)', async () => {
      const { scheduler, clock } = setup();
      const hung = hangsAfterDenial(100);
      const released: string[] = [];
      const a = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'A', tryAdmit: hung.tryAdmit, release: (v) => released.push(v) }));
      const b = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'B', tryAdmit: () => ({ ok: false, retryAfterMs: 100, reason: 'rule:test' }) }));
      await clock.advance(100);
      expect(hung.calls()).toBe(2);
      let done = false;
      void scheduler.shutdown({ drain: true, timeoutMs: 1_000 }).then(() => (done = true));
      await clock.advance(1_000);
      expect(rejection(b)).toMatchObject({ reason: 'shutdown', waitedMs: 1_100 });
      expect(a.status).toBe('pending');
      expect(done).toBe(false); // A's limiter call is still running
      hung.answer({ ok: true, value: 'slot' });
      await clock.advance(0);
      expect(rejection(a).reason).toBe('shutdown');
      expect(released).toEqual(['slot']);
      expect(done).toBe(true);
      expect(clock.pending).toBe(0);
    });
  });

  describe('queue-full', () => {
    it('rejects when the class already holds maxQueue items', async () => {
      const { scheduler, pool, clock } = setup();
      const a = track(scheduler.schedule({ trafficClass: 'tiny', tryAdmit: pool.admit('a') }));
      const b = track(scheduler.schedule({ trafficClass: 'tiny', tryAdmit: pool.admit('b') }));
      const c = track(scheduler.schedule({ trafficClass: 'tiny', tryAdmit: pool.admit('c') }));
      await clock.advance(0);
      expect([a.status, b.status]).toEqual(['pending', 'pending']);
      const err = rejection(c);
      expect(err.reason).toBe('queue-full');
      expect(err.message).toContain('maxQueue 2');
      expect(pool.calls).toEqual(['a']);
      await scheduler.shutdown();
    });
  });

  describe('abort', () => {
    it('rejects queued work when its signal aborts, with kind cancelled', async () => {
      const { scheduler, pool, clock } = setup();
      const ac = new AbortController();
      const t = track(scheduler.schedule({ trafficClass: 'batch', signal: ac.signal, tryAdmit: pool.admit('a') }));
      await clock.advance(100);
      const reason = new Error('user left');
      ac.abort(reason);
      await clock.advance(0);
      const err = rejection(t);
      expect(err).toMatchObject({ reason: 'aborted', kind: 'cancelled', waitedMs: 100 });
      expect(err.cause).toBe(reason);
      expect(scheduler.stats()).toMatchObject({ queued: 0, classes: { batch: { rejected: { aborted: 1 } } } });
      expect(clock.pending).toBe(0);
    });

    it("lets go of work aborted before its wake-up, even when nothing pumps the class again (no growth per aborted request)", async () => {
      // No event listener here: a kept rejection's unformatted stack trace would hold the work itself.
      const clock = new ManualClock(0);
      const scheduler = new PriorityScheduler({ clock, classes: CLASSES });
      const pool = new Pool(0);
      const refs: WeakRef<object>[] = [];
      const scheduleAborted = async (i: number): Promise<void> => {
        const ac = new AbortController();
        const prompt = { text: `prompt ${i}` }; // what the engine's closure holds (its RequestState)
        refs.push(new WeakRef(prompt));
        const t = track(
          scheduler.schedule({
            trafficClass: 'live',
            tenant: `t${i % 10}`,
            signal: ac.signal,
            tryAdmit: () => (prompt.text.length > 0 ? pool.admit('x')() : { ok: true, value: 'never' }),
          }),
        );
        await clock.advance(0); // denied, wakes in 1 s
        ac.abort(); // the client went away while waiting
        await clock.advance(0);
        expect(rejection(t).reason).toBe('aborted');
      };
      for (let i = 0; i < 200; i++) await scheduleAborted(i);
      expect(scheduler.stats()).toMatchObject({ queued: 0, classes: { live: { queued: 0, tenants: 0 } } });
      await new Promise<void>((r) => setImmediate(r));
      collectGarbage();
      expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0);

      // Same while other work keeps the class queued (no pump of the class in between).
      refs.length = 0;
      const stays = track(scheduler.schedule({ trafficClass: 'live', tenant: 'stays', tryAdmit: pool.admit('stays') }));
      for (let i = 0; i < 1_000; i++) await scheduleAborted(i);
      expect(scheduler.stats()).toMatchObject({ queued: 1, classes: { live: { queued: 1, tenants: 1 } } });
      await new Promise<void>((r) => setImmediate(r));
      collectGarbage();
      // The expiry heap drops settled entries in batches (at most 64 wait for the next batch): bounded, not per request.
      expect(refs.filter((r) => r.deref() !== undefined).length).toBeLessThanOrEqual(64);
      expect(stays.status).toBe('pending');
      await scheduler.shutdown();
    });

    it('lets go of work aborted or expired behind a waiting head of its own tenant (settled entries do not pile up in the tenant queue)', async () => {
      // No event listener: a kept rejection's stack would hold the work itself.
      const clock = new ManualClock(0);
      const scheduler = new PriorityScheduler({ clock, classes: CLASSES });
      const denied = (): Admission<string> => ({ ok: false, retryAfterMs: 60_000, reason: 'rule:tenant' });
      // The tenant's head waits for its own limit (a minute); the tenant's later requests queue behind it.
      const head = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'acme', tryAdmit: denied }));
      await clock.advance(0);
      const refs: WeakRef<object>[] = [];
      const scheduleBehind = (i: number, extra: { signal?: AbortSignal; deadline?: number }): Tracked<string> => {
        const prompt = { text: `prompt ${i}` }; // what the engine's closure holds (its RequestState)
        refs.push(new WeakRef(prompt));
        return track(
          scheduler.schedule({
            trafficClass: 'batch',
            tenant: 'acme',
            ...extra,
            tryAdmit: () => (prompt.text.length > 0 ? denied() : { ok: true, value: 'never' }),
          }),
        );
      };
      for (let i = 0; i < 500; i++) {
        const ac = new AbortController();
        const t = scheduleBehind(i, { signal: ac.signal });
        await clock.advance(0);
        ac.abort(); // the client went away while waiting
        await clock.advance(0);
        expect(rejection(t).reason).toBe('aborted');
      }
      expect(scheduler.stats()).toMatchObject({ queued: 1, classes: { batch: { queued: 1, tenants: 1 } } });
      expect(head.status).toBe('pending');
      await new Promise<void>((r) => setImmediate(r));
      collectGarbage();
      // Bounded (the expiry heap drops settled entries in batches of up to 64), not one kept per aborted request.
      expect(refs.filter((r) => r.deref() !== undefined).length).toBeLessThanOrEqual(64);

      // Same for work whose deadline passes behind the head (settled by the expiry timer, not by a pump).
      refs.length = 0;
      const expired: Tracked<string>[] = [];
      for (let i = 0; i < 300; i++) expired.push(scheduleBehind(i, { deadline: clock.now() + 10 }));
      await clock.advance(10);
      for (const t of expired) expect(rejection(t).reason).toBe('deadline');
      expect(scheduler.stats()).toMatchObject({ queued: 1, classes: { batch: { queued: 1, tenants: 1 } } });
      expect(head.status).toBe('pending');
      expired.length = 0;
      await new Promise<void>((r) => setImmediate(r));
      collectGarbage();
      expect(refs.filter((r) => r.deref() !== undefined).length).toBeLessThanOrEqual(64);
      await scheduler.shutdown();
      expect(rejection(head).reason).toBe('shutdown');
    });

    it('keeps FIFO order among a tenant\'s remaining work when settled entries behind its head are compacted away', async () => {
      const { scheduler, pool, clock, flush } = setup();
      const head = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'acme', tryAdmit: pool.admit('head') }));
      await flush(); // denied: the tenant waits a second
      const controllers = new Map<string, AbortController>();
      const tracked = new Map<string, Tracked<string>>();
      const add = (id: string, deadline?: number): void => {
        const ac = new AbortController();
        controllers.set(id, ac);
        const item = { trafficClass: 'batch', tenant: 'acme', signal: ac.signal, tryAdmit: pool.admit(id) };
        tracked.set(id, track(scheduler.schedule(deadline === undefined ? item : { ...item, deadline })));
      };
      // Another tenant's work in the same class, to check the round-robin is unaffected.
      const other = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'other', tryAdmit: pool.admit('other') }));
      for (let i = 0; i < 12; i++) add(`a${i}`, i % 4 === 3 ? clock.now() + 50 : undefined);
      await flush();
      // Settle most of the tenant's queued work out of order: the queue is compacted when its settled
      // entries outnumber its live ones (here at the 7th abort, then at the 4th d-abort).
      for (const i of [1, 2, 4, 5, 7, 8, 10, 11]) controllers.get(`a${i}`)!.abort();
      await flush();
      add('b0');
      add('b1');
      controllers.get('b0')!.abort();
      await clock.advance(50); // a3 (and a7, a11, already aborted) expire behind the head
      for (const id of ['d0', 'd1', 'd2', 'd3']) add(id);
      for (const id of ['d0', 'd1', 'd2', 'd3']) controllers.get(id)!.abort();
      await flush();
      expect(rejection(tracked.get('a3')!).reason).toBe('deadline');
      for (const id of ['a1', 'a2', 'a4', 'a5', 'a7', 'a8', 'a10', 'a11', 'b0', 'd0', 'd1', 'd2', 'd3']) {
        expect(rejection(tracked.get(id)!).reason).toBe('aborted');
      }
      const left = ['a0', 'a6', 'a9', 'b1'];
      expect(scheduler.stats()).toMatchObject({ queued: 6, classes: { batch: { queued: 6, tenants: 2, oldestWaitMs: 50 } } });
      add('c0'); // queued after the compactions: still last

      pool.calls.length = 0;
      pool.free = 100;
      scheduler.notify();
      await flush();
      expect(head).toMatchObject({ status: 'resolved', value: { value: 'head' } });
      expect(other).toMatchObject({ status: 'resolved', value: { value: 'other' } });
      for (const id of [...left, 'c0']) expect(tracked.get(id)).toMatchObject({ status: 'resolved', value: { value: id } });
      expect(pool.calls.filter((id) => id !== 'other')).toEqual(['head', ...left, 'c0']);
      expect(pool.calls.indexOf('other')).toBe(1); // round-robin: the other tenant's turn right after acme's head
      expect(scheduler.stats().queued).toBe(0);
      expect(clock.pending).toBe(0);
    });

    it('rejects an already aborted signal without trying', async () => {
      const { scheduler, pool } = setup({ free: 1 });
      const ac = new AbortController();
      ac.abort();
      await expect(scheduler.schedule({ trafficClass: 'live', signal: ac.signal, tryAdmit: pool.admit('a') })).rejects.toMatchObject({
        reason: 'aborted',
      });
      expect(pool.calls).toEqual([]);
    });

    it('releases a value admitted while the work was being aborted', async () => {
      const { scheduler, pool, clock } = setup();
      const ac = new AbortController();
      let answer: (a: Admission<string>) => void = () => {};
      let tries = 0;
      const released: string[] = [];
      const t = track(
        scheduler.schedule({
          trafficClass: 'batch',
          signal: ac.signal,
          tryAdmit: () => {
            tries++;
            if (tries === 1) return pool.admit('a')();
            return new Promise<Admission<string>>((r) => (answer = r));
          },
          release: (v) => released.push(v),
        }),
      );
      await clock.advance(0);
      scheduler.notify();
      await clock.advance(0);
      expect(tries).toBe(2);
      ac.abort();
      await clock.advance(0);
      expect(t.status).toBe('pending'); // tryAdmit is in flight
      answer({ ok: true, value: 'slot' });
      await clock.advance(0);
      expect(rejection(t).reason).toBe('aborted');
      expect(released).toEqual(['slot']);
    });

    it('delivers a value admitted while the work was being aborted when there is no release', async () => {
      const { scheduler, clock } = setup();
      const ac = new AbortController();
      let answer: (a: Admission<string>) => void = () => {};
      const t = track(
        scheduler.schedule({
          trafficClass: 'live',
          signal: ac.signal,
          tryAdmit: () => new Promise<Admission<string>>((r) => (answer = r)),
        }),
      );
      ac.abort();
      answer({ ok: true, value: 'slot' });
      await clock.advance(0);
      expect(t).toMatchObject({ status: 'resolved', value: { value: 'slot' } });
    });
  });

  describe('shutdown', () => {
    it('without drain rejects all queued work at once and refuses new work', async () => {
      const { scheduler, pool, clock } = setup();
      const a = track(scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('a') }));
      const b = track(scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('b') }));
      await clock.advance(50);
      let done = false;
      void scheduler.shutdown().then(() => (done = true));
      await clock.advance(0);
      expect(done).toBe(true);
      expect(rejection(a)).toMatchObject({ reason: 'shutdown', waitedMs: 50 });
      expect(rejection(b).reason).toBe('shutdown');
      expect(rejection(b).message).toContain('shutting down');
      pool.free = 1;
      await expect(scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('c') })).rejects.toMatchObject({ reason: 'shutdown' });
      expect(pool.calls).toEqual(['a', 'b']);
      expect(scheduler.stats()).toMatchObject({ queued: 0, closed: true });
      expect(clock.pending).toBe(0);
    });

    it('with drain keeps admitting queued work and resolves when the queue is empty', async () => {
      const { scheduler, pool, clock } = setup();
      const a = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'A', tryAdmit: pool.admit('a') }));
      const b = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'B', tryAdmit: pool.admit('b') }));
      await clock.advance(0);
      let done = false;
      void scheduler.shutdown({ drain: true }).then(() => (done = true));
      await expect(scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('late') })).rejects.toMatchObject({
        reason: 'shutdown',
      });
      pool.free = 1;
      await clock.advance(1_000);
      expect(a.status).toBe('resolved');
      expect(done).toBe(false);
      pool.free = 1;
      scheduler.notify();
      await clock.advance(0);
      expect(b.status).toBe('resolved');
      expect(done).toBe(true);
      expect(clock.pending).toBe(0);
    });

    it('with drain and timeoutMs rejects what is left when the timeout passes', async () => {
      const { scheduler, pool, clock } = setup();
      const a = track(scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('a') }));
      await clock.advance(0);
      let done = false;
      void scheduler.shutdown({ drain: true, timeoutMs: 5_000 }).then(() => (done = true));
      await clock.advance(4_999);
      expect(a.status).toBe('pending');
      await clock.advance(1);
      expect(rejection(a)).toMatchObject({ reason: 'shutdown', waitedMs: 5_000 });
      expect(done).toBe(true);
      expect(clock.pending).toBe(0);
    });

    it('a later shutdown without drain ends a drain early', async () => {
      const { scheduler, pool, clock } = setup();
      const a = track(scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('a') }));
      await clock.advance(0);
      const first = scheduler.shutdown({ drain: true });
      const second = scheduler.shutdown();
      await clock.advance(0);
      await expect(first).resolves.toBeUndefined();
      await expect(second).resolves.toBeUndefined();
      expect(rejection(a).reason).toBe('shutdown');
    });

    it('rejects work whose tryAdmit is in flight when it returns, releasing an admitted value', async () => {
      const { scheduler, pool, clock } = setup();
      const answers: ((a: Admission<string>) => void)[] = [];
      const released: string[] = [];
      const slow = (id: string) => {
        let tries = 0;
        return (): Admission<string> | Promise<Admission<string>> => {
          if (++tries === 1) return pool.admit(id)();
          return new Promise<Admission<string>>((r) => answers.push(r));
        };
      };
      const a = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'A', tryAdmit: slow('a'), release: (v) => released.push(v) }));
      const b = track(scheduler.schedule({ trafficClass: 'batch', tenant: 'B', tryAdmit: slow('b') }));
      await clock.advance(0);
      scheduler.notify();
      await clock.advance(0);
      expect(answers).toHaveLength(1); // a's second try is in flight; b waits for it
      let done = false;
      void scheduler.shutdown().then(() => (done = true));
      await clock.advance(0);
      expect(rejection(b).reason).toBe('shutdown');
      expect(a.status).toBe('pending');
      expect(done).toBe(false);
      answers[0]!({ ok: true, value: 'slot' });
      await clock.advance(0);
      expect(rejection(a).reason).toBe('shutdown');
      expect(released).toEqual(['slot']);
      expect(done).toBe(true);
    });

    it('resolves at once when nothing is queued', async () => {
      const { scheduler } = setup();
      await expect(scheduler.shutdown({ drain: true })).resolves.toBeUndefined();
    });
  });

  describe('stats', () => {
    it('reports queued items, tenants and the oldest wait per class', async () => {
      const { scheduler, pool, clock } = setup();
      void scheduler.schedule({ trafficClass: 'batch', tenant: 'A', tryAdmit: pool.admit('a') }).catch(() => {});
      await clock.advance(200);
      void scheduler.schedule({ trafficClass: 'batch', tenant: 'B', tryAdmit: pool.admit('b') }).catch(() => {});
      await clock.advance(100);
      const s = scheduler.stats();
      expect(s.queued).toBe(2);
      expect(s.classes.batch).toMatchObject({ queued: 2, tenants: 2, oldestWaitMs: 300 });
      expect(s.classes.live).toMatchObject({ queued: 0, oldestWaitMs: 0 });
      await scheduler.shutdown();
      expect(scheduler.stats().classes.batch!.rejected.shutdown).toBe(2);
    });

    it('queuedOf counts the waiting items of one class, as stats() does, at every queue event', async () => {
      const clock = new ManualClock(0);
      const seen: [number, number][] = [];
      const scheduler: PriorityScheduler = new PriorityScheduler({
        clock,
        classes: CLASSES,
        onEvent: (e) => seen.push([scheduler.queuedOf(e.trafficClass), scheduler.stats().classes[e.trafficClass]!.queued]),
      });
      const pool = new Pool(0);
      const ac = new AbortController();
      void scheduler.schedule({ trafficClass: 'batch', tenant: 'A', tryAdmit: pool.admit('a') }).catch(() => {});
      void scheduler.schedule({ trafficClass: 'batch', tenant: 'B', signal: ac.signal, tryAdmit: pool.admit('b') }).catch(() => {});
      void scheduler.schedule({ trafficClass: 'live', tryAdmit: pool.admit('c') }).catch(() => {});
      await clock.advance(0);
      expect(scheduler.queuedOf('batch')).toBe(2);
      expect(scheduler.queuedOf('live')).toBe(1);
      expect(scheduler.queuedOf('strict')).toBe(0);
      expect(scheduler.queuedOf('no-such-class')).toBe(0);
      ac.abort();
      pool.free = 1;
      scheduler.notify();
      await clock.advance(0);
      expect(scheduler.queuedOf('batch')).toBe(1);
      expect(scheduler.queuedOf('live')).toBe(0);
      await scheduler.shutdown();
      expect(scheduler.queuedOf('batch')).toBe(0);
      expect(seen.length).toBeGreaterThanOrEqual(6); // 3 enqueued, aborted, admitted, shutdown
      for (const [fast, snapshot] of seen) expect(fast).toBe(snapshot);
    });

    it('survives a listener that throws', async () => {
      const clock = new ManualClock(0);
      const scheduler = new PriorityScheduler({
        clock,
        classes: CLASSES,
        onEvent: () => {
          throw new Error('bad listener');
        },
      });
      const pool = new Pool(0);
      const t = track(scheduler.schedule({ trafficClass: 'batch', tryAdmit: pool.admit('a') }));
      await clock.advance(0);
      pool.free = 1;
      scheduler.notify();
      await clock.advance(0);
      expect(t.status).toBe('resolved');
    });
  });
});
