import fc from 'fast-check';
import { ManualClock } from '../clock';
import type { TrafficClass } from '../policy/Policy';
import { PriorityScheduler } from './PriorityScheduler';
import { hangsAfterDenial, track } from './schedulerTestKit';
import { QueueRejectedError } from './QueueRejectedError';
import type { Admission } from './types';

/* Limiter calls that take time (a Redis round trip) or hang: queued work still settles on time, exactly once. */

const CLASSES: Record<string, TrafficClass> = {
  live: { name: 'live', priority: 100, reserve: 0, whenLimited: 'wait', maxWaitMs: 2_000, maxQueue: 100 },
  strict: { name: 'strict', priority: 50, reserve: 0, whenLimited: 'reject', maxWaitMs: 0, maxQueue: 100 },
  batch: { name: 'batch', priority: 10, reserve: 0.2, whenLimited: 'queue', maxWaitMs: 600_000, maxQueue: 1_000 },
};




describe('PriorityScheduler: slow limiter calls, expiry and shutdown', () => {
  it('one-shot (whenLimited: reject) work queued behind others is settled on time while a limiter call hangs', async () => {
    const clock = new ManualClock(0);
    const scheduler = new PriorityScheduler({ clock, classes: CLASSES });
    const hung = hangsAfterDenial(100);
    const a = track(scheduler.schedule({ trafficClass: 'live', tenant: 'A', tryAdmit: hung.tryAdmit }));
    await clock.advance(150); // A's second call is in flight and hangs
    expect(hung.calls()).toBe(2);
    // Queued behind waiting live work (higher class): one-shot, deadline at 300.
    const s = track(
      scheduler.schedule({ trafficClass: 'strict', tenant: 'S', deadline: 300, tryAdmit: () => ({ ok: true, value: 's' }) }),
    );
    await clock.advance(0);
    expect(s.status).toBe('pending');
    await clock.advance(1_000); // t = 1150, far past S's deadline; "never waits", "expires on time"
    expect(s.status).toBe('rejected');
    hung.answer({ ok: false, retryAfterMs: 10_000, reason: 'rule:test' });
    await clock.advance(0);
    expect(a.status).toBe('rejected');
  });

  it('a queued entry whose own call returns ok after its deadline is not admitted past the deadline (release exists)', async () => {
    const clock = new ManualClock(0);
    const scheduler = new PriorityScheduler({ clock, classes: CLASSES });
    const hung = hangsAfterDenial(100);
    const released: string[] = [];
    const a = track(
      scheduler.schedule({ trafficClass: 'batch', tenant: 'A', deadline: 500, tryAdmit: hung.tryAdmit, release: (v) => released.push(v) }),
    );
    await clock.advance(150); // second call in flight
    await clock.advance(1_000); // deadline (500) passes while it runs
    hung.answer({ ok: true, value: 'slot' });
    await clock.advance(0);
    // docs/concepts/scheduling.md: "settled when that call returns (admitted, or rejected if its time ran out)"
    expect(a.status).toBe('rejected');
    expect(released).toEqual(['slot']);
  });

  it('async fast-path admission that returns after shutdown() is not admitted (the engine relies on this)', async () => {
    const clock = new ManualClock(0);
    const scheduler = new PriorityScheduler({ clock, classes: CLASSES });
    const released: string[] = [];
    const t = track(
      scheduler.schedule({
        trafficClass: 'live',
        tryAdmit: async () => {
          await clock.sleep(50);
          return { ok: true, value: 'slot' } as const;
        },
        release: (v) => released.push(v),
      }),
    );
    await clock.advance(10);
    let done = false;
    void scheduler.shutdown().then(() => (done = true));
    await clock.advance(100);
    expect(done).toBe(true);
    // Queued work whose call was in flight is rejected 'shutdown' and released; the fast path is admitted.
    expect(t.status).toBe('rejected');
    expect(released).toEqual(['slot']);
  });

  it('property: with slow (clock-time) limiter calls, every item settles once, counters match, and queued work expires on time', async () => {
    type Cmd =
      | { t: 'schedule'; cls: string; tenant: number; deadlineIn: number | null; latency: number; abortable: boolean; withRelease: boolean }
      | { t: 'advance'; ms: number }
      | { t: 'notify'; giveBack: number }
      | { t: 'abort'; index: number }
      | { t: 'shutdown'; drain: boolean; timeoutMs: number | null };
    const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          t: fc.constant('schedule' as const),
          cls: fc.constantFrom('live', 'batch', 'strict'),
          tenant: fc.integer({ min: 0, max: 3 }),
          deadlineIn: fc.option(fc.integer({ min: 0, max: 3_000 }), { nil: null }),
          latency: fc.constantFrom(0, 0, 1, 30, 400, 2_500),
          abortable: fc.boolean(),
          withRelease: fc.boolean(),
        }),
      },
      { weight: 3, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 1_500 }) }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('notify' as const), giveBack: fc.integer({ min: 0, max: 2 }) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('abort' as const), index: fc.nat() }) },
      {
        weight: 1,
        arbitrary: fc.record({
          t: fc.constant('shutdown' as const),
          drain: fc.boolean(),
          timeoutMs: fc.option(fc.integer({ min: 0, max: 3_000 }), { nil: null }),
        }),
      },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb, { maxLength: 40 }), fc.integer({ min: 0, max: 3 }), async (cmds, start) => {
        const clock = new ManualClock(0);
        let tokens = start;
        let granted = 0;
        const scheduler = new PriorityScheduler({ clock, classes: CLASSES, rejectEarly: false });
        interface Rec {
          cls: string;
          expireAt: number;
          settles: number;
          inFlight: boolean;
          concurrent: number;
          afterSettle: number;
          ac?: AbortController;
        }
        const recs: Rec[] = [];
        const check = () => {
          const st = scheduler.stats();
          let sum = 0;
          for (const c of Object.keys(CLASSES)) {
            expect(scheduler.queuedOf(c)).toBe(st.classes[c]!.queued);
            expect(st.classes[c]!.queued).toBeGreaterThanOrEqual(0);
            sum += st.classes[c]!.queued;
          }
          expect(sum).toBe(st.queued);
          expect(st.queued).toBeLessThanOrEqual(recs.filter((r) => r.settles === 0).length);
          // Queued work whose own call is not running is settled by its expiry (strict: one-shot, excluded).
          const now = clock.now();
          for (const r of recs) {
            if (r.cls !== 'strict' && r.settles === 0 && !r.inFlight && now > r.expireAt) {
              throw new Error(`item of ${r.cls} still pending at ${now}, expiry ${r.expireAt}`);
            }
          }
        };
        for (const cmd of cmds) {
          switch (cmd.t) {
            case 'schedule': {
              const now = clock.now();
              const deadline = cmd.deadlineIn === null ? undefined : now + cmd.deadlineIn;
              const rec: Rec = {
                cls: cmd.cls,
                expireAt: Math.min(deadline ?? Infinity, now + CLASSES[cmd.cls]!.maxWaitMs),
                settles: 0,
                inFlight: false,
                concurrent: 0,
                afterSettle: 0,
              };
              if (cmd.abortable) rec.ac = new AbortController();
              recs.push(rec);
              const take = (): Admission<number> => {
                if (tokens > 0) {
                  tokens--;
                  return { ok: true, value: ++granted };
                }
                return { ok: false, retryAfterMs: 200, reason: 'bucket' };
              };
              const tryAdmit = (): Admission<number> | Promise<Admission<number>> => {
                if (rec.inFlight) rec.concurrent++;
                if (rec.settles > 0) rec.afterSettle++;
                if (cmd.latency === 0) return take();
                rec.inFlight = true;
                return clock.sleep(cmd.latency).then(() => {
                  rec.inFlight = false;
                  return take();
                });
              };
              scheduler
                .schedule({
                  trafficClass: cmd.cls,
                  tenant: `t${cmd.tenant}`,
                  ...(deadline !== undefined ? { deadline } : {}),
                  ...(rec.ac ? { signal: rec.ac.signal } : {}),
                  tryAdmit,
                  ...(cmd.withRelease ? { release: () => void tokens++ } : {}),
                })
                .then(
                  () => void rec.settles++,
                  (e: unknown) => {
                    rec.settles++;
                    if (!(e instanceof QueueRejectedError)) throw e;
                  },
                );
              await clock.advance(0);
              break;
            }
            case 'advance':
              await clock.advance(cmd.ms);
              break;
            case 'notify':
              tokens += cmd.giveBack;
              scheduler.notify();
              await clock.advance(0);
              break;
            case 'abort': {
              const ab = recs.filter((r) => r.ac !== undefined);
              ab[cmd.index % Math.max(1, ab.length)]?.ac?.abort();
              await clock.advance(0);
              break;
            }
            case 'shutdown':
              void scheduler.shutdown({ drain: cmd.drain, ...(cmd.timeoutMs !== null ? { timeoutMs: cmd.timeoutMs } : {}) });
              await clock.advance(0);
              break;
          }
          check();
        }
        let finished = false;
        void scheduler.shutdown({ drain: false }).then(() => (finished = true));
        for (let i = 0; i < 20 && !finished; i++) await clock.advance(1_000);
        await clock.advance(0);
        expect(finished).toBe(true);
        expect(clock.pending).toBe(0);
        for (const r of recs) {
          expect(r.settles).toBe(1);
          expect(r.concurrent).toBe(0);
          expect(r.afterSettle).toBe(0);
        }
        expect(scheduler.stats().queued).toBe(0);
      }),
      { numRuns: 400 },
    );
  });
});
