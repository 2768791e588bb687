import { ManualClock } from '@llm-resilience/core';
import { BackoffTimer } from './BackoffTimer';

function setup(random: () => number = () => 0.999_999, maxMs = 400) {
  const clock = new ManualClock(0);
  const runs: number[] = [];
  const timer = new BackoffTimer({ clock, initialMs: 100, maxMs, run: () => runs.push(clock.now()), random });
  return { clock, runs, timer };
}

describe('BackoffTimer', () => {
  it('runs once per schedule, after a wait within a step that doubles up to the maximum (random near 1: the whole step)', async () => {
    const { clock, runs, timer } = setup();
    for (let i = 0; i < 4; i++) {
      timer.schedule();
      expect(timer.scheduled).toBe(true);
      await clock.advance(1000);
      expect(timer.scheduled).toBe(false);
    }
    expect(runs).toEqual([100, 1200, 2400, 3400]); // waits 100, 200, 400, 400
    expect(timer.nextStepMs).toBe(400);
  });

  it('draws each wait between half and all of its step (equal jitter), from the injected random source', async () => {
    const draws = [0, 0.5, 0.25, 0.75, 0.1, 0.9];
    const { clock, runs, timer } = setup(() => draws.shift()!, 5000);
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      draws.push(0);
      waits.push(timer.schedule()!);
      await clock.advance(5000);
    }
    // Steps 100, 200, 400, 800, 1600, 3200, 5000, 5000: wait = step/2 + r·step/2.
    expect(waits).toEqual([50, 150, 250, 700, 880, 3040, 2500, 2500]);
    expect(runs).toEqual([50, 5150, 10250, 15700, 20880, 28040, 32500, 37500]);
    expect(Math.max(...waits)).toBeLessThanOrEqual(5000); // the 100 ms -> 5 s envelope holds
  });

  it('spreads processes that start retrying together (same steps, different draws)', () => {
    const waits = [0.1, 0.4, 0.7].map((r) => setup(() => r, 5000).timer.schedule());
    expect(waits).toEqual([55, 70, 85]);
  });

  it('replaces a draw outside [0, 1), or a throwing source, by Math.random(), keeping the wait within its step', () => {
    const spy = jest.spyOn(Math, 'random').mockReturnValue(0.5);
    try {
      for (const bad of [() => NaN, () => 1, () => -5, () => 1e9, () => { throw new Error('no entropy'); }]) {
        expect(setup(bad).timer.schedule()).toBe(75);
      }
      // default: Math.random
      expect(new BackoffTimer({ clock: new ManualClock(0), initialMs: 100, maxMs: 400, run: () => undefined }).schedule()).toBe(75);
      expect(spy).toHaveBeenCalledTimes(6);
    } finally {
      spy.mockRestore();
    }
  });

  it('keeps one retry pending at a time', async () => {
    const { clock, runs, timer } = setup();
    expect(timer.schedule()).toBe(100);
    expect(timer.schedule()).toBeUndefined();
    await clock.advance(1000);
    expect(runs).toEqual([100]);
    expect(timer.nextStepMs).toBe(200);
  });

  it('reset drops the pending retry and starts over; cancel keeps the step', async () => {
    const { clock, runs, timer } = setup();
    timer.schedule();
    timer.cancel();
    await clock.advance(1000);
    expect(runs).toEqual([]);
    expect(clock.pending).toBe(0);
    expect(timer.nextStepMs).toBe(200);

    timer.schedule(); // waits 200
    timer.reset();
    expect(timer.scheduled).toBe(false);
    expect(timer.nextStepMs).toBe(100);
    timer.schedule();
    await clock.advance(1000);
    expect(runs).toEqual([1100]);
  });
});
