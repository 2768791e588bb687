import { buildScenario } from './scenario';
import { planArrivals } from './traffic';

describe('planArrivals', () => {
  const scenario = buildScenario({ mode: 'fake', scale: 1 });

  it('is the same traffic on every run, in time order, within the scenario', () => {
    const a = planArrivals(scenario);
    expect(planArrivals(scenario)).toEqual(a);
    expect(a.every((x, i) => i === 0 || a[i - 1]!.atMs <= x.atMs)).toBe(true);
    expect(a.every((x) => x.atMs >= 0 && x.atMs < scenario.durationS * 1000)).toBe(true);
    expect(new Set(a.map((x) => x.id)).size).toBe(a.length);
  });

  it('follows each route rate and its bursts', () => {
    const a = planArrivals(scenario);
    const count = (route: string) => a.filter((x) => x.spec.route === route).length;
    // 3 chat requests a second for 210 s, Poisson: within 10% of 630.
    expect(count('chat')).toBeGreaterThan(567);
    expect(count('chat')).toBeLessThan(693);
    // The batch flood: exactly its bursts, each within half a second of its time.
    const summarize = a.filter((x) => x.spec.route === 'summarize');
    expect(summarize).toHaveLength(100);
    expect(summarize.filter((x) => x.atMs >= 30_000 && x.atMs < 30_500)).toHaveLength(60);
  });

  it('shrinks with DEMO_DURATION_SCALE', () => {
    const small = planArrivals(buildScenario({ mode: 'fake', scale: 0.2 }));
    expect(small.length).toBeLessThan(planArrivals(scenario).length / 3);
  });
});
