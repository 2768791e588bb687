import { ChainExhaustedError } from '../errors/ChainExhaustedError';
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
/** 700 tokens: with the 200-token margin pacing keeps, 900 tokens, back in 32.4 s. */
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
  it('is retried once the call’s share is back (32.4 s), not after the 6-minute reset', async () => {
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'b'], priority: 'batch' } });
    const retries = retriesOf(engine);
    const { fn, calls } = scripted({ a: [rateLimited(spent), ok()] });
    const t0 = clock.now();
    const res = await drive(clock, engine.execute(call700('bulk'), fn));
    // 6 min is longer than the batch route's maxHint (60 s): it used to fall back to b at once.
    expect(calls).toEqual(['a', 'a']);
    expect(retries).toEqual([expect.objectContaining({ target: 'a', kind: 'rate_limited', delayMs: 32_400, source: 'hint' })]);
    expect(clock.now() - t0).toBe(32_400);
    expect(res.record.attempts).toEqual([
      expect.objectContaining({ target: 'a', errorKind: 'rate_limited', status: 429, retryAfterMs: 32_400 }),
      // Pacing holds it no longer: the share it waited for is there.
      expect.objectContaining({ target: 'a', outcome: 'success', waitedMs: 32_400 }),
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
    // Over the live route's 5 s maxHint: no retry. What an HTTP adapter puts in Retry-After is the 32.4 s.
    expect(err.record.attempts).toEqual([expect.objectContaining({ target: 'a', retryAfterMs: 32_400 })]);
    expect(err.retryAfterMs).toBe(32_400);
    // The snapshot is kept as the provider sent it.
    expect(err.last).toMatchObject({ kind: 'rate_limited', retryAfterMs: 32_400, rateLimit: { limitTokens: 10_000, remainingTokens: 0 } });
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
    // 32.4 s is over maxHint: the chain is exhausted, waits that long (not the 60 s bound, then 5 more
    // minutes of `paced` skips for the 6-minute reset) and calls a again.
    expect(sent).toEqual([0, 32_400]);
    expect(res.record.queue_wait_ms).toBe(32_400);
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
    expect(engine.breakers.target('a').state).toEqual({ state: 'paused', until: t0 + 32_400 });
    expect(engine.breakers.provider('openai').state).toEqual({ state: 'paused', until: t0 + 32_400 });
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
