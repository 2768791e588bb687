import { ManualClock } from '../clock';
import type { TrafficClass } from '../policy/Policy';
import { PriorityScheduler } from './PriorityScheduler';
import { QueueRejectedError } from './QueueRejectedError';
import { track } from './schedulerTestKit';
import type { Admission, ScheduleItem } from './types';

const CLASSES: Record<string, TrafficClass> = {
  live: { name: 'live', priority: 100, reserve: 0, whenLimited: 'wait', maxWaitMs: 2_000, maxQueue: 100 },
  batch: { name: 'batch', priority: 10, reserve: 0.2, whenLimited: 'queue', maxWaitMs: 600_000, maxQueue: 1_000 },
};

describe('PriorityScheduler: a deadline moved earlier during a queued try', () => {
  it('is enforced by the timer even when the entry is held back behind a denied higher class', async () => {
    const clock = new ManualClock(0);
    const scheduler = new PriorityScheduler({ clock, classes: CLASSES });

    // Batch work: denied at first (retry in 100 ms); its second try moves its deadline to 300 (the
    // engine does this when a budget downgrades it to a route with a deadline) and is denied again.
    let bCalls = 0;
    const bCallTimes: number[] = [];
    const b: ScheduleItem<string> = {
      trafficClass: 'batch',
      tenant: 'B',
      tryAdmit: (): Admission<string> => {
        bCalls++;
        bCallTimes.push(clock.now());
        if (bCalls === 2) b.deadline = 300;
        return { ok: false, retryAfterMs: bCalls === 1 ? 100 : 50, reason: 'rule:b' };
      },
      release: () => undefined,
    };
    const bt = track(scheduler.schedule(b));

    // Live work that keeps being denied: while it waits, the batch class is not tried.
    let lCalls = 0;
    const lt = track(
      scheduler.schedule({
        trafficClass: 'live',
        tenant: 'L',
        tryAdmit: (): Admission<string> => {
          lCalls++;
          return { ok: false, retryAfterMs: lCalls === 1 ? 150 : 1_000, reason: 'rule:l' };
        },
      }),
    );

    await clock.advance(100); // B's second try: deadline moved to 300, next try at 150
    expect(bCalls).toBe(2);
    await clock.advance(50); // t=150: live is due and denied until 1150: batch is held back
    await clock.advance(200); // t=350: well past B's (moved) deadline of 300
    // B left the queue at its moved deadline, although its class was held back behind the denied live work.
    expect(bt.status).toBe('rejected');
    expect((bt.error as QueueRejectedError).reason).toBe('deadline');
    // and its tryAdmit was never called after the deadline.
    expect(bCallTimes.every((t) => t < 300)).toBe(true);
    void lt;
    await scheduler.shutdown();
  });
});
