import { runPool } from './runPool';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('runPool', () => {
  it('returns results in input order with at most `concurrency` tasks in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await runPool(10, 3, async (i) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      for (let k = 0; k < 10 - i; k++) await tick();
      inFlight--;
      return i * 2;
    });
    expect(out).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    expect(peak).toBe(3);
  });

  it('rejects with the first failure and starts no new task after it', async () => {
    const started: number[] = [];
    const p = runPool(10, 2, async (i) => {
      started.push(i);
      await tick();
      if (i === 1) throw new Error('boom');
      return i;
    });
    await expect(p).rejects.toThrow('boom');
    await tick();
    await tick();
    expect(started.length).toBeLessThan(10);
  });

  it('handles zero items and an unbounded concurrency', async () => {
    expect(await runPool(0, 4, async () => 1)).toEqual([]);
    expect(await runPool(3, Infinity, async (i) => i)).toEqual([0, 1, 2]);
  });
});
