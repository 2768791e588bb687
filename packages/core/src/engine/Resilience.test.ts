import { z } from 'zod';
import { ChainExhaustedError, RequestFailedError } from '../errors/ChainExhaustedError';
import { Limiter } from '../limits/Limiter';
import { CONCURRENCY_RETRY_MS, MemoryLimiterStore } from '../limits/MemoryLimiterStore';
import { limitKey } from '../limits/limitKey';
import { RateLimitExceededError } from '../limits/RateLimitExceededError';
import { noopMetrics } from '../observability/Metrics';
import { drive, http, ok, scripted, setup } from './engineTestKit';
import type { AttemptContext, RequestRecord } from './types';

describe('Resilience.execute', () => {
  it('returns the value with a record carrying the seed fields', async () => {
    const { engine, clock } = setup();
    const { fn } = scripted({ a: [ok('hello', { prompt_tokens: 1800, completion_tokens: 420 })] });
    const res = await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u1' }, inputTokens: 1800, maxOutputTokens: 500 }, fn));
    expect(res.value).toEqual(ok('hello', { prompt_tokens: 1800, completion_tokens: 420 }));
    expect(res.record).toMatchObject({
      route: 'chat',
      user_id: 'u1',
      primary_model: 'model-a',
      final_model: 'model-a',
      fallback_used: false,
      retry_count: 0,
      outcome: 'success',
      input_tokens: 1800,
      output_tokens: 420,
    });
    expect(res.record.estimated_cost).toBeCloseTo((1800 * 1 + 500 * 2) / 1e6, 12);
    expect(res.record.actual_cost).toBeCloseTo((1800 * 1 + 420 * 2) / 1e6, 12);
    expect(res.record.request_id).toMatch(/^req_/);
  });

  it('waits for a 429 Retry-After hint and retries the same target (seed: 429 with hint -> retry)', async () => {
    const { engine, clock } = setup();
    const { fn, calls } = scripted({ a: [http(429, { error: { type: 'rate_limit_error' } }, { 'retry-after': '2' }), ok()] });
    const retries: number[] = [];
    engine.events.on('retry', (e) => retries.push(e.delayMs));
    const t0 = clock.now();
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a', 'a']);
    expect(retries).toEqual([2000]);
    expect(clock.now() - t0).toBe(2000);
    expect(res.record.retry_count).toBe(1);
    expect(res.record.fallback_used).toBe(false);
  });

  it('uses backoff with jitter when there is no hint, then falls back', async () => {
    const { engine, clock } = setup();
    const { fn, calls } = scripted({ a: [http(503)], b: [ok()] });
    const delays: number[] = [];
    engine.events.on('retry', (e) => delays.push(e.delayMs));
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    // overloaded: one retry (full jitter with random 0.5 -> 0.5 * 500 * 2^1), then fallback
    expect(delays).toEqual([500]);
    expect(calls).toEqual(['a', 'a', 'b']);
    expect(res.record.final_model).toBe('model-b');
    expect(res.record.fallback_used).toBe(true);
    expect(res.record.attempts.map((a) => a.errorKind ?? 'ok')).toEqual(['overloaded', 'overloaded', 'ok']);
  });

  it('grows the backoff with the retries on a target, whatever their kinds (a 503, then a 429 without hint)', async () => {
    const { engine, clock } = setup();
    const { fn, calls } = scripted({ a: [http(503), http(429), ok()] });
    const delays: number[] = [];
    engine.events.on('retry', (e) => delays.push(e.delayMs));
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a', 'a', 'a']);
    // random 0.5: retry 1 -> 0.5 * 500 * 2^1, retry 2 -> 0.5 * 500 * 2^2 (not 2^1 again for a new kind).
    expect(delays).toEqual([500, 1000]);
  });

  it('falls back instead of waiting when the provider hint is longer than maxHint', async () => {
    const { engine, clock } = setup();
    const { fn, calls } = scripted({ a: [http(429, {}, { 'retry-after': '60' })], b: [ok()] });
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a', 'b']);
    expect(res.record.retry_count).toBe(0);
  });

  it('does not retry or fall back on a policy rejection', async () => {
    const { engine, clock } = setup();
    const { fn, calls } = scripted({ a: [http(400, { error: { code: 'content_policy_violation', message: 'blocked' } })], b: [ok()] });
    const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn)).catch((e) => e);
    expect(err).toBeInstanceOf(RequestFailedError);
    expect(err.kind).toBe('policy_rejected');
    expect(calls).toEqual(['a']);
  });

  it('falls back on a policy rejection when the route allows it', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'], fallbackOn: ['policy_rejected'] } });
    const { fn, calls } = scripted({ a: [http(400, { error: { code: 'content_policy_violation' } })], b: [ok()] });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a', 'b']);
  });

  it('stops retrying on quota exhaustion, raises an alert, and falls back', async () => {
    const { engine, clock } = setup();
    const alerts: string[] = [];
    engine.events.on('alert', (e) => alerts.push(`${e.kind}:${e.target}`));
    const { fn, calls } = scripted({ a: [http(429, { error: { code: 'insufficient_quota', type: 'insufficient_quota' } })], b: [ok()] });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a', 'b']);
    expect(alerts).toEqual(['quota_exhausted:a']);
  });

  it('routes a context-length error to a target with a larger window, skipping ones that cannot fit', async () => {
    const { engine, clock } = setup({}, { doc: { chain: ['a', 'b', 'long'] } });
    const { fn, calls } = scripted({ a: [http(400, { error: { code: 'context_length_exceeded', message: 'maximum context length' } })], long: [ok()] });
    const res = await drive(clock, engine.execute({ route: 'doc', inputTokens: 100 }, fn));
    expect(calls).toEqual(['a', 'long']);
    expect(res.record.skipped).toEqual([expect.objectContaining({ target: 'b', reason: 'context_window' })]);
  });

  it('skips targets whose window cannot hold the prompt, and fails fast when none can', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'] } });
    const { fn, calls } = scripted({});
    const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 20_000 }, fn)).catch((e) => e);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(calls).toEqual([]);
    expect(err.record.skipped.map((s: { reason: string }) => s.reason)).toEqual(['context_window', 'context_window']);
  });

  it('never sends a data class to an unapproved target, on any fallback step', async () => {
    const { engine, clock } = setup();
    const { fn, calls } = scripted({ a: [http(503)] });
    const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, dataClass: 'internal' }, fn)).catch((e) => e);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(calls).toEqual(['a', 'a']);
    expect(err.record.skipped).toEqual([{ target: 'b', reason: 'data_class', detail: "not approved for data class 'internal'" }]);
  });

  it('skips targets that would break the route cost ceiling', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'premium'], costCeilingUsd: 0.01 } });
    const { fn, calls } = scripted({ a: [http(503)] });
    const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 1000, maxOutputTokens: 100 }, fn)).catch((e) => e);
    expect(calls).toEqual(['a', 'a']);
    expect(err.record.skipped[0]).toMatchObject({ target: 'premium', reason: 'cost_ceiling' });
  });

  it('keeps one attempt budget across the whole chain (no restart per fallback)', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b', 'long'], retry: { maxAttempts: 3 } } });
    const { fn, calls } = scripted({ a: [http(503)], b: [http(503)], long: [ok()] });
    const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn)).catch((e) => e);
    expect(calls).toEqual(['a', 'a', 'b']);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(err.userMessage).toBe("This request is taking longer than usual. We're trying another model now.");
  });

  it('validates structured output and falls back when a reply is not valid JSON', async () => {
    const Intent = z.object({ intent: z.string(), urgency: z.enum(['low', 'medium', 'high']) });
    const { engine, clock } = setup({}, { cls: { chain: ['a', 'b'], output: Intent } });
    const { fn, calls } = scripted({ a: [ok('Sure! intent is refund')], b: [ok('```json\n{"intent":"refund","urgency":"high"}\n```')] });
    const res = await drive(clock, engine.execute({ route: 'cls', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a', 'b']);
    expect(res.output).toEqual({ intent: 'refund', urgency: 'high' });
    expect(res.record.validation_failures).toBe(1);
    expect(res.record.attempts[0]).toMatchObject({ outcome: 'invalid_output', errorKind: 'validation_failed' });
  });

  it('retries once with a stricter prompt when the route says so', async () => {
    const Intent = z.object({ intent: z.string() });
    const { engine, clock } = setup({}, { cls: { chain: ['a'], output: Intent, onInvalidOutput: 'retry-stricter' } });
    const repairs: Array<string | undefined> = [];
    const { fn } = scripted({
      a: [
        (ctx: AttemptContext) => {
          repairs.push(ctx.repair?.reason);
          return ok(ctx.repair ? '{"intent":"refund"}' : '{"intent": 3}');
        },
      ],
    });
    const res = await drive(clock, engine.execute({ route: 'cls', inputTokens: 10 }, fn));
    expect(repairs).toEqual([undefined, expect.stringContaining('does not match the schema')]);
    expect(res.output).toEqual({ intent: 'refund' });
  });

  it('times out a slow attempt on the injected clock and falls back', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'], timeout: '5s', retry: { perKind: { timeout: 0 } } } });
    let aborted = false;
    const { fn, calls } = scripted({
      a: [
        (ctx: AttemptContext) =>
          new Promise((_, reject) => ctx.signal.addEventListener('abort', () => { aborted = true; reject(ctx.signal.reason); })),
      ],
      b: [ok()],
    });
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(aborted).toBe(true);
    expect(calls).toEqual(['a', 'b']);
    expect(res.record.attempts[0]).toMatchObject({ errorKind: 'timeout', latencyMs: 5000 });
  });

  it('cancels on the caller signal without falling back', async () => {
    const { engine, clock } = setup();
    const ac = new AbortController();
    const { fn, calls } = scripted({ a: [() => new Promise(() => undefined)] });
    const p = engine.execute({ route: 'chat', inputTokens: 10, signal: ac.signal }, fn);
    await clock.advance(10);
    ac.abort();
    const err = await p.catch((e) => e);
    expect(err.kind).toBe('cancelled');
    expect(calls).toEqual(['a']);
  });

  it('never retries past the deadline', async () => {
    const { engine, clock } = setup();
    const { fn, calls } = scripted({ a: [http(429, {}, { 'retry-after': '3' })], b: [http(429, {}, { 'retry-after': '3' })] });
    const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, deadline: clock.now() + 2000 }, fn)).catch((e) => e);
    expect(calls).toEqual(['a', 'b']);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(clock.now()).toBeLessThan(1_000_000 + 2000);
  });

  it('falls back when our own target limit denies (a limiter 429 triggers fallback)', async () => {
    const { engine, clock } = setup({
      limits: [{ scope: ['model'], metric: 'requests', limit: 1, window: '1m' }],
    });
    const { fn, calls } = scripted({});
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a', 'b']);
    expect(res.record.skipped).toEqual([expect.objectContaining({ target: 'a', reason: 'limited' })]);
  });

  it('wakes a request waiting for a target concurrency slot as soon as the slot is freed, not at its next poll', async () => {
    const { engine, clock } = setup({ limits: [{ id: 'model-slots', scope: ['model'], metric: 'concurrency', limit: 1 }] }, { solo: { chain: ['a'] } });
    let finishFirst!: () => void;
    const firstDone = new Promise<void>((r) => (finishFirst = r));
    const started: Array<{ id: string; at: number }> = [];
    const call = (id: string) => async () => {
      started.push({ id, at: clock.now() });
      if (id === 'first') await firstDone;
      return ok(id);
    };
    const first = engine.execute({ route: 'solo', inputTokens: 10 }, call('first'));
    await new Promise((r) => setImmediate(r));
    const waited = engine.execute({ route: 'solo', inputTokens: 10 }, call('second'));
    await new Promise((r) => setImmediate(r));
    expect(started.map((x) => x.id)).toEqual(['first']); // the second waits for the slot (its poll would be in 250 ms)

    await clock.advance(40);
    finishFirst();
    await first;
    const second = await waited;

    expect(started).toEqual([
      { id: 'first', at: 1_000_000 },
      { id: 'second', at: 1_000_040 }, // when the slot was freed, on the same clock tick
    ]);
    expect(second.record.attempts[0]!.waitedMs).toBe(40);
    expect(second.record.latency_ms).toBe(40);
  });

  it('also hands the slot of a failed attempt to the waiting request at once', async () => {
    const { engine, clock } = setup({ limits: [{ id: 'model-slots', scope: ['model'], metric: 'concurrency', limit: 1 }] }, { solo: { chain: ['a'] } });
    let failFirst!: () => void;
    const firstFails = new Promise<void>((r) => (failFirst = r));
    const started: number[] = [];
    const first = engine.execute({ route: 'solo', inputTokens: 10 }, async () => {
      started.push(clock.now());
      await firstFails;
      throw http(400, { message: 'bad request' }); // invalid_request: no retry, no fallback
    });
    first.catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    const waited = engine.execute({ route: 'solo', inputTokens: 10 }, async () => {
      started.push(clock.now());
      return ok('second');
    });
    await new Promise((r) => setImmediate(r));
    await clock.advance(10);
    failFirst();
    await expect(first).rejects.toMatchObject({ kind: 'invalid_request' });
    const second = await waited;
    expect(started).toEqual([1_000_000, 1_000_010]);
    expect(second.record.attempts[0]!.waitedMs).toBe(10);
  });

  it('still polls a target limit when no call of this engine frees capacity (another process may)', async () => {
    const { engine, clock } = setup({ limits: [{ id: 'model-slots', scope: ['model'], metric: 'concurrency', limit: 1 }] }, { solo: { chain: ['a'] } });
    // Take the only slot outside the engine, as another process sharing the store would.
    const other = new Limiter(engine.policy.limits, engine.store, { clock });
    const held = await other.reserve({ provider: 'openai', model: 'model-a' }, { inputTokens: 1, outputTokens: 1, costUsd: 0 }, 'target');
    if (!held.ok) throw new Error('the slot should be free');
    const waiting = engine.execute({ route: 'solo', inputTokens: 10 }, async () => ok('late'));
    await clock.advance(CONCURRENCY_RETRY_MS);
    await held.settle({ inputTokens: 1, outputTokens: 1, costUsd: 0 });
    const res = await drive(clock, waiting);
    expect(res.record.attempts[0]!.waitedMs).toBe(2 * CONCURRENCY_RETRY_MS);
  });

  it('makes live traffic wait briefly for a request limit, then rejects with the rule and retryAfterMs', async () => {
    const { engine, clock } = setup({ limits: [{ scope: ['user'], metric: 'requests', limit: 2, window: '1m' }] });
    const { fn } = scripted({});
    const req = { route: 'chat', identity: { user: 'u1' }, inputTokens: 10 };
    await drive(clock, engine.execute(req, fn));
    await drive(clock, engine.execute(req, fn));
    const err = await drive(clock, engine.execute(req, fn)).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.kind).toBe('rate_limited');
    expect(err.retryAfterMs).toBeGreaterThan(0);
  });

  it('rejects a request that can never fit a token limit with a clear reason', async () => {
    const { engine, clock } = setup({ limits: [{ scope: ['team'], metric: 'inputTokens', limit: 1000, window: '1m' }] });
    const { fn, calls } = scripted({});
    const err = await drive(clock, engine.execute({ route: 'chat', identity: { team: 't' }, inputTokens: 5000 }, fn)).catch((e) => e);
    expect(err).toBeInstanceOf(RateLimitExceededError);
    expect(err.retryAfterMs).toBe(Infinity);
    expect(calls).toEqual([]);
  });

  it('reserves then settles tokens: refunds the unused estimate', async () => {
    const { engine, clock } = setup({ limits: [{ id: 'tpm', scope: ['team'], metric: 'totalTokens', limit: 1000, window: '1m' }] });
    const { fn, calls } = scripted({ a: [ok('x', { prompt_tokens: 100, completion_tokens: 50 })] });
    const req = { route: 'chat', identity: { team: 't' }, inputTokens: 100, maxOutputTokens: 400 };
    // Each call reserves 500 and settles to 150 (350 refunded): 150 * 3 + 500 <= 1000, so four calls fit
    // at once where charging the estimate would have admitted two.
    for (let i = 0; i < 4; i++) await engine.execute(req, fn);
    expect(calls).toHaveLength(4);
    // The fifth needs 600 + 500 > 1000: it would wait 6 s for 100 tokens, longer than live traffic may.
    const err = await engine.execute(req, fn).catch((e) => e);
    expect(err.kind).toBe('rate_limited');
    expect(err.retryAfterMs).toBe(6000);
    expect(calls).toHaveLength(4);
    expect(clock.now()).toBe(1_000_000);
  });

  it('settles a stream when the adapter completes it', async () => {
    const { engine, clock, records } = setup({ limits: [{ scope: ['team'], metric: 'totalTokens', limit: 1000, window: '1m' }] });
    const { fn } = scripted({ a: [ok()] });
    const res = await drive(clock, engine.execute({ route: 'chat', identity: { team: 't' }, inputTokens: 100, maxOutputTokens: 800, stream: true }, fn));
    expect(records).toHaveLength(0);
    res.complete({ inputTokens: 100, outputTokens: 20 });
    await clock.advance(0);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'success', output_tokens: 20 });
  });

  it('stops retrying when the per-provider retry budget is spent', async () => {
    const { engine, clock } = setup(
      { breaker: { consecutiveFailures: 100, minimumCalls: 100 } },
      { chat: { chain: ['a'], retry: { perKind: { overloaded: 5 }, maxAttempts: 20 } } },
      { retryBudget: { maxTokens: 10, tokenRatio: 0.1 } },
    );
    const { fn } = scripted({ a: [http(503)] });
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn)).catch((e) => e);
      counts.push(err.record.attempts.length);
    }
    // 10 tokens, each failure takes one, retries only while more than 5 remain: 4 retries, then stop...
    expect(counts[0]).toBe(5);
    // ...after that every request gets a single attempt.
    expect(counts.slice(1)).toEqual([1, 1, 1]);
  });

  it('paces proactively from remaining-quota headers: no call is sent into a known-exhausted limit', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'] }, bulk: { chain: ['a'], priority: 'batch' } });
    const resetIn = (s: number) => new Date(clock.now() + s * 1000).toISOString();
    const { fn, calls } = scripted({
      a: [
        (ctx: AttemptContext) => {
          ctx.reportHeaders({
            'anthropic-ratelimit-requests-limit': '50',
            'anthropic-ratelimit-requests-remaining': '0',
            'anthropic-ratelimit-requests-reset': resetIn(60),
          });
          return ok();
        },
      ],
    });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(engine.pacingOf('a')).toMatchObject({ remainingRequests: 0, limitRequests: 50 });
    // The quota refills continuously: one request (plus a 2% margin) of 50 is back in 60 s * 2/50 = 2.4 s.
    // Live traffic does not wait that long: it goes straight to the fallback, without a 429 from the provider.
    const live = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(live.record.skipped).toEqual([expect.objectContaining({ target: 'a', reason: 'paced' })]);
    // Batch traffic waits for its share of the refill, then calls the same target.
    const t0 = clock.now();
    await drive(clock, engine.execute({ route: 'bulk', inputTokens: 10 }, fn));
    expect(clock.now() - t0).toBe(2400);
    expect(calls).toEqual(['a', 'b', 'a']);
  });

  it('queues an exhausted batch request for later on onExhausted: queue, then runs the chain again', async () => {
    const sunk: string[] = [];
    const metrics = { ...noopMetrics, queue: (e: { event: string; reason?: string; depth: number }) => void sunk.push(`${e.event}:${e.reason ?? ''}:${e.depth}`) };
    const { engine, clock } = setup({}, { summary: { chain: ['long'], priority: 'batch', onExhausted: 'queue' } }, { metrics });
    const { fn, calls } = scripted({ long: [http(503), http(503), ok()] });
    const queued: string[] = [];
    engine.events.on('queue', (e) => queued.push(`${e.event}:${e.reason ?? ''}`));
    const t0 = clock.now();
    const res = await drive(clock, engine.execute({ route: 'summary', inputTokens: 10 }, fn));
    expect(calls).toEqual(['long', 'long', 'long']);
    // The wait ends with its exit event: the chain runs again, so `admitted`.
    expect(queued).toEqual(['enqueued:exhausted', 'admitted:']);
    // The metrics sink gets them too, with the scheduler's depth (the requeued request is not in its queue).
    expect(sunk).toEqual(['enqueued:exhausted:0', 'admitted::0']);
    expect(res.record.outcome).toBe('success');
    // 500 ms backoff inside the first round, then the breaker's open period (30 s default) before the second.
    expect(res.record.queue_wait_ms).toBe(30_000);
    expect(clock.now() - t0).toBe(30_500);
  });

  it('does not queue past the deadline: the exhausted chain fails with its last error', async () => {
    const { engine, clock } = setup({}, { summary: { chain: ['long'], priority: 'batch', onExhausted: 'queue' } });
    const { fn, calls } = scripted({ long: [http(503)] });
    const err = await drive(clock, engine.execute({ route: 'summary', inputTokens: 10, deadline: clock.now() + 10_000 }, fn)).catch((e) => e);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(err.kind).toBe('overloaded');
    expect(calls).toEqual(['long', 'long']);
  });

  it('charges replies rejected by validation to the spend record and budgets', async () => {
    const Intent = z.object({ intent: z.string() });
    const { engine, clock } = setup({}, { cls: { chain: ['a', 'b'], output: Intent } });
    const { fn } = scripted({
      a: [ok('not json', { prompt_tokens: 1000, completion_tokens: 100 })],
      b: [ok('{"intent":"refund"}', { prompt_tokens: 1000, completion_tokens: 100 })],
    });
    const res = await drive(clock, engine.execute({ route: 'cls', inputTokens: 1000 }, fn));
    // Both replies were billed: (1000 * 1 + 100 * 2) / 1e6 each.
    expect(res.record.actual_cost).toBeCloseTo(2 * 0.0012, 12);
  });

  it('is cancelled when the caller aborts while an asynchronous validator runs, charging the call it made', async () => {
    let validating = false;
    const Slow = z.object({ intent: z.string() }).refine(async () => {
      validating = true;
      await clock.sleep(10_000);
      return true;
    });
    const store = new MemoryLimiterStore();
    const { engine, clock } = setup({ budgets: [{ scope: ['tenant'], limitUsd: 1, window: '1d' }] }, { cls: { chain: ['a', 'b'], output: Slow } }, { store });
    const b = engine.policy.budgets[0]!;
    const budget = new Limiter([{ id: b.id, scope: ['tenant'], metric: 'cost', limit: 1, windowMs: b.windowMs, fixedWindow: true }], store, { clock });
    const records: RequestRecord[] = [];
    engine.events.on('record', (r) => records.push(r));
    const ac = new AbortController();
    const { fn, calls } = scripted({ a: [ok('{"intent":"refund"}', { prompt_tokens: 1000, completion_tokens: 100 })] });
    const p = engine.execute({ route: 'cls', identity: { tenant: 't' }, inputTokens: 1000, signal: ac.signal }, fn);
    p.catch(() => undefined);
    for (let i = 0; i < 20 && !validating; i++) await new Promise((r) => setImmediate(r));
    expect(validating).toBe(true);
    ac.abort(new Error('user left'));
    const err = await drive(clock, p).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RequestFailedError);
    expect(err).toMatchObject({ code: 'ERR_LLMR_CANCELLED', kind: 'cancelled' });
    expect(calls).toEqual(['a']);
    // The reply was billed: (1000 * 1 + 100 * 2) / 1e6, kept on the record and the tenant's budget.
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled' });
    expect(records[0]!.actual_cost).toBeCloseTo(0.0012, 12);
    expect(budget.usage(b.id, { tenant: 't' })).toBeCloseTo(0.0012, 12);
  });

  it('charges a failed call that reported its usage (a reply its own parser rejected) instead of refunding it', async () => {
    const tpm = { id: 'a-tpm', scope: ['model'] as Array<'model'>, metric: 'totalTokens' as const, limit: 100_000, window: '1d' as const };
    const store = new MemoryLimiterStore();
    const { engine, clock } = setup({ limits: [tpm], budgets: [{ scope: ['tenant'], limitUsd: 1, window: '1d' }] }, { chat: { chain: ['a', 'b'] } }, { store });
    const held = () => store.usage([{ key: limitKey(tpm, { model: 'model-a' })!, kind: 'rate', limit: 100_000, windowMs: 86_400_000, amount: 0 }])[0]!;
    const rejecting = (t: { id: string }, ctx: AttemptContext) => {
      if (t.id === 'b') return Promise.resolve(ok('{"fine":true}', { prompt_tokens: 1000, completion_tokens: 100 }));
      ctx.reportUsage({ inputTokens: 1000, outputTokens: 300 });
      // As LangChain's parsers fail: validation_failed, which falls back.
      return Promise.reject(Object.assign(new Error('Failed to parse. Text: "not json"'), { lc_error_code: 'OUTPUT_PARSING_FAILURE' }));
    };
    const res = await drive(clock, engine.execute({ route: 'chat', identity: { tenant: 't' }, inputTokens: 1000, maxOutputTokens: 500 }, rejecting));
    expect(res.record.final_target).toBe('b');
    // a's 1 300 tokens stay charged to its limit (the estimate of 1 500 was settled, not refunded).
    expect(held()).toBeCloseTo(1_300, 0);
    // Both replies were billed: a's (1000 * 1 + 300 * 2) / 1e6 and b's (1000 * 1 + 100 * 2) / 1e6.
    expect(res.record.actual_cost).toBeCloseTo(0.0016 + 0.0012, 12);

    const refunded = (_t: unknown, _ctx: AttemptContext) => Promise.reject(Object.assign(new Error('nothing reported'), { status: 503 }));
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 1000, maxOutputTokens: 500 }, refunded)).catch(() => undefined);
    expect(held()).toBeCloseTo(1_300, 0);
  });

  it('ends a chain exhausted only by open breakers as overloaded, so default fallbacks and 503s apply', async () => {
    const { engine, clock } = setup({ breaker: { consecutiveFailures: 1 } }, { chat: { chain: ['a', 'b'], retry: { perKind: { overloaded: 0 } } } });
    const { fn, calls } = scripted({ a: [http(503)], b: [http(503)] });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn)).catch(() => undefined);
    const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn)).catch((e) => e);
    expect(calls).toEqual(['a', 'b']);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(err.kind).toBe('overloaded');
    expect(err.record.skipped.map((x: { reason: string }) => x.reason)).toEqual(['breaker_open', 'breaker_open']);
  });

  it('downgrades only requests a budget applies to (its match), once the share is spent', async () => {
    const { engine, clock } = setup(
      {
        budgets: [{ scope: ['tenant'], match: { route: 'support' }, limitUsd: 1, window: '1d', downgradeAt: 0.5, downgradeTo: 'cheap' }],
      },
      { support: { chain: ['premium'] }, legal: { chain: ['premium'] }, cheap: { chain: ['a'] } },
    );
    const downgrades: string[] = [];
    engine.events.on('budget', (e) => e.event === 'downgrade' && downgrades.push(`${e.route}->${e.to}`));
    const { fn } = scripted({ premium: [ok('x', { prompt_tokens: 1000, completion_tokens: 1000 })] });
    const who = { tenant: 'acme' };
    // $0.5 spent on support (1000 * 100 + 1000 * 400) / 1e6.
    await drive(clock, engine.execute({ route: 'support', identity: who, inputTokens: 1000, maxOutputTokens: 1000 }, fn));
    const legal = await drive(clock, engine.execute({ route: 'legal', identity: who, inputTokens: 1000, maxOutputTokens: 1000 }, fn));
    const support = await drive(clock, engine.execute({ route: 'support', identity: who, inputTokens: 1000, maxOutputTokens: 1000 }, fn));
    expect(legal.record.final_target).toBe('premium');
    expect(support.record.final_target).toBe('a');
    expect(downgrades).toEqual(['support->cheap']);
  });

  it('keeps rejected replies charged to the budget when the request finally fails', async () => {
    const Intent = z.object({ intent: z.string() });
    const { engine, clock } = setup(
      { budgets: [{ scope: ['tenant'], limitUsd: 0.003, window: '1d' }] },
      { cls: { chain: ['a'], output: Intent } },
    );
    const { fn } = scripted({ a: [ok('not json', { prompt_tokens: 1000, completion_tokens: 100 })] });
    const req = { route: 'cls', identity: { tenant: 't' }, inputTokens: 1000, maxOutputTokens: 100 };
    const first = await drive(clock, engine.execute(req, fn)).catch((e) => e);
    expect(first.kind).toBe('validation_failed');
    expect(first.record.actual_cost).toBeCloseTo(0.0012, 12);
    await drive(clock, engine.execute(req, fn)).catch((e) => e);
    // $0.0024 spent, a third worst case of $0.0012 no longer fits under $0.003.
    const third = await drive(clock, engine.execute(req, fn)).catch((e) => e);
    expect(third.code).toBe('ERR_LLMR_LIMIT_EXCEEDED');
  });

  it('ends a chain with a capacity kind when any skip was a capacity problem', async () => {
    const { engine, clock } = setup({ breaker: { consecutiveFailures: 1 } }, { chat: { chain: ['b', 'a'], retry: { perKind: { overloaded: 0 } } } });
    const { fn } = scripted({ a: [http(503)] });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, dataClass: 'internal' }, fn)).catch(() => undefined);
    const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, dataClass: 'internal' }, fn)).catch((e) => e);
    expect(err.record.skipped.map((x: { reason: string }) => x.reason)).toEqual(['data_class', 'breaker_open']);
    expect(err.kind).toBe('overloaded');
  });
});
