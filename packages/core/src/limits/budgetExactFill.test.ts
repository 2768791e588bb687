import { drive, ok, setup } from '../engine/engineTestKit';
import { MemoryLimiterStore } from './MemoryLimiterStore';
import { ManualClock } from '../clock';

/*
 * A per-window total (a spend budget, in USD) is a float counter. Sums that are exact in dollars and
 * cents are not exact in doubles (0.1 + 0.1 + 0.1 = 0.30000000000000004), so the counter allows a
 * billionth of its limit: a request that fits in cents is admitted, one that does not is refused.
 */
describe('budgets: spend that exactly fills the cap is admitted', () => {
  it('a $0.30 budget admits three requests of $0.10 each (worst case = actual)', async () => {
    const { engine, clock } = setup(
      {
        targets: { a: { provider: 'openai', model: 'model-a', price: { input: 0, output: 100 } } },
        budgets: [{ id: 'daily', scope: ['tenant'], limitUsd: 0.3, window: '1d' }],
      },
      { chat: { chain: ['a'] } },
    );
    // worst case and actual: 1 000 output tokens × $100 / 1M = $0.10
    const ask = () =>
      drive(
        clock,
        engine.execute({ route: 'chat', identity: { tenant: 't' }, inputTokens: 0, maxOutputTokens: 1000 }, async () =>
          ok('x', { prompt_tokens: 0, completion_tokens: 1000 }),
        ),
      ).then(
        (r) => r.record.actual_cost,
        (e: unknown) => (e as Error).name,
      );
    const outcomes = [await ask(), await ask(), await ask()];
    expect(outcomes).toEqual([0.1, 0.1, 0.1]);
    // The cap is full: a fourth $0.10 is refused until the next window.
    expect(await ask()).toBe('RateLimitExceededError');
  });

  it('the store admits charges on a per-window total that add up to its limit exactly', () => {
    const store = new MemoryLimiterStore({ clock: new ManualClock(0) });
    const charge = { key: 'budget|tenant=t|w=0', kind: 'concurrency' as const, limit: 0.3, windowMs: 86_400_000, amount: 0.1 };
    expect(store.reserve([charge]).ok).toBe(true);
    expect(store.reserve([charge]).ok).toBe(true);
    // 0.1 + 0.1 + 0.1 = 0.30000000000000004 in doubles: $0.30 fits a $0.30 cap all the same
    expect(store.reserve([charge]).ok).toBe(true);
    // A cent more does not fit, and a charge above the whole limit never does.
    expect(store.reserve([{ ...charge, amount: 0.01 }]).ok).toBe(false);
    const never = store.reserve([{ ...charge, key: 'other', amount: 0.31 }]);
    expect(never.ok === false && never.retryAfterMs).toBe(Infinity);
  });

  it('the tolerance is a billionth of the limit: an excess of a millionth of a dollar is refused', () => {
    const store = new MemoryLimiterStore({ clock: new ManualClock(0) });
    const charge = { key: 'budget|tenant=t|w=0', kind: 'concurrency' as const, limit: 0.3, windowMs: 86_400_000, amount: 0.3 + 1e-6 };
    expect(store.reserve([charge]).ok).toBe(false);
    expect(store.reserve([{ ...charge, amount: 0.3 }]).ok).toBe(true);
  });
});
