import { RateLimitExceededError } from '../limits/RateLimitExceededError';
import { drive, scripted, setup } from './engineTestKit';

describe('budgets at admission', () => {
  // With the in-memory store the budgets are looked up synchronously: the request reaches the
  // scheduler before execute() returns, and a drain admits it like any queued work.
  it('drains (admits) a request with budgets that execute() accepted just before shutdown({ drain: true })', async () => {
    const { engine, clock } = setup({ budgets: [{ id: 'daily', scope: ['tenant'], limitUsd: 10, window: '1d' }] }, { chat: { chain: ['a'] } });
    const { fn, calls } = scripted({});
    const outcome = engine.execute({ route: 'chat', identity: { tenant: 't1' }, inputTokens: 10 }, fn).catch((e: unknown) => e);
    await engine.shutdown({ drain: true, timeoutMs: 30_000 });
    const r = await drive(clock, outcome);
    expect(r).not.toBeInstanceOf(Error);
    expect(calls).toEqual(['a']);
  });

  // record.queue_wait_ms is the time spent in the admission queue, also when the budget refuses the
  // request once it is tried again (only QueueRejectedError carried a wait before).
  it('records the queue wait of a queued request that its budget refuses when it is retried', async () => {
    const { engine, clock, records } = setup(
      {
        budgets: [{ id: 'shared', scope: ['tenant'], limitUsd: 0.015, window: '1d' }],
        limits: [{ id: 'bulk-rpm', scope: ['route'], match: { route: 'bulk' }, metric: 'requests', limit: 1, window: '1m' }],
      },
      { bulk: { chain: ['a'], priority: 'batch' }, other: { chain: ['a'] } },
    );
    const { fn } = scripted({ a: [{ choices: [{ message: { content: 'x' } }], usage: { prompt_tokens: 10, completion_tokens: 5 } }] });
    // worst case of each: (10 in × $1 + 5_000 out × $2)/1e6 ≈ $0.01 (a's output cap: the engine default)
    const opts = { identity: { tenant: 't1' }, inputTokens: 10, maxOutputTokens: 5_000 };
    await drive(clock, engine.execute({ route: 'bulk', ...opts }, fn)); // bulk's one request this minute; spends ~$0.00002
    const queued = engine.execute({ route: 'bulk', ...opts }, fn).catch((e: unknown) => e); // denied by bulk-rpm: queued
    await clock.advance(0);
    expect(engine.scheduler.queuedOf('batch')).toBe(1);
    // Meanwhile another route of the tenant takes the budget (its reservation stays while its call runs).
    await clock.advance(58_000);
    let answer!: (v: unknown) => void;
    const other = engine.execute({ route: 'other', ...opts }, () => new Promise((r) => (answer = r)));
    await clock.advance(3_000); // bulk's wake-up (60 s after its denial): its budget no longer fits ($0.01 + $0.01 > $0.015)
    const err = await queued;
    expect(err).toBeInstanceOf(RateLimitExceededError);
    const rec = records.find((r) => r.route === 'bulk' && r.outcome === 'failure')!;
    expect(rec.queue_wait_ms).toBeGreaterThan(0);
    answer({ choices: [{ message: { content: 'x' } }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    await drive(clock, other);
  });
});
