import { Registry } from 'prom-client';
import { drive, http, ok, scripted, setup } from '../engine/engineTestKit';
import { PrometheusMetrics } from './PrometheusMetrics';
import { attemptErrorKind, breakerStateValue, reasonLabel, recordFacts, usedTokens } from './recordFacts';
import { attemptRecord, fallbackRecord } from './testRecords';

describe('recordFacts', () => {
  it('counts a move to the fallback and the 429s absorbed on the way to a success', () => {
    const facts = recordFacts(fallbackRecord());
    expect(facts.fallbacksTo).toEqual(['backup']);
    expect(facts.rateLimitsAbsorbed).toEqual([
      { target: 'primary', provider: 'openai' },
      { target: 'primary', provider: 'openai' },
    ]);
    expect(facts.finalProvider).toBe('anthropic');
    expect(facts.model).toBe('model_b');
  });

  it('does not call 429s absorbed when the request failed', () => {
    const { final_model: _m, final_target: _t, ...rest } = fallbackRecord();
    const facts = recordFacts({ ...rest, outcome: 'failure', error_kind: 'overloaded' });
    expect(facts.rateLimitsAbsorbed).toEqual([]);
    expect(facts.model).toBe('model_a');
    expect(facts.finalProvider).toBe('anthropic'); // the last target tried
  });

  it('does not count a never-fits 429 ("Request too large") followed by a successful fallback as a rate limit absorbed', () => {
    const record = fallbackRecord({
      attempts: [
        attemptRecord({ attempt: 1, targetAttempt: 1, outcome: 'error', errorKind: 'rate_limited', status: 429, neverFits: true }),
        attemptRecord({ target: 'backup', provider: 'anthropic', model: 'model_b', attempt: 2, targetAttempt: 1 }),
      ],
      retry_count: 0,
    });
    const facts = recordFacts(record);
    expect(facts.rateLimitsAbsorbed).toEqual([]);
    expect(facts.fallbacksTo).toEqual(['backup']); // still a fallback
  });

  it('counts a skipped primary as a fallback to the first target tried', () => {
    const r = fallbackRecord({
      attempts: [attemptRecord({ target: 'backup', provider: 'anthropic', model: 'model_b' })],
      skipped: [{ target: 'primary', reason: 'breaker_open' }],
    });
    expect(recordFacts(r).fallbacksTo).toEqual(['backup']);
  });

  it('counts a fallback to a target with the same model name on another provider', () => {
    const r = fallbackRecord({
      final_model: 'model_a',
      final_target: 'primary-azure',
      attempts: [attemptRecord({ target: 'primary-azure', provider: 'azure.ai.openai' })],
    });
    expect(recordFacts(r).fallbacksTo).toEqual(['primary-azure']);
    expect(recordFacts(r).finalProvider).toBe('azure.ai.openai');
  });

  it('counts every change of target, and none for retries on one target', () => {
    const r = fallbackRecord({
      fallback_used: false,
      final_model: 'model_a',
      final_target: 'primary',
      attempts: [attemptRecord({ outcome: 'error', errorKind: 'timeout' }), attemptRecord({ attempt: 2, targetAttempt: 2 })],
    });
    expect(recordFacts(r).fallbacksTo).toEqual([]);
  });
});

describe('usedTokens', () => {
  const { final_model: _m, final_target: _t, ...failed } = fallbackRecord({ outcome: 'failure', output_tokens: 0 });

  it("counts a success's tokens", () => {
    expect(usedTokens(fallbackRecord())).toEqual({ input: 1800, output: 420 });
    expect(recordFacts(fallbackRecord()).tokens).toEqual({ input: 1800, output: 420 });
  });

  it('counts none for a failure without an answer (input_tokens is the pre-call estimate)', () => {
    expect(usedTokens({ ...failed, attempts: [] })).toBeUndefined();
    expect(usedTokens({ ...failed, attempts: [attemptRecord({ outcome: 'error', errorKind: 'overloaded' })] })).toBeUndefined();
    expect(usedTokens({ ...failed, actual_cost: 0.01, attempts: [attemptRecord({ outcome: 'invalid_output' })] })).toBeUndefined();
    expect(recordFacts({ ...failed, attempts: [] }).tokens).toBeUndefined();
  });

  it('counts a broken-off stream only with the usage its adapter gave (the record then names the model that produced it)', () => {
    expect(usedTokens(failed)).toBeUndefined(); // last attempt succeeded, no usage given
    expect(usedTokens({ ...failed, final_model: 'model_a', output_tokens: 50 })).toEqual({ input: 1800, output: 50 });
    // Input billed before any output came (Anthropic's message_start reports it).
    expect(usedTokens({ ...failed, final_model: 'model_a', output_tokens: 0 })).toEqual({ input: 1800, output: 0 });
  });
});

describe('breakerStateValue', () => {
  it.each([
    ['closed', 0],
    ['half_open', 1],
    ['half-open', 1],
    ['open', 2],
    ['paused', 3],
    ['ramping', 4],
    ['weird', -1],
  ])('%s -> %d', (state, value) => {
    expect(breakerStateValue(state)).toBe(value);
  });
});

describe('reasonLabel', () => {
  it('keeps short codes and folds free text into "other"', () => {
    expect(reasonLabel('error_rate')).toBe('error_rate');
    expect(reasonLabel('p95_over_budget')).toBe('p95_over_budget');
    expect(reasonLabel('error rate 25% over 2m')).toBe('other');
    expect(reasonLabel(undefined)).toBe('unknown');
  });
});

describe('attemptErrorKind', () => {
  it('names the kind of a failed attempt and nothing for a success', () => {
    expect(attemptErrorKind({ outcome: 'success' })).toBeUndefined();
    expect(attemptErrorKind({ outcome: 'error', errorKind: 'timeout' })).toBe('timeout');
    expect(attemptErrorKind({ outcome: 'invalid_output' })).toBe('validation_failed');
    expect(attemptErrorKind({ outcome: 'error' })).toBe('unknown');
  });
});

/** A requeued chain (`onExhausted: 'queue'`) starting over at its first target is a new run, not a fallback. */
describe('fallbacks counted across a requeued chain', () => {
  it('never counts a "fallback" back to the primary', async () => {
    const registry = new Registry();
    const metrics = new PrometheusMetrics({ registry });
    const { engine, clock } = setup({}, { summary: { chain: ['a', 'b'], priority: 'batch', onExhausted: 'queue' } }, { metrics });
    const { fn, calls } = scripted({ a: [http(503), http(503), http(503), http(503), ok()], b: [http(503), http(503), http(503), http(503)] });
    const res = await drive(clock, engine.execute({ route: 'summary', inputTokens: 10 }, fn));
    expect(res.record.outcome).toBe('success');
    expect(res.record.final_target).toBe('a');
    expect(res.record.fallback_used).toBe(false);
    expect(calls.filter((c) => c === 'b').length).toBeGreaterThan(0); // the chain did move to b in its first run

    // Each run after a requeue wait starts with an attempt marked `requeued`.
    const restarts = res.record.attempts.filter((a) => a.requeued === true);
    expect(restarts.length).toBeGreaterThan(0);
    for (const a of restarts) expect(a.target).toBe('a');
    const counted = recordFacts(res.record).fallbacksTo;
    expect(counted.length).toBeGreaterThan(0); // the moves to b in each run are fallbacks
    expect(counted).not.toContain('a');
    const metric = (await registry.getSingleMetricAsString('llm_resilience_fallbacks_total'));
    expect(metric).not.toMatch(/target="a"/);
  });
});

/** A requeued run whose primary is skipped starts on a fallback: counted, as a request's first attempt is. */
describe('recordFacts: a requeued run starting on a non-primary target', () => {
  it('counts the requeued run\'s move to a fallback target when the primary was skipped', () => {
    const attempts = [
      attemptRecord({ attempt: 1, targetAttempt: 1, outcome: 'error', errorKind: 'rate_limited', status: 429 }),
      attemptRecord({ target: 'backup', model: 'model_b', attempt: 2, targetAttempt: 1, outcome: 'error', errorKind: 'rate_limited', status: 429 }),
      attemptRecord({ target: 'third', model: 'model_c', attempt: 3, targetAttempt: 1, outcome: 'error', errorKind: 'rate_limited', status: 429 }),
      // requeue wait; the primary is skipped (its Retry-After is longer), the new run starts on backup
      attemptRecord({ target: 'backup', model: 'model_b', attempt: 1, targetAttempt: 1, requeued: true }),
    ];
    const record = fallbackRecord({
      attempts,
      final_target: 'backup',
      final_model: 'model_b',
      skipped: [{ target: 'primary', reason: 'limited' }],
    });
    expect(recordFacts(record).fallbacksTo).toEqual(['backup', 'third', 'backup']);
  });

  it('counts it like the first attempt of a request whose primary is skipped', () => {
    const single = fallbackRecord({ attempts: [attemptRecord({ target: 'backup', model: 'model_b' })], final_target: 'backup', final_model: 'model_b' });
    expect(recordFacts(single).fallbacksTo).toEqual(['backup']);
    const requeued = fallbackRecord({
      attempts: [
        attemptRecord({ target: 'backup', model: 'model_b', outcome: 'error', errorKind: 'rate_limited', status: 429 }),
        attemptRecord({ target: 'third', model: 'model_c', attempt: 2, outcome: 'error', errorKind: 'rate_limited', status: 429 }),
        attemptRecord({ target: 'backup', model: 'model_b', attempt: 1, requeued: true }),
      ],
      final_target: 'backup',
      final_model: 'model_b',
    });
    // Run 1: primary skipped -> backup, then third; run 2: primary skipped -> backup again.
    expect(recordFacts(requeued).fallbacksTo).toEqual(['backup', 'third', 'backup']);
  });
});

/** The engine end to end: a 429 "Request too large" is the request's size, not load the library absorbed. */
describe('rate limits absorbed and a 429 the request can never pass', () => {
  const TOO_LARGE = http(429, {
    error: {
      message:
        'Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 1000, Requested 2000. The input or output tokens must be reduced in order to run successfully.',
      type: 'tokens',
      code: 'rate_limit_exceeded',
    },
  });

  it('counts an ordinary 429 served by the fallback but not a never-fits 429 served by the fallback', async () => {
    const registry = new Registry();
    const metrics = new PrometheusMetrics({ registry });
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'] } }, { metrics });

    const tooLarge = scripted({ a: [TOO_LARGE], b: [ok()] });
    const served = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, tooLarge.fn));
    expect(served.record.outcome).toBe('success');
    expect(served.record.final_target).toBe('b');
    expect(served.record.attempts[0]).toMatchObject({ target: 'a', errorKind: 'rate_limited', neverFits: true });
    expect(lines(await registry.metrics(), 'llm_resilience_rate_limits_absorbed_total')).toEqual([]);

    // An ordinary 429 (load) on the way to a success is absorbed, and counted.
    const loaded = scripted({ a: [http(429, {}, { 'retry-after': '3600' })], b: [ok()] });
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, loaded.fn));
    expect(res.record.outcome).toBe('success');
    expect(lines(await registry.metrics(), 'llm_resilience_rate_limits_absorbed_total')).toEqual([
      'llm_resilience_rate_limits_absorbed_total{route="chat",target="a",provider="openai"} 1',
    ]);
  });
});

function lines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}
