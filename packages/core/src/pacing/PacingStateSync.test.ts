import { ManualClock } from '../clock';
import { definePolicy } from '../policy/definePolicy';
import { createResilience } from '../engine/createResilience';
import type { AttemptContext } from '../engine/types';
import { isLow, MemoryPacingSyncHub } from './PacingStateSync';

describe('pacing state shared between engines', () => {
  const policy = definePolicy(
    {
      targets: {
        a: { provider: 'anthropic', model: 'a' },
        b: { provider: 'openai', model: 'b' },
      },
      routes: { chat: { chain: ['a', 'b'] } },
    },
    { onWarning: () => undefined },
  );

  it('a replica that never saw the header holds calls back from a provider that is out of quota', async () => {
    const clock = new ManualClock(1_000_000);
    const hub = new MemoryPacingSyncHub();
    const one = createResilience(policy, { clock, pacingSync: hub.connect() });
    const two = createResilience(policy, { clock, pacingSync: hub.connect() });
    const reset = new Date(clock.now() + 60_000).toISOString();
    const seen: string[] = [];
    const call = async (t: { id: string }, ctx: AttemptContext) => {
      seen.push(t.id);
      ctx.reportHeaders({
        'anthropic-ratelimit-requests-limit': '100',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': reset,
      });
      return 'ok';
    };
    await one.execute({ route: 'chat', inputTokens: 5 }, call);
    expect(two.pacingOf('a')).toMatchObject({ remainingRequests: 0, limitRequests: 100 });
    const res = await two.execute({ route: 'chat', inputTokens: 5 }, async (t) => {
      seen.push(t.id);
      return 'ok';
    });
    expect(res.record.skipped).toEqual([expect.objectContaining({ target: 'a', reason: 'paced' })]);
    expect(seen).toEqual(['a', 'b']);
  });

  it('publishes a target at most once a second unless its quota runs low', async () => {
    const clock = new ManualClock(0);
    const published: number[] = [];
    const engine = createResilience(policy, { clock, pacingSync: { publish: (_t, s) => published.push(s.remainingRequests!) } });
    const call = (remaining: number) => async (_t: unknown, ctx: AttemptContext) => {
      ctx.reportHeaders({ 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': String(remaining), 'x-ratelimit-reset-requests': '1s' });
      return 'ok';
    };
    await engine.execute({ route: 'chat', inputTokens: 5 }, call(90));
    await engine.execute({ route: 'chat', inputTokens: 5 }, call(80));
    await engine.execute({ route: 'chat', inputTokens: 5 }, call(5));
    await clock.advance(1_000);
    await engine.execute({ route: 'chat', inputTokens: 5 }, call(70));
    expect(published).toEqual([90, 5, 70]);
  });

  it('isLow flags a limit below 10% remaining', () => {
    expect(isLow({ limitTokens: 1000, remainingTokens: 99 })).toBe(true);
    expect(isLow({ limitTokens: 1000, remainingTokens: 100 })).toBe(false);
    expect(isLow({ remainingTokens: 0 })).toBe(false);
  });
});
