import fc from 'fast-check';
import { OutcomeWindow } from './OutcomeWindow';

describe('OutcomeWindow', () => {
  it('counts calls, failures and slow calls inside the window', () => {
    const w = new OutcomeWindow(10_000, 10);
    w.record(0, { failed: true, slow: false });
    w.record(500, { failed: false, slow: true });
    w.record(9_999, { failed: true, slow: true });
    expect(w.totals(9_999)).toEqual({ calls: 3, failures: 2, slow: 2 });
  });

  it('forgets a bucket once it leaves the window', () => {
    const w = new OutcomeWindow(10_000, 10); // buckets of 1 s
    w.record(0, { failed: true, slow: false }); // bucket [0, 1000)
    w.record(1_000, { failed: false, slow: false }); // bucket [1000, 2000)
    expect(w.totals(9_999)).toEqual({ calls: 2, failures: 1, slow: 0 });
    expect(w.totals(10_000)).toEqual({ calls: 1, failures: 0, slow: 0 });
    expect(w.totals(11_000)).toEqual({ calls: 0, failures: 0, slow: 0 });
  });

  it('reuses a ring slot for a new period, dropping the old counts', () => {
    const w = new OutcomeWindow(10_000, 10);
    w.record(0, { failed: true, slow: false });
    w.record(10_000, { failed: false, slow: false }); // same slot, one window later
    expect(w.totals(10_000)).toEqual({ calls: 1, failures: 0, slow: 0 });
  });

  it('ignores an outcome older than the slot it would land in', () => {
    const w = new OutcomeWindow(10_000, 10);
    w.record(10_000, { failed: false, slow: false });
    w.record(0, { failed: true, slow: false });
    expect(w.totals(10_000)).toEqual({ calls: 1, failures: 0, slow: 0 });
  });

  it('reset forgets everything', () => {
    const w = new OutcomeWindow(10_000);
    w.record(0, { failed: true, slow: true });
    w.reset();
    expect(w.totals(0)).toEqual({ calls: 0, failures: 0, slow: 0 });
  });

  it('mayHaveFailures: false only while no failed or slow outcome is inside the window', () => {
    const w = new OutcomeWindow(10_000, 10); // buckets of 1 s
    w.record(0, { failed: false, slow: false });
    expect(w.mayHaveFailures(0)).toBe(false);
    w.record(500, { failed: true, slow: false });
    expect(w.mayHaveFailures(500)).toBe(true);
    expect(w.mayHaveFailures(9_999)).toBe(true);
    expect(w.mayHaveFailures(10_000)).toBe(false); // the failure's bucket left the window
    w.record(10_000, { failed: false, slow: true });
    expect(w.mayHaveFailures(10_000)).toBe(true);
    w.reset();
    expect(w.mayHaveFailures(10_000)).toBe(false);
  });

  it('mayHaveFailures agrees with totals: when it says no, totals count no failed or slow call', () => {
    const outcome = fc.record({ at: fc.integer({ min: 0, max: 40_000 }), failed: fc.boolean(), slow: fc.boolean() });
    fc.assert(
      fc.property(fc.array(outcome, { maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 50_000 }), { minLength: 1, maxLength: 10 }), (outcomes, queries) => {
        const w = new OutcomeWindow(10_000, 10);
        for (const o of outcomes) w.record(o.at, o);
        for (const now of queries) {
          const t = w.totals(now);
          if (!w.mayHaveFailures(now)) expect(t.failures + t.slow).toBe(0);
          // And it is not merely always true: with no failed or slow outcome at all it says so.
          if (outcomes.every((o) => !o.failed && !o.slow)) expect(w.mayHaveFailures(now)).toBe(false);
        }
      }),
    );
  });

  it('rejects a non-positive window or bucket count', () => {
    expect(() => new OutcomeWindow(0)).toThrow(RangeError);
    expect(() => new OutcomeWindow(1000, 0)).toThrow(RangeError);
  });
});
