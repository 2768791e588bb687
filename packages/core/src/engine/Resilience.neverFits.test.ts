import { ChainExhaustedError } from '../errors/ChainExhaustedError';
import { httpErrorOf } from '../errors/httpErrorOf';
import { drive, http, scripted, setup } from './engineTestKit';

const TOO_LARGE = http(429, {
  error: {
    message:
      'Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 1000, Requested 2000. The input or output tokens must be reduced in order to run successfully.',
    type: 'tokens',
    code: 'rate_limit_exceeded',
  },
});

describe('a 429 "Request too large" (retryAfterMs Infinity) in a chain', () => {
  it('answers 503 (not 413 "shorten it") when an earlier target of the chain only failed with a 503', async () => {
    // 413 without Retry-After only when every target tried said "Request too large": a was merely
    // overloaded, so the exhausted chain is a 503 (retry later), not "shorten it".
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'] } });
    const { fn, calls } = scripted({ a: [http(503)], b: [TOO_LARGE] });
    const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(calls).toContain('a');
    expect(calls).toContain('b');
    expect(httpErrorOf(err)?.status).toBe(503);
    expect((err as ChainExhaustedError).userMessage).not.toBe('This request is too long for us to process. Please shorten it and try again.');
  });

  it('is not requeued until maxWait when the only other target can never be called (ineligible) either', async () => {
    // a answered "Request too large" and b can never take the request (its data class): no later run
    // can succeed, so the error is thrown at once instead of requeueing until maxWait.
    const { engine, clock } = setup({}, { bulk: { chain: ['a', 'b'], priority: 'batch', onExhausted: 'queue' } });
    const { fn, calls } = scripted({ a: [TOO_LARGE] });
    const t0 = clock.now();
    const err = await drive(clock, engine.execute({ route: 'bulk', dataClass: 'internal', inputTokens: 10 }, fn)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(calls).toEqual(['a']);
    expect((err as ChainExhaustedError).record.queue_wait_ms).toBe(0);
    expect(clock.now() - t0).toBe(0);
  });

  it("does not drain the provider's retry budget (ordinary 503s of other requests are still retried)", async () => {
    // A 429 the request can never pass is its own fault (like context_length): eleven of them must not
    // use up the provider's retry budget (20 tokens) and stop the next request's 503 from being retried.
    const { engine, clock } = setup({}, { chat: { chain: ['a'] } });
    const big = scripted({ a: [TOO_LARGE] });
    for (let k = 0; k < 11; k++) await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, big.fn)).catch(() => undefined);
    const normal = scripted({ a: [http(503), { choices: [{ message: { content: 'ok' } }], usage: { prompt_tokens: 10, completion_tokens: 5 } }] });
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, normal.fn)).catch((e: unknown) => e);
    expect(normal.calls).toEqual(['a', 'a']);
    expect((res as { record: { outcome: string } }).record.outcome).toBe('success');
  });

  it('records "never" as neverFits, which survives JSON (Infinity would become null)', async () => {
    // Records are logged as JSON, where Infinity becomes null ("no hint").
    const { engine, clock, records } = setup({}, { chat: { chain: ['a'] } });
    const { fn } = scripted({ a: [TOO_LARGE] });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn)).catch(() => undefined);
    const parsed = JSON.parse(JSON.stringify(records[0])) as { attempts: Array<Record<string, unknown>> };
    expect(parsed.attempts[0]).toMatchObject({ errorKind: 'rate_limited', neverFits: true });
    expect(parsed.attempts[0]).not.toHaveProperty('retryAfterMs');
  });
});
