import { ManualClock } from '@llm-resilience/core';
import { BackoffTimer } from './BackoffTimer';

function setup() {
  const clock = new ManualClock(0);
  const runs: number[] = [];
  const timer = new BackoffTimer({ clock, initialMs: 100, maxMs: 400, run: () => runs.push(clock.now()) });
  return { clock, runs, timer };
}

describe('BackoffTimer', () => {
  it('runs once per schedule, after a wait that doubles up to the maximum', async () => {
    const { clock, runs, timer } = setup();
    for (let i = 0; i < 4; i++) {
      timer.schedule();
      expect(timer.scheduled).toBe(true);
      await clock.advance(1000);
      expect(timer.scheduled).toBe(false);
    }
    expect(runs).toEqual([100, 1200, 2400, 3400]); // waits 100, 200, 400, 400
    expect(timer.nextWaitMs).toBe(400);
  });

  it('keeps one retry pending at a time', async () => {
    const { clock, runs, timer } = setup();
    timer.schedule();
    timer.schedule();
    await clock.advance(1000);
    expect(runs).toEqual([100]);
    expect(timer.nextWaitMs).toBe(200);
  });

  it('reset drops the pending retry and starts over; cancel keeps the wait', async () => {
    const { clock, runs, timer } = setup();
    timer.schedule();
    timer.cancel();
    await clock.advance(1000);
    expect(runs).toEqual([]);
    expect(clock.pending).toBe(0);
    expect(timer.nextWaitMs).toBe(200);

    timer.schedule(); // waits 200
    timer.reset();
    expect(timer.scheduled).toBe(false);
    expect(timer.nextWaitMs).toBe(100);
    timer.schedule();
    await clock.advance(1000);
    expect(runs).toEqual([1100]);
  });
});
