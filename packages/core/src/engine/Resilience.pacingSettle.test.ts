import { ManualClock, type Clock } from '../clock';
import { MemoryPacingSyncHub } from '../pacing/PacingStateSync';
import { definePolicy } from '../policy/definePolicy';
import { createResilience } from './createResilience';
import type { StandardSchemaLike } from '../policy/schema';
import { drive, http, ok, setup, targets } from './engineTestKit';
import type { AttemptContext } from './types';

/*
 * What pacing counts for a call is its estimate; once the attempt has ended, the quota it was counted
 * against is corrected: what an answered call did not use comes back, a call never sent gives all of it
 * back, a refused one its tokens. Apps that report no headers on success (LangChain, NestJS, plain
 * execute) learn a quota only from a 429, so without this their worst-case estimates would pace a target
 * for ever.
 */

/** OpenAI's headers for 100 requests and 60 000 tokens a minute, none left, both full again in 60 s. */
const exhaustedHeaders = {
  'x-ratelimit-limit-requests': '100',
  'x-ratelimit-remaining-requests': '0',
  'x-ratelimit-reset-requests': '60s',
  'x-ratelimit-limit-tokens': '60000',
  'x-ratelimit-remaining-tokens': '0',
  'x-ratelimit-reset-tokens': '60s',
};

/** An engine whose target `a` has seen `exhaustedHeaders` two minutes ago: both quotas are full now. */
async function fullQuota(routes?: Parameters<typeof setup>[1], extra?: Parameters<typeof setup>[0]) {
  const env = setup(extra, routes);
  await drive(
    env.clock,
    env.engine.execute({ route: Object.keys(routes ?? { chat: 0 })[0]!, inputTokens: 10 }, async (_t, ctx: AttemptContext) => {
      ctx.reportHeaders(exhaustedHeaders);
      return ok();
    }),
  );
  await env.clock.advance(120_000);
  return env;
}

/** 1 000 input and 4 000 output tokens estimated: 5 000 counted when the call goes out. */
const bigRequest = (route = 'chat') => ({ route, inputTokens: 1_000, maxOutputTokens: 4_000 });

describe('pacing: correcting what a call was counted for once it has ended', () => {
  it('does not pace a target for ever on one 429: the usage calls report is given back to the quota learnt from it', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'], retry: { maxLimiterWait: '1s' } } });
    let first = true;
    // The app never calls ctx.reportHeaders on success: the quota is learnt from a 429's headers only.
    const call = async (t: { id: string }) => {
      if (t.id === 'a' && first) {
        first = false;
        throw http(429, { error: { message: 'Rate limit reached for tokens per min (TPM).', type: 'tokens', code: 'rate_limit_exceeded' } }, {
          'x-ratelimit-limit-tokens': '60000',
          'x-ratelimit-remaining-tokens': '0',
          'x-ratelimit-reset-tokens': '60s',
        });
      }
      return ok('hi', { prompt_tokens: 90, completion_tokens: 10 }); // what the provider billed: 100 tokens
    };
    const t0 = clock.now();
    const first429 = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, call));
    // Retried on a once its share of the quota learnt from the 429 was back (its 1 034 tokens and the
    // 1 200-token margin: 2.234 s, and a spread of half (random 0.5) of 10% of it: 2.345 s), then
    // corrected by the 100 tokens it used.
    expect(first429.record.attempts.map((a) => a.target)).toEqual(['a', 'a']);
    expect(clock.now() - t0).toBe(2_345);
    expect(engine.pacingOf('a')).toMatchObject({ limitTokens: 60_000, remainingTokens: 2_345 - 100 });

    await clock.advance(10 * 60_000);
    const skippedAsPaced: number[] = [];
    for (let i = 0; i < 60; i++) {
      // One request a second, each estimated at 5 000 tokens and using 100: 6 000 a minute of 60 000.
      const res = await drive(clock, engine.execute(bigRequest(), call));
      if (res.record.skipped.some((s) => s.target === 'a' && s.reason === 'paced')) skippedAsPaced.push(i);
      await clock.advance(1_000);
    }
    // Counting the 5 000-token estimates instead (300 000 a minute) skipped 35 of these 60 as paced.
    expect(skippedAsPaced).toEqual([]);
    expect(engine.pacingOf('a')!.remainingTokens).toBeGreaterThan(59_000);
  });

  it('gives back what an answered call did not use, reported in its reply or through ctx.reportUsage; its request stays counted', async () => {
    const { engine, clock } = await fullQuota();
    const now = clock.now();
    await drive(clock, engine.execute(bigRequest(), async () => ok('hi', { prompt_tokens: 900, completion_tokens: 100 })));
    // 5 000 counted when it went out, 4 000 back when it answered having used 1 000; the reset moves
    // earlier with it (1 000 tokens are back in 1 s, a request in 0.6 s).
    expect(engine.pacingOf('a')).toEqual({
      limitRequests: 100,
      remainingRequests: 99,
      requestsResetAt: now + 600,
      limitTokens: 60_000,
      remainingTokens: 59_000,
      tokensResetAt: now + 1_000,
      observedAt: now,
    });
    await drive(
      clock,
      engine.execute(bigRequest(), async (_t, ctx: AttemptContext) => {
        ctx.reportUsage({ inputTokens: 900, outputTokens: 100 });
        return 'hi';
      }),
    );
    expect(engine.pacingOf('a')).toMatchObject({ remainingRequests: 98, remainingTokens: 58_000, tokensResetAt: now + 2_000 });
  });

  it('takes what a call used beyond its estimate', async () => {
    const { engine, clock } = await fullQuota();
    await drive(clock, engine.execute(bigRequest(), async () => ok('hi', { prompt_tokens: 1_500, completion_tokens: 4_000 })));
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: 60_000 - 5_500 });
  });

  it('keeps the estimate of a call that reported no usage: the provider billed something, the engine cannot tell what', async () => {
    const { engine, clock } = await fullQuota();
    await drive(clock, engine.execute(bigRequest(), async () => 'plain text, no usage'));
    expect(engine.pacingOf('a')).toMatchObject({ remainingRequests: 99, remainingTokens: 55_000 });
  });

  it('gives back the tokens of a call the provider refused, not its request', async () => {
    const { engine, clock } = await fullQuota({ solo: { chain: ['a'], retry: { maxAttempts: 1 } } });
    const now = clock.now();
    const err = await drive(clock, engine.execute(bigRequest('solo'), async () => Promise.reject(http(503)))).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'overloaded' });
    expect(engine.pacingOf('a')).toEqual({
      limitRequests: 100,
      remainingRequests: 99,
      requestsResetAt: now + 600,
      limitTokens: 60_000,
      remainingTokens: 60_000,
      tokensResetAt: now,
      observedAt: now,
    });
  });

  it('gives back the whole estimate of a call that a target-scoped limit denied after pacing counted it', async () => {
    const { engine, clock } = await fullQuota(undefined, { limits: [{ id: 'a-rpm', scope: ['model'], metric: 'requests', limit: 1, window: '1m' }] });
    const now = clock.now();
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, async () => ok()));
    const before = engine.pacingOf('a');
    // Pacing lets it through and counts it, then the limit (one call a minute on a's model) denies it: it
    // goes to b, and nothing was sent to a.
    const res = await drive(clock, engine.execute(bigRequest(), async () => ok()));
    expect(res.record.skipped).toEqual([expect.objectContaining({ target: 'a', reason: 'limited' })]);
    expect(res.record.attempts.map((a) => a.target)).toEqual(['b']);
    expect(clock.now()).toBe(now);
    expect(engine.pacingOf('a')).toEqual(before);
  });

  it('gives back the whole estimate of a call aborted while it waited for its share of the quota', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a'], retry: { maxLimiterWait: '30s' } } });
    const headers = { 'x-ratelimit-limit-tokens': '60000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '60s' };
    await drive(
      clock,
      engine.execute({ route: 'chat', inputTokens: 10 }, async (_t, ctx: AttemptContext) => {
        ctx.reportHeaders(headers);
        return ok();
      }),
    );
    const t0 = clock.now();
    const ac = new AbortController();
    const calls: number[] = [];
    // 3 000 tokens and the 1 200-token margin: it waits 4.2 s, counted from the start.
    const p = engine.execute({ route: 'chat', inputTokens: 2_000, maxOutputTokens: 1_000, signal: ac.signal }, async () => {
      calls.push(clock.now());
      return ok();
    });
    await clock.advance(1_000);
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: -3_000, tokensResetAt: t0 + 63_000 });
    ac.abort();
    const err = await p.catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'cancelled' });
    expect(calls).toEqual([]);
    // As if it had never been counted: 1 000 tokens back after 1 s, full at the reported reset.
    expect(engine.pacingOf('a')).toEqual({ limitTokens: 60_000, remainingTokens: 1_000, tokensResetAt: t0 + 60_000, observedAt: t0 + 1_000 });
  });

  it('keeps the estimate of a call cut off while it ran: it reached the provider, which may bill it in full', async () => {
    // 60 000 tokens in 10 minutes: 100 back a second.
    const { engine, clock } = setup({}, { chat: { chain: ['a'], timeout: '5s', retry: { perKind: { timeout: 0 } } } });
    await drive(
      clock,
      engine.execute({ route: 'chat', inputTokens: 10 }, async (_t, ctx: AttemptContext) => {
        ctx.reportHeaders({ 'x-ratelimit-limit-tokens': '60000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '600s' });
        return ok();
      }),
    );
    await clock.advance(1_200_000);
    const sentAt = clock.now();
    const err = await drive(
      clock,
      engine.execute(bigRequest(), (_t, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'timeout' });
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: 55_000, observedAt: sentAt });
  });

  it('corrects nothing once a newer report replaced the quota: the provider counted the call itself', async () => {
    const { engine, clock } = await fullQuota();
    const now = clock.now();
    await drive(
      clock,
      engine.execute(bigRequest(), async (_t, ctx: AttemptContext) => {
        // Someone else on the key used 10 000 tokens: the provider's numbers, this call included.
        ctx.reportHeaders({ 'x-ratelimit-limit-tokens': '60000', 'x-ratelimit-remaining-tokens': '49000', 'x-ratelimit-reset-tokens': '11s' });
        return ok('hi', { prompt_tokens: 900, completion_tokens: 100 });
      }),
    );
    expect(engine.pacingOf('a')).toEqual({ limitTokens: 60_000, remainingTokens: 49_000, tokensResetAt: now + 11_000, observedAt: now });
  });

  it('corrects a stream with the usage it completes with; one that fails without usage keeps its estimate', async () => {
    const { engine, clock } = await fullQuota();
    const streamed = await drive(clock, engine.execute({ ...bigRequest(), stream: true }, async () => ({ chunks: [] })));
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: 55_000 });
    streamed.complete({ inputTokens: 900, outputTokens: 100 });
    expect(engine.pacingOf('a')).toMatchObject({ remainingRequests: 99, remainingTokens: 59_000 });

    const failed = await drive(clock, engine.execute({ ...bigRequest(), stream: true }, async () => ({ chunks: [] })));
    failed.fail(new Error('connection reset mid-stream'));
    expect(engine.pacingOf('a')).toMatchObject({ remainingRequests: 98, remainingTokens: 54_000 });
  });
});

/** Accepts any JSON object; a reply that is not one fails validation. */
const onlyObjects: StandardSchemaLike = {
  '~standard': { version: 1, vendor: 'test', validate: (v) => (typeof v === 'object' && v !== null ? { value: v } : { issues: [{ message: 'not an object' }] }) },
};

describe('pacing: each attempt counted once, corrected once', () => {
  it('a retried 503 then an answer: two requests stay counted, the tokens are what the answer used', async () => {
    const { engine, clock } = await fullQuota({ solo: { chain: ['a'] } });
    let n = 0;
    await drive(clock, engine.execute(bigRequest('solo'), async () => (n++ === 0 ? Promise.reject(http(503)) : ok('hi', { prompt_tokens: 90, completion_tokens: 10 }))));
    expect(n).toBe(2);
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: 59_900 });
    // Two requests taken; the 500 ms backoff between them refilled 500 ms' worth (100 a minute).
    expect(engine.pacingOf('a')!.remainingRequests).toBeCloseTo(98 + (0.5 * 100) / 60, 6);
  });

  it('retry-stricter: the rejected reply and the repair are each corrected once with what they used', async () => {
    const { engine, clock } = await fullQuota({ chat: { chain: ['a'] }, cls: { chain: ['a'], output: onlyObjects, onInvalidOutput: 'retry-stricter' } });
    let n = 0;
    const res = await drive(clock, engine.execute(bigRequest('cls'), async () => ok(n++ === 0 ? '42' : '{}', { prompt_tokens: 90, completion_tokens: 10 })));
    expect(res.record.validation_failures).toBe(1);
    expect(engine.pacingOf('a')).toMatchObject({ remainingRequests: 98, remainingTokens: 59_800 });
  });

  it('a reply that fails validation and fails the request is corrected once', async () => {
    const { engine, clock } = await fullQuota({ chat: { chain: ['a'] }, cls: { chain: ['a'], output: onlyObjects, onInvalidOutput: 'fail' } });
    const err = await drive(clock, engine.execute(bigRequest('cls'), async () => ok('42', { prompt_tokens: 90, completion_tokens: 10 }))).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_LLMR_INVALID_OUTPUT' });
    expect(engine.pacingOf('a')).toMatchObject({ remainingRequests: 99, remainingTokens: 59_900 });
  });

  it('a stream is corrected by the first of fail(usage) / complete(); later calls change nothing', async () => {
    const { engine, clock } = await fullQuota();
    const streamed = await drive(clock, engine.execute({ ...bigRequest(), stream: true }, async () => ({ chunks: [] })));
    streamed.fail(new Error('connection reset mid-stream'), { inputTokens: 900, outputTokens: 100 });
    streamed.complete({ inputTokens: 1, outputTokens: 1 });
    streamed.fail(new Error('again'), { inputTokens: 1, outputTokens: 1 });
    expect(engine.pacingOf('a')).toMatchObject({ remainingRequests: 99, remainingTokens: 59_000 });
  });
});

describe('pacing: a quota replaced while a call waits for its share', () => {
  /** 60 000 tokens a minute (1 back per ms), none left, full in 60 s. */
  const noTokensLeft = { 'x-ratelimit-limit-tokens': '60000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '60s' };
  /** A call of 3 000 tokens: with the 1 200-token margin it needs 4 200 back, 4.2 s on `noTokensLeft`. */
  const waitingRequest = { route: 'chat', inputTokens: 2_000, maxOutputTokens: 1_000 };

  /**
   * An engine that has seen `noTokensLeft` on target a, and another replica's pacing sync: `publishAt(ms,
   * snapshot)` moves the clock `ms` on and shares what that replica observed then, as its engine would.
   */
  async function withReplica(routes: Parameters<typeof setup>[1], extra: Parameters<typeof setup>[0] = {}) {
    const hub = new MemoryPacingSyncHub();
    const env = setup(extra, routes, { pacingSync: hub.connect() });
    const replica = hub.connect();
    await drive(
      env.clock,
      env.engine.execute({ route: 'chat', inputTokens: 10 }, async (_t, ctx: AttemptContext) => {
        ctx.reportHeaders(noTokensLeft);
        return ok();
      }),
    );
    const publishAt = async (ms: number, snapshot: { remainingTokens: number; fullInMs: number }) => {
      await env.clock.advance(ms);
      const now = env.clock.now();
      replica.publish('a', { limitTokens: 60_000, remainingTokens: snapshot.remainingTokens, tokensResetAt: now + snapshot.fullInMs, observedAt: now });
    };
    return { ...env, publishAt };
  }

  it('checks the call again against the newer report once its wait ends, waits for what it lacks there, and is counted against it', async () => {
    const { engine, clock, publishAt } = await withReplica({ chat: { chain: ['a'], retry: { maxLimiterWait: '30s', maxAttempts: 1 } } });
    const t0 = clock.now();
    const sent: number[] = [];
    const waiting = engine.execute(waitingRequest, async () => {
      sent.push(clock.now() - t0);
      return ok('hi', { prompt_tokens: 10, completion_tokens: 5 });
    });
    // 1 s into its 4.2 s wait, another replica sees 0 left again, full in 60 s (others use the key too).
    await publishAt(1_000, { remainingTokens: 0, fullInMs: 60_000 });
    expect(engine.pacingOf('a')).toEqual({ limitTokens: 60_000, remainingTokens: 0, tokensResetAt: t0 + 61_000, observedAt: t0 + 1_000 });
    const res = await drive(clock, waiting);
    // At 4.2 s only 3 200 tokens are back on the new report: it waits 1 s more for the 4 200 it needs,
    // instead of going out with the old report's wait.
    expect(sent).toEqual([5_200]);
    expect(res.record.attempts[0]!.waitedMs).toBe(5_200);
    // Counted against the new report (3 000 at 4.2 s), then corrected by what it used (15): 4 200
    // refilled by 5.2 s, less 15.
    expect(engine.pacingOf('a')).toEqual({ limitTokens: 60_000, remainingTokens: 4_185, tokensResetAt: t0 + 5_200 + 55_815, observedAt: t0 + 5_200 });
  });

  it('skips the target as paced when the newer report would make it wait longer than maxLimiterWait allows', async () => {
    const { engine, clock, publishAt } = await withReplica({ chat: { chain: ['a', 'b'], retry: { maxLimiterWait: '5s' } } });
    const t0 = clock.now();
    const sent: Array<[string, number]> = [];
    const waiting = engine.execute(waitingRequest, async (t) => {
      sent.push([t.id, clock.now() - t0]);
      return ok();
    });
    // 0 left, full in 10 minutes (100 tokens back a second): 4 200 tokens are 38.8 s away at 4.2 s.
    await publishAt(1_000, { remainingTokens: 0, fullInMs: 600_000 });
    const res = await drive(clock, waiting);
    expect(res.record.skipped).toEqual([expect.objectContaining({ target: 'a', reason: 'paced' })]);
    expect(sent).toEqual([['b', 4_200]]);
    // Nothing was sent to a: the newer report is as it came.
    expect(engine.pacingOf('a')).toEqual({ limitTokens: 60_000, remainingTokens: 0, tokensResetAt: t0 + 601_000, observedAt: t0 + 1_000 });
  });

  it('counts a call against a report that replaced the quota while a target-scoped limit held it back', async () => {
    const { engine, clock, publishAt } = await withReplica(
      { chat: { chain: ['a'], retry: { maxLimiterWait: '30s', maxAttempts: 1 } } },
      { limits: [{ id: 'a-rate', scope: ['model'], metric: 'requests', limit: 1, window: '10s' }] },
    );
    // 30 s later, half the quota is back; a small call takes the limit's one call per 10 s on a's model.
    await clock.advance(30_000);
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, maxOutputTokens: 10 }, async () => ok()));
    const t0 = clock.now();
    const sent: number[] = [];
    const waiting = engine.execute(waitingRequest, async () => {
      sent.push(clock.now() - t0);
      return ok('hi', { prompt_tokens: 10, completion_tokens: 5 });
    });
    // Pacing let it through (counted against the old report); while the limit holds it back, another
    // replica sees 10 000 left, full in 50 s.
    await publishAt(1_000, { remainingTokens: 10_000, fullInMs: 50_000 });
    await drive(clock, waiting);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toBeGreaterThan(1_000);
    const sentAt = t0 + sent[0]!;
    // Counted against the newer report when it went out (10 000 and the refill since, less 3 000), then
    // corrected by what it used (15).
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: 10_000 + (sentAt - (t0 + 1_000)) - 15, observedAt: sentAt });
  });
});

describe('pacing: quotas nobody refreshes', () => {
  it('drops a quota with no refill rate once its reset has passed, instead of counting calls against it for ever', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a'] } });
    await drive(
      clock,
      engine.execute({ route: 'chat', inputTokens: 10 }, async (_t, ctx: AttemptContext) => {
        // Reported full: no refill rate can be derived, and the reset is now.
        ctx.reportHeaders({ 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '100', 'x-ratelimit-reset-requests': '0s' });
        return ok();
      }),
    );
    expect(engine.pacingOf('a')).toMatchObject({ limitRequests: 100, remainingRequests: 100 });
    for (let i = 0; i < 300; i++) {
      const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, async () => ok()));
      expect(res.record.skipped).toEqual([]);
      await clock.advance(60_000);
    }
    // It said nothing after its reset: it is gone, not at -200 requests after 300 calls in 300 minutes.
    expect(engine.pacingOf('a')).toBeUndefined();
  });

  it('keeps a quota with a refill rate, which refills between calls: it never drifts below what the calls since took', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a'] } });
    await drive(
      clock,
      engine.execute({ route: 'chat', inputTokens: 10 }, async (_t, ctx: AttemptContext) => {
        // 100 requests a minute, 99 left, full in 0.6 s.
        ctx.reportHeaders({ 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '99', 'x-ratelimit-reset-requests': '600ms' });
        return ok();
      }),
    );
    for (let i = 0; i < 300; i++) {
      await clock.advance(60_000);
      await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, async () => ok()));
    }
    expect(engine.pacingOf('a')).toEqual({ limitRequests: 100, remainingRequests: 99, requestsResetAt: clock.now() + 600, observedAt: clock.now() });
  });
});

describe('pacing: a report from another process that arrives late', () => {
  /**
   * An engine sharing pacing state with another replica, whose target a has seen `exhaustedHeaders`
   * two minutes ago (both quotas full now). `late(observedAt, remainingTokens)` delivers the replica's
   * report of that time only now: 60 000 tokens a minute, full again 60 s after it was observed.
   */
  async function withLateReplica() {
    const hub = new MemoryPacingSyncHub();
    const env = setup({}, { chat: { chain: ['a'], retry: { maxAttempts: 1 } } }, { pacingSync: hub.connect() });
    const replica = hub.connect();
    await drive(
      env.clock,
      env.engine.execute({ route: 'chat', inputTokens: 10 }, async (_t, ctx: AttemptContext) => {
        ctx.reportHeaders(exhaustedHeaders);
        return ok();
      }),
    );
    await env.clock.advance(120_000);
    const late = (observedAt: number, remainingTokens: number) =>
      replica.publish('a', { limitTokens: 60_000, remainingTokens, tokensResetAt: observedAt + (60_000 - remainingTokens), observedAt });
    return { ...env, late };
  }
  const used = { prompt_tokens: 900, completion_tokens: 100 };

  it('counts against it the calls this process sent after it was observed: what ended calls used, the estimate of a running one', async () => {
    const { engine, clock, late } = await withLateReplica();
    const observedAt = clock.now();
    // After the replica observed its report, this process sends three calls of 5 000 estimated tokens:
    // two answer having used 1 000 each, a stream is still running when the report arrives.
    await clock.advance(100);
    await drive(clock, engine.execute(bigRequest(), async () => ok('hi', used)));
    await clock.advance(100);
    await drive(clock, engine.execute(bigRequest(), async () => ok('hi', used)));
    await clock.advance(100);
    const streamed = await drive(clock, engine.execute({ ...bigRequest(), stream: true }, async () => ({ chunks: [] })));
    await clock.advance(200);
    // The replica's report (20 000 left then: others used the key) arrives 500 ms after it was observed.
    late(observedAt, 20_000);
    // 20 000, 500 refilled since, less 1 000 + 1 000 + 5 000: the provider counts these three calls, the
    // report could not. Without them pacing would let 7 000 tokens too many through.
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: 20_000 + 500 - 7_000, observedAt: observedAt + 500 });
    // The stream, counted against the new quota, is corrected there by what it used.
    streamed.complete({ inputTokens: 900, outputTokens: 100 });
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: 20_000 + 500 - 3_000 });
  });

  it('does not count again the calls sent before it was observed: the provider\'s numbers include them', async () => {
    const { engine, clock, late } = await withLateReplica();
    await drive(clock, engine.execute(bigRequest(), async () => ok('hi', used)));
    await clock.advance(100);
    const observedAt = clock.now();
    await clock.advance(400);
    late(observedAt, 20_000);
    // As reported (pacing adds the refill since when it checks a call).
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: 20_000, observedAt });
  });

  it('counts the calls sent while the target had no quota yet: the first calls of a replica that never saw a header', async () => {
    const hub = new MemoryPacingSyncHub();
    const { engine, clock } = setup({}, { chat: { chain: ['a'], retry: { maxAttempts: 1 } } }, { pacingSync: hub.connect() });
    const replica = hub.connect();
    const observedAt = clock.now();
    await clock.advance(100);
    await drive(clock, engine.execute(bigRequest(), async () => ok('hi', used)));
    await clock.advance(100);
    // 60 000 tokens a minute, 20 000 left, full in 40 s: one token back per ms.
    replica.publish('a', { limitTokens: 60_000, remainingTokens: 20_000, tokensResetAt: observedAt + 40_000, observedAt });
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: 20_000 + 200 - 1_000 });
  });

  it('counts a call sent after it was observed once, also when later reports replace it', async () => {
    const { engine, clock, late } = await withLateReplica();
    const first = clock.now();
    await clock.advance(100);
    await drive(clock, engine.execute(bigRequest(), async () => ok('hi', used)));
    await clock.advance(100);
    late(first, 20_000); // counts the call: 20 000 + 200 - 1 000
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: 19_200 });
    await clock.advance(100);
    late(clock.now() - 50, 30_000); // observed after the call: the provider's numbers include it
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: 30_000 });
  });
});

describe("pacing: a call's own reply headers", () => {
  it('count the call as the provider does, also when the clock went back while it ran', async () => {
    const manual = new ManualClock(1_000_000);
    let offset = 0;
    const clock: Clock = { now: () => manual.now() + offset, sleep: (ms, signal) => manual.sleep(ms, signal) };
    const hub = new MemoryPacingSyncHub();
    const policy = definePolicy({ targets, routes: { chat: { chain: ['a'], retry: { maxAttempts: 1 } } } }, { onWarning: () => {} });
    const engine = createResilience(policy, { clock, random: () => 0.5, pacingSync: hub.connect() });
    const headers = (remaining: number) => ({
      'x-ratelimit-limit-tokens': '60000',
      'x-ratelimit-remaining-tokens': String(remaining),
      'x-ratelimit-reset-tokens': `${60_000 - remaining}ms`,
    });
    // A first reply gives the target a quota.
    await drive(manual, engine.execute({ route: 'chat', inputTokens: 10 }, async (_t, ctx: AttemptContext) => {
      ctx.reportHeaders(headers(40_000));
      return ok();
    }));
    await manual.advance(1_000);
    await drive(
      manual,
      engine.execute(bigRequest(), async (_t, ctx: AttemptContext) => {
        offset = -500; // the system clock steps back (NTP) while the call runs
        ctx.reportHeaders(headers(30_000));
        return ok('hi', { prompt_tokens: 900, completion_tokens: 100 });
      }),
    );
    // As the headers say: the call is in the provider's numbers, not counted again.
    expect(engine.pacingOf('a')).toMatchObject({ remainingTokens: 30_000 });
  });
});
