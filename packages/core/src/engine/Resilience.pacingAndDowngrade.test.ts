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
