import { AttemptTimers } from './AttemptTimers';

describe('AttemptTimers', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('fires a timeout after its length, once', () => {
    const timers = new AttemptTimers();
    const fire = jest.fn();
    timers.schedule(1_000, fire);
    jest.advanceTimersByTime(999);
    expect(fire).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(fire).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(10_000);
    expect(fire).toHaveBeenCalledTimes(1);
    expect(timers.pending).toBe(0);
  });

  it('shares one Node timer among timeouts of the same length and fires each at its own deadline', () => {
    const timers = new AttemptTimers();
    const fired: string[] = [];
    timers.schedule(1_000, () => fired.push('a'));
    jest.advanceTimersByTime(300);
    timers.schedule(1_000, () => fired.push('b'));
    jest.advanceTimersByTime(300);
    timers.schedule(1_000, () => fired.push('c'));
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(400); // t = 1000
    expect(fired).toEqual(['a']);
    jest.advanceTimersByTime(299); // t = 1299
    expect(fired).toEqual(['a']);
    jest.advanceTimersByTime(1); // t = 1300
    expect(fired).toEqual(['a', 'b']);
    jest.advanceTimersByTime(300); // t = 1600
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('counts from the time it is given, and never fires before a timeout scheduled earlier', () => {
    const timers = new AttemptTimers();
    const fired: string[] = [];
    timers.schedule(1_000, () => fired.push('a'));
    jest.advanceTimersByTime(300);
    timers.schedule(1_000, () => fired.push('b'), Date.now() - 200); // started at t = 100: due at 1100
    timers.schedule(1_000, () => fired.push('c'), Date.now() - 300); // due at 1000, but after b: 1100
    jest.advanceTimersByTime(700); // t = 1000
    expect(fired).toEqual(['a']);
    jest.advanceTimersByTime(99); // t = 1099
    expect(fired).toEqual(['a']);
    jest.advanceTimersByTime(1); // t = 1100
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(timers.pending).toBe(0);
  });

  it('never fires a cancelled timeout, wherever it sits in the list', () => {
    const timers = new AttemptTimers();
    const fired: string[] = [];
    const a = timers.schedule(500, () => fired.push('a'));
    const b = timers.schedule(500, () => fired.push('b'));
    const c = timers.schedule(500, () => fired.push('c'));
    timers.cancel(b);
    timers.cancel(a);
    timers.cancel(a); // twice is a no-op
    expect(timers.pending).toBe(1);
    jest.advanceTimersByTime(500);
    expect(fired).toEqual(['c']);
    timers.cancel(c); // after firing: a no-op
    expect(timers.pending).toBe(0);
  });

  it('keeps separate lists for separate lengths', () => {
    const timers = new AttemptTimers();
    const fired: string[] = [];
    timers.schedule(2_000, () => fired.push('long'));
    timers.schedule(100, () => fired.push('short'));
    jest.advanceTimersByTime(100);
    expect(fired).toEqual(['short']);
    jest.advanceTimersByTime(1_900);
    expect(fired).toEqual(['short', 'long']);
  });

  it('reuses an idle list whose timer is still armed, firing new entries at their own deadline', () => {
    const timers = new AttemptTimers();
    const fire = jest.fn();
    timers.cancel(timers.schedule(1_000, jest.fn())); // arms the timer for t = 1000, then idles
    jest.advanceTimersByTime(600);
    timers.schedule(1_000, fire); // due at t = 1600
    jest.advanceTimersByTime(400); // t = 1000: the old timer fires, nothing is due yet
    expect(fire).not.toHaveBeenCalled();
    jest.advanceTimersByTime(600); // t = 1600
    expect(fire).toHaveBeenCalledTimes(1);
  });

  it('fires on its own timer even when Date does not move (fake timers that leave Date alone)', () => {
    jest.useRealTimers();
    jest.useFakeTimers({ doNotFake: ['Date'] });
    const timers = new AttemptTimers();
    const fire = jest.fn();
    timers.schedule(5_000, fire);
    jest.advanceTimersByTime(5_000);
    expect(fire).toHaveBeenCalledTimes(1);
  });

  it('keeps firing the other timeouts when one callback throws', () => {
    const timers = new AttemptTimers();
    const after = jest.fn();
    timers.schedule(100, () => {
      throw new Error('listener failed');
    });
    timers.schedule(100, after);
    const thrown: unknown[] = [];
    const original = globalThis.queueMicrotask;
    globalThis.queueMicrotask = (cb) => {
      try {
        cb();
      } catch (e) {
        thrown.push(e);
      }
    };
    try {
      jest.advanceTimersByTime(100);
    } finally {
      globalThis.queueMicrotask = original;
    }
    expect(after).toHaveBeenCalledTimes(1);
    expect(thrown).toEqual([new Error('listener failed')]);
  });
});
