import { userMessageFor } from '../observability/userMessage';
import { RateLimitExceededError } from '../limits/RateLimitExceededError';
import { drive, http, ok, scripted, setup } from './engineTestKit';

/*
 * Rows of the seed's tables that an audit found the engine breaking: hints of 0, a budget's worst case,
 * and what a requeued chain (`onExhausted: 'queue'`) remembers from its earlier runs.
 */

describe('Resilience: provider hints of 0', () => {
  it('retries after the jittered backoff, not at once, when Retry-After is 0 or a date already past', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'] } }, { random: () => 0.9 });
    const past = new Date(clock.now() - 60_000).toUTCString();
    const { fn, calls } = scripted({ a: [http(429, {}, { 'retry-after': past })], b: [ok()] });
    const retries: Array<{ delayMs: number; source: string }> = [];
    engine.events.on('retry', (e) => retries.push({ delayMs: e.delayMs, source: e.source }));
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a', 'a', 'a', 'b']);
    expect(retries.map((r) => r.source)).toEqual(['backoff', 'backoff']);
    expect(retries.every((r) => r.delayMs > 0)).toBe(true);
  });

  it('pauses the target for the breaker open period after three 429s with Retry-After: 0 (no reset announced)', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'] } });
    const { fn, calls } = scripted({ a: [http(429, {}, { 'retry-after': '0' })], b: [ok()] });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(engine.breakers.target('a').state).toMatchObject({ state: 'paused' });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    // The second request goes to b at once: a is paused.
    expect(calls).toEqual(['a', 'a', 'a', 'b', 'b']);
  });
});

describe("Resilience: a budget's worst case", () => {
  it('leaves out fallbacks the request can never reach: the cost ceiling, the data class', async () => {
    const budgets = [{ scope: ['tenant'] as Array<'tenant'>, limitUsd: 0.01, window: '1d' as const }];
    // a: (1000 × $1 + 100 × $2) / 1M = $0.0012; premium: $0.14, above the ceiling: never called.
    const ceiling = setup({ budgets }, { chat: { chain: ['a', 'premium'], costCeilingUsd: 0.005 } });
    const first = scripted({});
    const res = await drive(ceiling.clock, ceiling.engine.execute({ route: 'chat', identity: { tenant: 't' }, inputTokens: 1000, maxOutputTokens: 100 }, first.fn));
    expect(res.record.final_target).toBe('a');
    // The same with a target not approved for the request's data class (b: public only).
    const pricey = { provider: 'x', model: 'pricey', price: { input: 100, output: 400 }, dataClasses: ['public'] };
    const dc = setup({ budgets }, { chat: { chain: ['a', pricey] } });
    const second = scripted({});
    const res2 = await drive(dc.clock, dc.engine.execute({ route: 'chat', identity: { tenant: 't' }, dataClass: 'internal', inputTokens: 1000, maxOutputTokens: 100 }, second.fn)).catch((e: unknown) => e);
    expect(res2).not.toBeInstanceOf(RateLimitExceededError);
    expect(second.calls).toEqual(['a']);
  });
});

describe('Resilience: a requeued chain remembers its earlier runs', () => {
  /** b fails with 503 on its first `n` calls, then answers. */
  const failsFirst = (n: number) => {
    let calls = 0;
    return () => {
      calls++;
      if (calls <= n) throw http(503);
      return ok();
    };
  };

  it('does not call again a target that answered quota_exhausted: skipped as failed_earlier', async () => {
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'b'], priority: 'batch', onExhausted: 'queue' } });
    const { fn, calls } = scripted({ a: [http(429, { error: { code: 'insufficient_quota' } })], b: [failsFirst(2)] });
    const alerts: string[] = [];
    engine.events.on('alert', (e) => alerts.push(e.kind));
    const res = await drive(clock, engine.execute({ route: 'bulk', inputTokens: 10 }, fn));
    expect(res.record.final_target).toBe('b');
    expect(calls.filter((c) => c === 'a')).toHaveLength(1);
    expect(alerts).toEqual(['quota_exhausted']);
    expect(res.record.skipped).toContainEqual({ target: 'a', reason: 'failed_earlier', detail: 'quota_exhausted on an earlier run of the chain' });
  });

  it("does not call again a target whose 429 said the request can never pass ('Request too large'): skipped as failed_earlier", async () => {
    const tooLarge = http(429, {
      error: {
        message: 'Request too large for gpt-4o on tokens per min (TPM): Limit 1000, Requested 2000. The input or output tokens must be reduced in order to run successfully.',
        type: 'tokens',
        code: 'rate_limit_exceeded',
      },
    });
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'b'], priority: 'batch', onExhausted: 'queue' } });
    const { fn, calls } = scripted({ a: [tooLarge], b: [failsFirst(2)] });
    const res = await drive(clock, engine.execute({ route: 'bulk', inputTokens: 10 }, fn));
    expect(res.record.final_target).toBe('b');
    expect(calls.filter((c) => c === 'a')).toHaveLength(1);
    expect(res.record.skipped).toContainEqual({ target: 'a', reason: 'failed_earlier', detail: 'rate_limited on an earlier run of the chain' });
  });

  it('does not run the chain again when every target failed in a way no wait fixes', async () => {
    const tooLarge = http(429, { error: { message: 'Request too large for gpt-4o. The input or output tokens must be reduced in order to run successfully.', code: 'rate_limit_exceeded' } });
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'b'], priority: 'batch', onExhausted: 'queue' } });
    const { fn, calls } = scripted({ a: [tooLarge], b: [tooLarge] });
    const t0 = clock.now();
    const err = await drive(clock, engine.execute({ route: 'bulk', inputTokens: 10 }, fn)).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ChainExhaustedError', kind: 'rate_limited', retryAfterMs: Infinity });
    expect(calls).toEqual(['a', 'b']);
    // Thrown at once, not after requeue waits until the batch class's maxWait.
    expect(clock.now() - t0).toBe(0);
    expect((err as { record: { queue_wait_ms: number } }).record.queue_wait_ms).toBe(0);
    // Not "retrying in a few seconds": no wait helps.
    expect((err as { userMessage: string }).userMessage).toBe('This request is too long for us to process. Please shorten it and try again.');
    expect(userMessageFor('too_large', 'internal', engine.policy.messages)).toMatch(/no wait lets it through/);
  });

  it('does not send the prompt again to a window that refused it (context_length)', async () => {
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'long'], priority: 'batch', onExhausted: 'queue' } });
    const { fn, calls } = scripted({ a: [http(400, { error: { code: 'context_length_exceeded' } })], long: [failsFirst(2)] });
    const res = await drive(clock, engine.execute({ route: 'bulk', inputTokens: 10 }, fn));
    expect(res.record.final_target).toBe('long');
    expect(calls.filter((c) => c === 'a')).toHaveLength(1);
    expect(res.record.skipped.map((s) => s.reason)).toContain('context_window');
  });

  it('does not call a target before the Retry-After it announced, however long the requeue waits are', async () => {
    const { engine, clock } = setup({}, { bulk: { chain: ['a'], priority: 'batch', onExhausted: 'queue' } });
    const t0 = clock.now();
    const callTimes: number[] = [];
    const { fn } = scripted({
      a: [
        () => {
          callTimes.push(clock.now() - t0);
          return callTimes.length === 1 ? http(429, {}, { 'retry-after': '120' }) : ok();
        },
      ],
    });
    const res = await drive(clock, engine.execute({ route: 'bulk', inputTokens: 10 }, fn));
    expect(callTimes).toHaveLength(2);
    expect(callTimes[1]).toBeGreaterThanOrEqual(120_000);
    expect(res.record.skipped.map((s) => s.reason)).toContain('paced');
  });

  it('waits the breaker open period before running again when the last failure said Retry-After: 0 (no hint)', async () => {
    const { engine, clock } = setup({}, { bulk: { chain: ['a'], priority: 'batch', onExhausted: 'queue' } });
    let n = 0;
    const { fn } = scripted({ a: [() => (++n <= 3 ? http(503, {}, { 'retry-after': '0' }) : ok())] });
    const res = await drive(clock, engine.execute({ route: 'bulk', inputTokens: 10 }, fn));
    expect(res.record.final_target).toBe('a');
    expect(res.record.queue_wait_ms).toBe(30_000);
  });

  it("applies only what earlier runs learned: a chain listing a target twice calls it twice in one run", async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b', 'a'] } });
    let a = 0;
    // a's first answer: a 429 whose hint is above the live maxHint (5 s), so the engine falls back.
    const { fn, calls } = scripted({ a: [() => (++a === 1 ? http(429, {}, { 'retry-after': '10' }) : ok())], b: [http(503)] });
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(res.record.skipped).toEqual([]);
    expect(calls.filter((c) => c === 'a')).toHaveLength(2);
  });
});

describe('Resilience: a target whose model is gone (retired, misspelt, not enabled for the key)', () => {
  it('falls back at once without retrying, alerts the team, and a second request is not stopped either', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'] } });
    const gone = http(404, { message: 'The model `gpt-4-0314` does not exist or you do not have access to it.', type: 'invalid_request_error', code: 'model_not_found' });
    const { fn, calls } = scripted({ a: [gone, gone], b: [ok(), ok()] });
    const alerts: Array<{ kind: string; target: string }> = [];
    engine.events.on('alert', (e) => alerts.push({ kind: e.kind, target: e.target }));
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(res.record.final_target).toBe('b');
    expect(res.record.attempts.map((a) => [a.target, a.errorKind])).toEqual([['a', 'auth'], ['b', undefined]]);
    expect(alerts).toEqual([{ kind: 'auth', target: 'a' }]);
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a', 'b', 'a', 'b']);
  });
});
