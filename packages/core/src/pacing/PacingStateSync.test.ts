import { ManualClock } from '../clock';
import { definePolicy } from '../policy/definePolicy';
import { createResilience } from '../engine/createResilience';
import { drive } from '../engine/engineTestKit';
import type { AttemptContext } from '../engine/types';
import type { RateLimitSnapshot } from '../errors/ErrorKind';
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

  it('a replica counts the quota refilled since another process observed the snapshot', async () => {
    const clock = new ManualClock(1_000_000);
    const hub = new MemoryPacingSyncHub();
    const one = createResilience(policy, { clock, pacingSync: hub.connect() });
    const two = createResilience(policy, { clock, pacingSync: hub.connect() });
    const seen: string[] = [];
    await one.execute({ route: 'chat', inputTokens: 5 }, async (t: { id: string }, ctx: AttemptContext) => {
      seen.push(t.id);
      // 100 requests a minute, none left, full again in 60 s.
      ctx.reportHeaders({ 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '60s' });
      return 'ok';
    });
    expect(two.pacingOf('a')).toEqual({ limitRequests: 100, remainingRequests: 0, requestsResetAt: 1_060_000, observedAt: 1_000_000 });
    // Half a minute on, about 50 requests are back: the replica calls `a` without waiting.
    await clock.advance(30_000);
    const res = await two.execute({ route: 'chat', inputTokens: 5 }, async (t) => {
      seen.push(t.id);
      return 'ok';
    });
    expect(res.record.skipped).toEqual([]);
    expect(res.record.attempts[0]).toMatchObject({ target: 'a', waitedMs: 0 });
    expect(seen).toEqual(['a', 'a']);
  });

  it('counts the refill since a received snapshot was observed, not since it arrived (a stored copy loaded late)', async () => {
    const clock = new ManualClock(1_000_000);
    let deliver: (targetId: string, s: RateLimitSnapshot) => void = () => undefined;
    const engine = createResilience(policy, {
      clock,
      pacingSync: { publish: () => undefined, subscribe: (onRemote) => ((deliver = onRemote), { dispose: () => undefined }) },
    });
    // Observed 45 s ago by another process: none of 100 requests left, full again 15 s from now. 75 are back.
    deliver('a', { limitRequests: 100, remainingRequests: 0, requestsResetAt: clock.now() + 15_000, observedAt: clock.now() - 45_000 });
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 5 }, async () => 'ok'));
    // Taken as "0 left now", the call would wait (1 + 2) / 100 of the 15 s left: 450 ms.
    expect(res.record.attempts[0]).toMatchObject({ target: 'a', waitedMs: 0 });
  });

  it('keeps its own snapshot when one received from another process was observed before it', async () => {
    const clock = new ManualClock(1_000_000);
    let deliver: (targetId: string, s: RateLimitSnapshot) => void = () => undefined;
    const engine = createResilience(policy, {
      clock,
      pacingSync: { publish: () => undefined, subscribe: (onRemote) => ((deliver = onRemote), { dispose: () => undefined }) },
    });
    await engine.execute({ route: 'chat', inputTokens: 5 }, async (_t, ctx: AttemptContext) => {
      ctx.reportHeaders({ 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '90', 'x-ratelimit-reset-requests': '6s' });
      return 'ok';
    });
    await clock.advance(1_000);
    deliver('a', { limitRequests: 100, remainingRequests: 0, requestsResetAt: clock.now() + 59_000, observedAt: clock.now() - 2_000 });
    expect(engine.pacingOf('a')).toMatchObject({ remainingRequests: 90, observedAt: 1_000_000 });
    deliver('a', { limitRequests: 100, remainingRequests: 3, requestsResetAt: clock.now() + 58_000, observedAt: clock.now() });
    expect(engine.pacingOf('a')).toMatchObject({ remainingRequests: 3, observedAt: 1_001_000 });
  });

  it('publishes snapshots with the time they were observed, unchanged by the calls counted against them afterwards', async () => {
    const clock = new ManualClock(5_000);
    const published: RateLimitSnapshot[] = [];
    const engine = createResilience(policy, { clock, pacingSync: { publish: (_t, s) => published.push(s) } });
    const call = async (_t: unknown, ctx: AttemptContext) => {
      ctx.reportHeaders({ 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '5', 'x-ratelimit-reset-requests': '1s' });
      return 'ok';
    };
    await engine.execute({ route: 'chat', inputTokens: 5 }, call);
    await engine.execute({ route: 'chat', inputTokens: 5 }, async () => 'ok');
    expect(published).toEqual([{ limitRequests: 100, remainingRequests: 5, requestsResetAt: 6_000, observedAt: 5_000 }]);
    expect(engine.pacingOf('a')).toMatchObject({ remainingRequests: 4 });
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
