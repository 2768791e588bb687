import { FAULT_KINDS, FaultSchedule } from './faults';
import { createRandom } from './random';

describe('FAULT_KINDS', () => {
  it('lists every fault once', () => {
    expect(new Set(FAULT_KINDS).size).toBe(FAULT_KINDS.length);
    expect(FAULT_KINDS).toContain('overloaded_529');
  });
});

describe('FaultSchedule', () => {
  it('applies a rule inside its [from, to) window and to its model only', () => {
    const s = new FaultSchedule([{ kind: 'overloaded_503', model: 'a', from: 10, to: 40 }], createRandom(1));
    expect(s.pick('a', 9.999)).toBeUndefined();
    expect(s.pick('a', 10)?.kind).toBe('overloaded_503');
    expect(s.pick('b', 20)).toBeUndefined();
    expect(s.pick('a', 39.9)?.kind).toBe('overloaded_503');
    expect(s.pick('a', 40)).toBeUndefined();
  });

  it('hits every n-th matching request and stops after count', () => {
    const s = new FaultSchedule([{ kind: 'rate_limit', every: 3, count: 2 }], createRandom(1));
    const hits = Array.from({ length: 12 }, () => s.pick('x', 0)?.kind ?? '-');
    expect(hits).toEqual(['-', '-', 'rate_limit', '-', '-', 'rate_limit', '-', '-', '-', '-', '-', '-']);
  });

  it('uses the seeded random source for probabilities', () => {
    const run = (seed: number) => {
      const s = new FaultSchedule([{ kind: 'hang', probability: 0.3 }], createRandom(seed));
      return Array.from({ length: 200 }, () => (s.pick('x', 0) ? 1 : 0)).join('');
    };
    expect(run(5)).toBe(run(5));
    const hits = [...run(5)].filter((c) => c === '1').length;
    expect(hits).toBeGreaterThan(40);
    expect(hits).toBeLessThan(80);
  });

  it('tries rules in order; the first that fires wins; add() appends', () => {
    const s = new FaultSchedule([{ kind: 'auth', model: 'a' }], createRandom(1));
    s.add({ kind: 'hang' });
    expect(s.pick('a', 0)?.kind).toBe('auth');
    expect(s.pick('b', 0)?.kind).toBe('hang');
    expect(s.rules.map((r) => r.kind)).toEqual(['auth', 'hang']);
  });
});
