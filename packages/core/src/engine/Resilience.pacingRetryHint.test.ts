import { ManualClock } from '../clock';
import { ChainExhaustedError } from '../errors/ChainExhaustedError';
import { MemoryPacingSyncHub } from '../pacing/PacingStateSync';
import { definePolicy } from '../policy/definePolicy';
import { createResilience } from './createResilience';
import { drive, http, ok, scripted, setup, targets } from './engineTestKit';
import type { ResilienceEvents } from './events';

/*
 * A 429 without retry-after whose rate-limit headers show a quota at 0: its reset is when that quota is
 * FULL again (OpenAI's `x-ratelimit-reset-tokens: 6m0s`), while providers refill continuously. The
 * engine waits until the failed call's own share is back (the pacing model), never longer than the
 * reset; a hint the provider gave is used as it came.
 */

/** A 10 000-token limit, none left, full again in 6 min: one token back every 36 ms. */
const spent = { 'x-ratelimit-limit-tokens': '10000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' };
const rateLimited = (headers: Record<string, string>) =>
  http(429, { error: { code: 'rate_limit_exceeded', type: 'tokens', message: 'Rate limit reached for tokens per min (TPM).' } }, headers);
/**
 * 700 tokens: with the 200-token margin pacing keeps, 900 tokens, back in 32.4 s; the hint adds a spread
 * of up to 10% of that, at most 1 s, drawn from the engine's random source (0.5 in the test kit): 500 ms.
 */
const SHARE_700 = 32_400 + 500;
const call700 = (route: string) => ({ route, inputTokens: 500, maxOutputTokens: 200 });
/** 200 tokens: with the margin, 400 tokens, back in 14.4 s. */
const call200 = (route: string) => ({ route, inputTokens: 100, maxOutputTokens: 100 });

/** The engine's retry events. */
function retriesOf(engine: ReturnType<typeof setup>['engine']): Array<ResilienceEvents['retry']> {
  const retries: Array<ResilienceEvents['retry']> = [];
  engine.events.on('retry', (e) => retries.push(e));
  return retries;
}

describe('a 429 whose only hint is the reset of the exhausted quota', () => {
  it('is retried once the call’s share is back (32.4 s, and a spread), not after the 6-minute reset', async () => {
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'b'], priority: 'batch' } });
    const retries = retriesOf(engine);
    const { fn, calls } = scripted({ a: [rateLimited(spent), ok()] });
    const t0 = clock.now();
    const res = await drive(clock, engine.execute(call700('bulk'), fn));
    // 6 min is longer than the batch route's maxHint (60 s): it used to fall back to b at once.
    expect(calls).toEqual(['a', 'a']);
    expect(retries).toEqual([expect.objectContaining({ target: 'a', kind: 'rate_limited', delayMs: SHARE_700, source: 'hint' })]);
    expect(clock.now() - t0).toBe(SHARE_700);
    expect(res.record.attempts).toEqual([
      expect.objectContaining({ target: 'a', errorKind: 'rate_limited', status: 429, retryAfterMs: SHARE_700 }),
      // Pacing holds it no longer: the share it waited for is there.
      expect.objectContaining({ target: 'a', outcome: 'success', waitedMs: SHARE_700 }),
    ]);
    expect(res.record.skipped).toEqual([]);
    expect(res.record.fallback_used).toBe(false);
  });

  it('keeps the reset when the headers give no limit: no refill rate to go by', async () => {
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'b'], priority: 'batch' } });
    const retries = retriesOf(engine);
    const { fn, calls } = scripted({ a: [rateLimited({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '20s' }), ok()] });
    const res = await drive(clock, engine.execute(call700('bulk'), fn));
    expect(calls).toEqual(['a', 'a']);
    expect(retries.map((r) => [r.delayMs, r.source])).toEqual([[20_000, 'hint']]);
    expect(res.record.attempts[0]).toMatchObject({ retryAfterMs: 20_000 });
  });

  it('uses a retry-after the provider sent as it came, even where the share is back sooner', async () => {
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'b'], priority: 'batch' } });
    const retries = retriesOf(engine);
    // The call's 400 tokens are back in 14.4 s; the provider said 30 s.
    const { fn, calls } = scripted({ a: [rateLimited({ ...spent, 'retry-after': '30' }), ok()] });
    const t0 = clock.now();
    const res = await drive(clock, engine.execute(call200('bulk'), fn));
    expect(calls).toEqual(['a', 'a']);
    expect(retries.map((r) => [r.delayMs, r.source])).toEqual([[30_000, 'hint']]);
    expect(clock.now() - t0).toBe(30_000);
    expect(res.record.attempts[0]).toMatchObject({ retryAfterMs: 30_000 });
  });

  it('falls back when even the share takes longer than maxHint, and the error thrown carries that wait', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a'] } });
    const { fn } = scripted({ a: [rateLimited(spent)] });
    const err = (await drive(clock, engine.execute(call700('chat'), fn)).catch((e: unknown) => e)) as ChainExhaustedError;
    expect(err).toBeInstanceOf(ChainExhaustedError);
    // Over the live route's 5 s maxHint: no retry. What an HTTP adapter puts in Retry-After is the 32.9 s.
    expect(err.record.attempts).toEqual([expect.objectContaining({ target: 'a', retryAfterMs: SHARE_700 })]);
    expect(err.retryAfterMs).toBe(SHARE_700);
    // The snapshot is kept as the provider sent it.
    expect(err.last).toMatchObject({ kind: 'rate_limited', retryAfterMs: SHARE_700, rateLimit: { limitTokens: 10_000, remainingTokens: 0 } });
  });

  it('runs a requeued chain again once the share is back, and does not skip the target as paced then', async () => {
    const { engine, clock } = setup({}, { bulk: { chain: ['a'], priority: 'batch', onExhausted: 'queue', retry: { maxHint: '10s' } } });
    const sent: number[] = [];
    const t0 = clock.now();
    let n = 0;
    const res = await drive(
      clock,
      engine.execute(call700('bulk'), async () => {
        sent.push(clock.now() - t0);
        if (n++ === 0) throw rateLimited(spent);
        return ok();
      }),
    );
    // 32.9 s is over maxHint: the chain is exhausted, waits that long (not the 60 s bound, then 5 more
    // minutes of `paced` skips for the 6-minute reset) and calls a again.
    expect(sent).toEqual([0, SHARE_700]);
    expect(res.record.queue_wait_ms).toBe(SHARE_700);
    expect(res.record.skipped).toEqual([]);
  });
});

describe('the breaker pause after a 429', () => {
  /** Only `a` is an OpenAI target, so its 429s count against the provider's breaker too. */
  const oneOpenAiTarget = { targets: { a: targets.a, b: targets.b } };

  it('lasts until the call’s share is back, on the target and on the provider', async () => {
    const { engine, clock } = setup({ ...oneOpenAiTarget, breaker: { rateLimitPauseAfter: 1 } });
    const { fn, calls } = scripted({ a: [rateLimited(spent)], b: [ok()] });
    const t0 = clock.now();
    await drive(clock, engine.execute(call700('chat'), fn));
    expect(calls).toEqual(['a', 'b']);
    expect(engine.breakers.target('a').state).toEqual({ state: 'paused', until: t0 + SHARE_700 });
    expect(engine.breakers.provider('openai').state).toEqual({ state: 'paused', until: t0 + SHARE_700 });
  });

  it('lasts as long as the provider’s retry-after when it sent one', async () => {
    const { engine, clock } = setup({ ...oneOpenAiTarget, breaker: { rateLimitPauseAfter: 1 } });
    const { fn } = scripted({ a: [rateLimited({ ...spent, 'retry-after': '30' })], b: [ok()] });
    const t0 = clock.now();
    await drive(clock, engine.execute(call200('chat'), fn));
    expect(engine.breakers.target('a').state).toEqual({ state: 'paused', until: t0 + 30_000 });
    expect(engine.breakers.provider('openai').state).toEqual({ state: 'paused', until: t0 + 30_000 });
  });

  it('is not shortened below what the provider said earlier in the streak by a later share-based wait', async () => {
    const { engine, clock } = setup({ ...oneOpenAiTarget, breaker: { rateLimitPauseAfter: 2 } });
    const t0 = clock.now();
    // First 429: the provider says 60 s.
    await drive(clock, engine.execute(call200('chat'), scripted({ a: [rateLimited({ ...spent, 'retry-after': '60' })], b: [ok()] }).fn));
    // 20 s later (555 tokens back, the 400 this call needs fit), a 429 with the reset only: its share
    // would be back 14.4 s later, at 34.4 s; the pause keeps the provider's 60 s.
    await clock.advance(20_000);
    const second = scripted({ a: [rateLimited(spent)], b: [ok()] });
    await drive(clock, engine.execute(call200('chat'), second.fn));
    expect(second.calls).toEqual(['a', 'b']);
    expect(engine.breakers.target('a').state).toEqual({ state: 'paused', until: t0 + 60_000 });
    expect(engine.breakers.provider('openai').state).toEqual({ state: 'paused', until: t0 + 60_000 });
  });
});

describe('callers refused by one exhausted quota', () => {
  /** 60 000 tokens a minute, none left, full again in 60 s: one token back per ms. */
  const spent60k = { 'x-ratelimit-limit-tokens': '60000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '60s' };
  /** 800 tokens: with the 1 200-token margin, 2 000 tokens, back in 2 s (under the live maxHint of 5 s). */
  const call800 = { route: 'chat', inputTokens: 500, maxOutputTokens: 300 };

  it('wait behind each other, and the one whose turn is past maxHint falls back at once, not after a wait for nothing', async () => {
    // Live route (maxHint 5 s, maxLimiterWait 1 s); a large pause streak keeps the breaker out of it.
    const { engine, clock } = setup({ breaker: { rateLimitPauseAfter: 100 } }, { chat: { chain: ['a', 'b'] } });
    const t0 = clock.now();
    let refused = 0;
    const sentToA: number[] = [];
    const call = async (t: { id: string }) => {
      if (t.id === 'a' && refused < 5) {
        refused++;
        await Promise.resolve();
        throw rateLimited(spent60k);
      }
      if (t.id === 'a') sentToA.push(clock.now() - t0);
      return ok('ok', { prompt_tokens: 500, completion_tokens: 300 });
    };
    const retries = retriesOf(engine);
    const results = await drive(clock, Promise.all([0, 1, 2, 3, 4].map(() => engine.execute(call800, call))));

    // Each caller's share is counted when it is refused, so the next one waits for one more share
    // (800 tokens, 0.8 s), plus a spread of 5% (half of the 10%). The fifth would wait 5.2 s: over
    // maxHint, it falls back to b at once (before adc5ee4's review, all five waited 2 s, then three
    // were skipped as `paced` and reached b 2 s late).
    expect(retries.map((r) => r.delayMs)).toEqual([2_100, 2_940, 3_780, 4_620]);
    expect(sentToA).toEqual([2_100, 2_940, 3_780, 4_620]);
    const records = results.map((r) => r.record);
    expect(records.filter((r) => r.final_target === 'a')).toHaveLength(4);
    const fellBack = records.filter((r) => r.final_target === 'b');
    expect(fellBack).toHaveLength(1);
    expect(fellBack[0]!.attempts.map((a) => [a.target, a.startedAt - t0])).toEqual([
      ['a', 0],
      ['b', 0],
    ]);
    expect(fellBack[0]!.attempts[0]!.retryAfterMs).toBe(5_200 + 260);
    // No retry went out on a target pacing then skipped: none was skipped at all.
    expect(records.flatMap((r) => r.skipped)).toEqual([]);
  });

  it('counts a waiting retry’s share once: its attempt is not paced again, and what it used corrects it', async () => {
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'b'], priority: 'batch' } });
    const { fn, calls } = scripted({ a: [rateLimited(spent), ok('hi', { prompt_tokens: 500, completion_tokens: 100 })] });
    const t0 = clock.now();
    const res = await drive(clock, engine.execute(call700('bulk'), fn));
    expect(calls).toEqual(['a', 'a']);
    expect(res.record.attempts[1]).toMatchObject({ outcome: 'success', startedAt: t0 + SHARE_700, waitedMs: SHARE_700 });
    // 32.9 s refilled 913.9 tokens; the retry counted its 700 once and used 600: 313.9 left (counted
    // twice, 386.1 short).
    expect(engine.pacingOf('a')!.remainingTokens).toBeCloseTo(SHARE_700 / 36 - 600, 6);
  });

  it('counts nothing for a caller that falls back because its wait is over maxHint', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'] } });
    const { fn, calls } = scripted({ a: [rateLimited(spent)], b: [ok()] });
    const t0 = clock.now();
    await drive(clock, engine.execute(call700('chat'), fn));
    expect(calls).toEqual(['a', 'b']);
    // The 429's snapshot as the provider sent it, nothing counted against it.
    expect(engine.pacingOf('a')).toEqual({ limitTokens: 10_000, remainingTokens: 0, tokensResetAt: t0 + 360_000, observedAt: t0 });
  });

  it('gives a waiting retry’s share back when its caller cancels, so the next caller does not wait for it', async () => {
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'b'], priority: 'batch' } });
    const abort = new AbortController();
    const t0 = clock.now();
    const first = engine.execute({ ...call700('bulk'), signal: abort.signal }, scripted({ a: [rateLimited(spent)] }).fn).catch((e: unknown) => e);
    await clock.advance(1_000);
    // Its 700 tokens counted while it waits: 1 000 / 36 back since, 700 taken.
    expect(engine.pacingOf('a')!.remainingTokens).toBeCloseTo(-700, 6);
    abort.abort();
    expect(await first).toMatchObject({ kind: 'cancelled' });
    expect(engine.pacingOf('a')!.remainingTokens).toBeCloseTo(1_000 / 36, 6);

    expect(clock.now() - t0).toBe(1_000);
  });

  it('keeps a waiting retry’s share counted when another process’ report replaces the quota', async () => {
    const hub = new MemoryPacingSyncHub();
    const peer = hub.connect();
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'b'], priority: 'batch' } }, { pacingSync: hub.connect() });
    const t0 = clock.now();
    const retries = retriesOf(engine);
    const first = drive(clock, engine.execute(call700('bulk'), scripted({ a: [rateLimited(spent), ok()] }).fn));
    await Promise.resolve();
    await Promise.resolve();
    // Another process reports the same exhausted quota: it cannot count the retry that waits here.
    peer.publish('a', { limitTokens: 10_000, remainingTokens: 0, tokensResetAt: t0 + 360_000, observedAt: t0 });
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: -700 });
    // A caller arriving now waits behind it (proactive pacing): 1 600 tokens at 36 ms, more than the batch
    // route's 30 s maxLimiterWait, so it is skipped as paced.
    const second = await drive(clock, engine.execute(call700('bulk'), scripted({ a: [ok()], b: [ok()] }).fn));
    expect(second.record.skipped).toEqual([expect.objectContaining({ target: 'a', reason: 'paced', detail: 'provider quota low for 57600 ms' })]);
    // The retry goes out when its share is back, counted once on the peer's quota: corrected by the 15
    // tokens it used.
    await first;
    expect(retries.map((r) => r.delayMs)).toEqual([SHARE_700]);
    expect(engine.pacingOf('a')!.remainingTokens).toBeCloseTo(SHARE_700 / 36 - 15, 6);
  });
});

describe('processes refused by one exhausted quota at the same moment', () => {
  it('retry at different times: the share-based wait is spread by each engine’s random source', async () => {
    const clock = new ManualClock(1_000_000);
    const hub = new MemoryPacingSyncHub();
    const policy = definePolicy({ targets, routes: { bulk: { chain: ['a', 'b'], priority: 'batch' } } }, { onWarning: () => {} });
    const fleet = [0.1, 0.9].map((r) => createResilience(policy, { clock, random: () => r, pacingSync: hub.connect() }));
    const t0 = clock.now();
    const retriesOnA: number[] = [];
    const callOf = () => {
      let first = true;
      return async (t: { id: string }) => {
        if (t.id === 'a' && first) {
          first = false;
          throw rateLimited(spent);
        }
        if (t.id === 'a') retriesOnA.push(clock.now() - t0);
        return ok('ok', { prompt_tokens: 500, completion_tokens: 200 });
      };
    };
    // Neither sees the other's pending retry: both compute 32.4 s; the spread (10% of it, at most 1 s)
    // sends them 0.8 s apart. (Before: both at 32 400.)
    await drive(clock, Promise.all(fleet.map((engine) => engine.execute(call700('bulk'), callOf()))));
    expect(retriesOnA.sort((x, y) => x - y)).toEqual([32_400 + 100, 32_400 + 900]);
  });

  it('never spreads a retry-after the provider sent', async () => {
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'b'], priority: 'batch' } }, { random: () => 0.9 });
    const retries = retriesOf(engine);
    await drive(clock, engine.execute(call700('bulk'), scripted({ a: [rateLimited({ ...spent, 'retry-after': '20' }), ok()] }).fn));
    expect(retries.map((r) => r.delayMs)).toEqual([20_000]);
  });
});
