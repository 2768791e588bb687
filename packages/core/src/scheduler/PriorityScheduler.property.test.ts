import fc from 'fast-check';
import { ManualClock } from '../clock';
import type { TrafficClass } from '../policy/Policy';
import { PriorityScheduler } from './PriorityScheduler';
import { QueueRejectedError } from './QueueRejectedError';
import type { Admission } from './types';

const CLASSES: Record<string, TrafficClass> = {
  live: { name: 'live', priority: 100, reserve: 0, whenLimited: 'wait', maxWaitMs: 2_000, maxQueue: 5 },
  strict: { name: 'strict', priority: 50, reserve: 0, whenLimited: 'reject', maxWaitMs: 0, maxQueue: 5 },
  batch: { name: 'batch', priority: 10, reserve: 0.2, whenLimited: 'queue', maxWaitMs: 20_000, maxQueue: 20 },
  tiny: { name: 'tiny', priority: 10, reserve: 0, whenLimited: 'queue', maxWaitMs: 5_000, maxQueue: 2 },
};
const CLASS_NAMES = Object.keys(CLASSES);

/**
 * The capacity model: a bucket of `burst` tokens refilled one per `periodMs`, plus tokens given
 * back (releases). Every admission takes one token and gets a unique serial number as its value.
 */
class Bucket {
  private tokens: number;
  private last = 0;
  granted = 0;
  givenBack = 0;

  constructor(
    private readonly clock: ManualClock,
    readonly burst: number,
    readonly periodMs: number,
  ) {
    this.tokens = burst;
  }

  private refill(): void {
    const n = Math.floor((this.clock.now() - this.last) / this.periodMs);
    if (n > 0) {
      this.tokens = Math.min(this.burst, this.tokens + n);
      this.last += n * this.periodMs;
    }
  }

  take(): Admission<number> {
    this.refill();
    if (this.tokens > 0) {
      this.tokens--;
      return { ok: true, value: ++this.granted };
    }
    return { ok: false, retryAfterMs: this.periodMs - (this.clock.now() - this.last), reason: 'bucket' };
  }

  giveBack(n: number): void {
    this.refill();
    this.tokens += n;
    this.givenBack += n;
  }

  /** Most admissions the model allows up to now. */
  bound(): number {
    return this.burst + Math.floor(this.clock.now() / this.periodMs) + this.givenBack;
  }
}

type Cmd =
  | {
      t: 'schedule';
      cls: string;
      tenant: number;
      deadlineIn: number | null;
      abortable: boolean;
      async: boolean;
      throwsOnSecondTry: boolean;
      withRelease: boolean;
    }
  | { t: 'advance'; ms: number }
  | { t: 'notify'; giveBack: number }
  | { t: 'abort'; index: number }
  | { t: 'shutdown'; drain: boolean; timeoutMs: number | null };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('schedule' as const),
      cls: fc.constantFrom(...CLASS_NAMES),
      tenant: fc.integer({ min: 0, max: 3 }),
      deadlineIn: fc.option(fc.integer({ min: 0, max: 6_000 }), { nil: null }),
      abortable: fc.boolean(),
      async: fc.boolean(),
      throwsOnSecondTry: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
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
      timeoutMs: fc.option(fc.integer({ min: 0, max: 5_000 }), { nil: null }),
    }),
  },
);

interface Rec {
  cls: string;
  arrivedAt: number;
  deadline: number | undefined;
  ac: AbortController | undefined;
  settles: number;
  status: 'pending' | 'resolved' | 'rejected';
  value: number | undefined;
  waitedMs: number | undefined;
  error: unknown;
  tries: number;
  inFlight: boolean;
  concurrentTries: number;
  triesAfterSettle: number;
  released: number[];
}

describe('PriorityScheduler (property)', () => {
  it('settles every piece of work exactly once and never admits more than the capacity model', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(cmdArb, { maxLength: 40 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 100, max: 1_000 }),
        fc.boolean(),
        fc.boolean(),
        async (cmds, burst, periodMs, rejectEarly, finalDrain) => {
          const clock = new ManualClock(0);
          const bucket = new Bucket(clock, burst, periodMs);
          const scheduler = new PriorityScheduler({ clock, classes: CLASSES, rejectEarly });
          const recs: Rec[] = [];

          for (const cmd of cmds) {
            switch (cmd.t) {
              case 'schedule': {
                const now = clock.now();
                const rec: Rec = {
                  cls: cmd.cls,
                  arrivedAt: now,
                  deadline: cmd.deadlineIn === null ? undefined : now + cmd.deadlineIn,
                  ac: cmd.abortable ? new AbortController() : undefined,
                  settles: 0,
                  status: 'pending',
                  value: undefined,
                  waitedMs: undefined,
                  error: undefined,
                  tries: 0,
                  inFlight: false,
                  concurrentTries: 0,
                  triesAfterSettle: 0,
                  released: [],
                };
                recs.push(rec);
                const tryAdmit = (): Admission<number> | Promise<Admission<number>> => {
                  if (rec.inFlight) rec.concurrentTries++;
                  if (rec.settles > 0) rec.triesAfterSettle++;
                  rec.tries++;
                  if (cmd.throwsOnSecondTry && rec.tries === 2) throw new Error('store down');
                  if (!cmd.async) return bucket.take();
                  rec.inFlight = true;
                  return Promise.resolve().then(() => {
                    rec.inFlight = false;
                    return bucket.take();
                  });
                };
                scheduler
                  .schedule({
                    trafficClass: cmd.cls,
                    tenant: `t${cmd.tenant}`,
                    ...(rec.deadline !== undefined ? { deadline: rec.deadline } : {}),
                    ...(rec.ac ? { signal: rec.ac.signal } : {}),
                    tryAdmit,
                    ...(cmd.withRelease
                      ? {
                          release: (v: number) => {
                            rec.released.push(v);
                            bucket.giveBack(1);
                          },
                        }
                      : {}),
                  })
                  .then(
                    (r) => {
                      rec.settles++;
                      rec.status = 'resolved';
                      rec.value = r.value;
                      rec.waitedMs = r.waitedMs;
                    },
                    (e: unknown) => {
                      rec.settles++;
                      rec.status = 'rejected';
                      rec.error = e;
                    },
                  );
                await clock.advance(0);
                break;
              }
              case 'advance':
                await clock.advance(cmd.ms);
                break;
              case 'notify':
                if (cmd.giveBack > 0) bucket.giveBack(cmd.giveBack);
                scheduler.notify();
                await clock.advance(0);
                break;
              case 'abort': {
                const abortable = recs.filter((r) => r.ac !== undefined);
                const target = abortable[cmd.index % Math.max(1, abortable.length)];
                target?.ac?.abort();
                await clock.advance(0);
                break;
              }
              case 'shutdown':
                void scheduler.shutdown({ drain: cmd.drain, ...(cmd.timeoutMs !== null ? { timeoutMs: cmd.timeoutMs } : {}) });
                await clock.advance(0);
                break;
            }
            expect(bucket.granted).toBeLessThanOrEqual(bucket.bound());
          }

          let finished = false;
          void scheduler.shutdown({ drain: finalDrain, timeoutMs: 30_000 }).then(() => (finished = true));
          for (let i = 0; i < 100 && !finished; i++) await clock.advance(1_000);
          await clock.advance(0);

          expect(finished).toBe(true);
          expect(clock.pending).toBe(0);
          expect(bucket.granted).toBeLessThanOrEqual(bucket.bound());
          for (const r of recs) {
            expect(r.settles).toBe(1);
            expect(r.concurrentTries).toBe(0);
            expect(r.triesAfterSettle).toBe(0);
            if (r.status === 'rejected' && !(r.error instanceof QueueRejectedError)) {
              expect((r.error as Error).message).toBe('store down');
            }
            if (r.status === 'resolved' && r.cls !== 'strict') {
              expect(r.waitedMs!).toBeLessThanOrEqual(CLASSES[r.cls]!.maxWaitMs);
            }
            if (r.status === 'resolved' && r.deadline !== undefined) {
              expect(r.arrivedAt + r.waitedMs!).toBeLessThan(r.deadline);
            }
          }
          // Every admitted value went to exactly one place: its caller or the item's release.
          const delivered = [
            ...recs.filter((r) => r.status === 'resolved').map((r) => r.value!),
            ...recs.flatMap((r) => r.released),
          ].sort((a, b) => a - b);
          expect(delivered).toEqual(Array.from({ length: bucket.granted }, (_, i) => i + 1));

          const stats = scheduler.stats();
          expect(stats.queued).toBe(0);
          let admitted = 0;
          let settled = 0;
          for (const c of Object.values(stats.classes)) {
            admitted += c.admitted;
            settled += c.admitted + c.failed + Object.values(c.rejected).reduce((a, b) => a + b, 0);
            expect(c.queued).toBe(0);
          }
          expect(admitted).toBe(recs.filter((r) => r.status === 'resolved').length);
          expect(settled).toBe(recs.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});
