import { ManualClock } from '@llm-resilience/core';
import { TimeLapseClock } from './timeLapseClock';

describe('TimeLapseClock', () => {
  it('runs `speed` times faster than the real clock it is given', async () => {
    const real = new ManualClock(1_000);
    const clock = new TimeLapseClock(6, 60_000, real);
    expect(clock.now()).toBe(60_000);
    await real.advance(1_000);
    expect(clock.now()).toBe(66_000);

    let woke = false;
    const sleeping = clock.sleep(6_000).then(() => (woke = true));
    await real.advance(999);
    expect(woke).toBe(false);
    await real.advance(1);
    await sleeping;
    expect(woke).toBe(true);
    expect(clock.now()).toBe(72_000);
  });

  it('stands still for frozen real time, never goes backwards, and sleeps whole scenario durations', async () => {
    const real = new ManualClock(0);
    const clock = new TimeLapseClock(10, 0, real);
    await real.advance(100);
    expect(clock.now()).toBe(1_000);
    clock.freeze(50); // the event loop was 50 ms late
    expect(clock.now()).toBe(1_000); // held, not moved back
    await real.advance(50);
    expect(clock.now()).toBe(1_000);
    await real.advance(10);
    expect(clock.now()).toBe(1_100);

    // A sleep that gets frozen halfway keeps waiting until its scenario time has passed.
    let woke = false;
    const sleeping = clock.sleep(1_000).then(() => (woke = true));
    clock.freeze(30);
    await real.advance(100);
    expect(woke).toBe(false);
    await real.advance(30);
    await sleeping;
    expect(woke).toBe(true);
    expect(clock.now()).toBe(2_100);
  });

  it('refuses a speed that is not a positive number', () => {
    expect(() => new TimeLapseClock(0)).toThrow(RangeError);
    expect(() => new TimeLapseClock(Number.NaN)).toThrow(/positive number/);
  });
});

describe('TimeLapseClock.restart', () => {
  it('puts scenario time back to its start, so set-up time does not count', async () => {
    const real = new ManualClock(0);
    const clock = new TimeLapseClock(30, 5_000, real);
    await real.advance(200);
    expect(clock.now()).toBe(11_000);
    clock.restart();
    expect(clock.now()).toBe(5_000);
    await real.advance(100);
    expect(clock.now()).toBe(8_000);
  });
});
