import { drive, ok, scripted, setup } from './engineTestKit';
import type { AttemptContext } from './types';

describe('pacing: calls that waited', () => {
  it('counts a call that waited for its share against the snapshot, so concurrent callers do not all go out together', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a'], retry: { maxLimiterWait: '30s' } } });
    // 60 000-token limit, 1 000 left, full again in 59 s: a 3 000-token call waits 3.2 s.
    await drive(
      clock,
      engine.execute({ route: 'chat', inputTokens: 5, maxOutputTokens: 5 }, async (_t, ctx: AttemptContext) => {
        ctx.reportHeaders({ 'x-ratelimit-limit-tokens': '60000', 'x-ratelimit-remaining-tokens': '1010', 'x-ratelimit-reset-tokens': '59s' });
        return ok();
      }),
    );
    const t0 = clock.now();
    const started: number[] = [];
    const call = async () => {
      started.push(clock.now() - t0);
      return ok();
    };
    const req = { route: 'chat', inputTokens: 2_000, maxOutputTokens: 1_000 };
    await drive(clock, Promise.all([engine.execute(req, call), engine.execute(req, call)]));
    expect(started[0]).toBe(3_191);
    // The second needs the first's 3 000 tokens refilled too: about twice as long, not the same 3.2 s.
    expect(started[1]).toBeGreaterThan(5_000);
  });
});

describe('pacing: refill since the snapshot', () => {
  const tokenHeaders = { 'x-ratelimit-limit-tokens': '60000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '60s' };

  it('counts the quota refilled since a snapshot was observed: half a minute after "0 left, full in 60 s", half the limit is back', async () => {
    const { engine, clock } = setup();
    const { fn, calls } = scripted({ a: [(ctx: AttemptContext) => (ctx.reportHeaders(tokenHeaders), ok()), ok()] });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    await clock.advance(30_000);
    // About 30 000 tokens are back: a 3 000-token call (plus the 1 200-token margin) fits now. Treating the
    // 30 s old "0 left" as what is left now would hold it 2.1 s, and a live route would skip the target.
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 2_000, maxOutputTokens: 1_000 }, fn));
    expect(res.record.skipped).toEqual([]);
    expect(res.record.attempts[0]).toMatchObject({ target: 'a', waitedMs: 0 });
    expect(calls).toEqual(['a', 'a']);
  });

  it('waits only for what is still missing after the refill since the snapshot', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a'], retry: { maxLimiterWait: '30s' } } });
    const { fn } = scripted({ a: [(ctx: AttemptContext) => (ctx.reportHeaders(tokenHeaders), ok()), ok()] });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    await clock.advance(2_000);
    // 2 000 tokens are back after 2 s (1 000 a second); the call needs 3 000 + 1 200: 2.2 s more, not
    // (4 200 / 60 000) x 58 s = 4.06 s.
    const t0 = clock.now();
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 2_000, maxOutputTokens: 1_000 }, fn));
    expect(res.record.attempts[0]).toMatchObject({ target: 'a', waitedMs: 2_200 });
    expect(clock.now() - t0).toBe(2_200);
  });

  it('takes a reset already past as a full quota that calls sent since count against, not as no limit at all', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a'], retry: { maxLimiterWait: '30s' } } });
    // 10 requests a minute, none left, full again in 60 s: one request comes back every 6 s.
    const headers = { 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '60s' };
    const { fn } = scripted({ a: [(ctx: AttemptContext) => (ctx.reportHeaders(headers), ok()), ok()] });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    await clock.advance(120_000);
    const t0 = clock.now();
    const started: number[] = [];
    const call = async () => {
      started.push(clock.now() - t0);
      return ok();
    };
    await drive(clock, Promise.all(Array.from({ length: 12 }, () => engine.execute({ route: 'chat', inputTokens: 10 }, call))));
    // The full 10 at once (2% of 10 is no whole request of margin), then one every 6 s as the quota
    // refills — not all 12 at once.
    expect(started.slice(0, 10)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(started.slice(10)).toEqual([6_000, 12_000]);
  });
});

describe('budget downgrade', () => {
  it('does not move a request back and forth between routes whose budgets both deny it', async () => {
    const { engine, clock } = setup(
      {
        budgets: [
          { id: 'p', scope: ['tenant'], match: { route: 'premium' }, limitUsd: 0.001, window: '1d', downgradeTo: 'cheap' },
          { id: 'c', scope: ['tenant'], match: { route: 'cheap' }, limitUsd: 0.001, window: '1d', downgradeTo: 'premium' },
        ],
      },
      { premium: { chain: ['a'] }, cheap: { chain: ['b'] } },
    );
    const { fn } = scripted({});
    const err = await drive(
      clock,
      engine.execute({ route: 'premium', identity: { tenant: 't' }, inputTokens: 1_000, maxOutputTokens: 1_000 }, fn),
    ).catch((e) => e);
    expect(err.code).toBe('ERR_LLMR_LIMIT_EXCEEDED');
  });

  it('does not downgrade a request to a route none of whose targets may take its data class', async () => {
    const { engine, clock } = setup(
      { budgets: [{ id: 'd', scope: ['tenant'], limitUsd: 1, window: '1d', downgradeAt: 0, downgradeTo: 'cheap' }] },
      // `b` is approved for public data only.
      { support: { chain: ['a'] }, cheap: { chain: ['b'] } },
    );
    const { fn } = scripted({});
    const res = await drive(
      clock,
      engine.execute({ route: 'support', identity: { tenant: 't' }, inputTokens: 10, dataClass: 'internal' }, fn),
    );
    expect(res.record.final_target).toBe('a');
  });
});
