import { ResilienceError } from '../errors/ResilienceError';
import { drive, http, ok, scripted, setup } from './engineTestKit';

/** Wrong request fields and failing user callbacks: a clear error or a logged fallback, never a lost limit. */
describe('Resilience.execute with bad input', () => {
  const limits = [{ id: 'user-tpm', scope: ['user' as const], metric: 'totalTokens' as const, limit: 1_000, window: '1h' }];

  it('refuses a NaN token count or an object as identity before reserving or calling anything', async () => {
    const { engine, clock, records } = setup({ limits });
    const { calls, fn } = scripted({});
    const nan = await drive(clock, engine.execute({ route: 'chat', inputTokens: Number.NaN, identity: { user: 'u1' } }, fn)).catch((e: unknown) => e);
    expect(nan).toBeInstanceOf(ResilienceError);
    expect((nan as ResilienceError).code).toBe('ERR_LLMR_INVALID_REQUEST');
    expect((nan as ResilienceError).message).toBe('request.inputTokens: expected a finite number >= 0, got NaN.');
    const user = { id: 'u1', email: 'jane@example.com' };
    const obj = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, identity: { user } as never }, fn)).catch((e: unknown) => e);
    expect((obj as ResilienceError).message).toBe('request.identity.user: expected a string, got object.');
    expect(calls).toEqual([]);
    expect(records).toEqual([]);
  });

  it('refuses a data class or request id that is not a string, which would be copied into the record', async () => {
    const { engine, clock, records } = setup({ limits });
    const { calls, fn } = scripted({});
    const doc = { title: 'Board minutes', body: 'confidential' };
    const dc = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, dataClass: doc as never }, fn)).catch((e: unknown) => e);
    expect(dc).toBeInstanceOf(ResilienceError);
    expect((dc as ResilienceError).code).toBe('ERR_LLMR_INVALID_REQUEST');
    expect((dc as ResilienceError).message).toBe('request.dataClass: expected the name of a data class (a string), got object.');
    const id = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, requestId: 42 as never }, fn)).catch((e: unknown) => e);
    expect((id as ResilienceError).message).toBe('request.requestId: expected a string, got 42.');
    expect(calls).toEqual([]);
    expect(records).toEqual([]);
  });

  it('counts with the heuristic when the tokenizer answers NaN or throws, and says so once', async () => {
    for (const count of [() => Number.NaN, () => -5, (): number => { throw new Error('vocab missing'); }]) {
      const warnings: string[] = [];
      const { engine, clock } = setup({ limits }, undefined, { tokenizer: { count }, logger: { warn: (m) => warnings.push(m) } });
      const input = { messages: [{ role: 'user', content: 'Where is my order #1234? It has not arrived.' }] };
      // A reply without usage: the record keeps the estimate.
      const { fn } = scripted({ a: [{ choices: [{ message: { content: 'on its way' } }] }] });
      const first = await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u1' }, input, maxOutputTokens: 100 }, fn));
      await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u1' }, input, maxOutputTokens: 100 }, fn));
      expect(first.record.input_tokens).toBeGreaterThan(10);
      expect(Number.isFinite(first.record.input_tokens)).toBe(true);
      expect(warnings).toEqual(['the tokenizer failed or returned an invalid count; the heuristic estimate is used instead']);
    }
  });

  it('a usage extractor that throws does not turn a successful call into a failure: one call, the estimate charged', async () => {
    const warnings: Array<Record<string, unknown> | undefined> = [];
    const usage = () => {
      throw new TypeError("Cannot read properties of undefined (reading 'prompt_tokens')");
    };
    const { engine, clock } = setup({ limits }, undefined, { usage, logger: { warn: (_m, f) => warnings.push(f) } });
    const { calls, fn } = scripted({});
    for (let i = 0; i < 3; i++) {
      const res = await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u1' }, inputTokens: 100, maxOutputTokens: 50 }, fn));
      expect(res.record.outcome).toBe('success');
      expect(res.record.output_tokens).toBe(50);
      expect(res.record.breakers.a).toBe('closed');
    }
    expect(calls).toEqual(['a', 'a', 'a']);
    expect(warnings).toHaveLength(1);
    // Quoted text of 4 characters or more is cut (it may be the reply: JSON.parse quotes it), property names included.
    expect(warnings[0]?.problem).toBe("TypeError: Cannot read properties of undefined (reading '[13 chars]')");
  });

  it('a usage extractor that returns a promise (even a rejected one) charges the estimate and leaves no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const { engine, clock } = setup({}, undefined, { usage: (() => Promise.reject(new Error('async extractor'))) as never });
      const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 100, maxOutputTokens: 50 }, scripted({}).fn));
      expect(res.record.output_tokens).toBe(50);
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a logger that throws hides nothing: a 401 still falls back as an auth error', async () => {
    const { engine, clock } = setup({}, undefined, {
      logger: {
        error: () => {
          throw new Error('log transport down');
        },
      },
    });
    const { calls, fn } = scripted({ a: [http(401, { error: { message: 'Incorrect API key provided' } })], b: [ok()] });
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a', 'b']);
    expect(res.record.final_target).toBe('b');
    expect(res.record.attempts[0]?.errorKind).toBe('auth');
  });

  it('keeps backoff sane when the injected random source answers out of [0, 1) or throws', async () => {
    for (const random of [() => Number.NaN, () => 1e9, () => -5, (): number => { throw new Error('entropy'); }]) {
      const { engine, clock } = setup({}, { chat: { chain: ['a'] } }, { random });
      const { fn } = scripted({ a: [http(503), ok()] });
      const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
      const waited = res.record.attempts[1]?.waitedMs;
      expect(Number.isFinite(waited)).toBe(true);
      expect(waited).toBeGreaterThanOrEqual(0);
      expect(waited).toBeLessThanOrEqual(30_000);
    }
  });
});
