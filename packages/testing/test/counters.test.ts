import { estimateTokens } from '../src';
import { post, startFake, userMessage, type Started } from './support';

let s: Started;

beforeAll(async () => {
  s = await startFake({
    models: {
      a: { contextWindow: 1_000, limits: { rpm: 2 }, replyTokens: 8 },
      b: { contextWindow: 1_000, provider: 'anthropic', replyTokens: 8 },
    },
    faults: [{ model: 'b', kind: 'connection_reset', count: 1 }],
  });
});
afterAll(() => s.fake.stop());

describe('counters', () => {
  it('record what reached the provider: per model, per status, 429s, tokens, resets, cuts, stream errors, faults', async () => {
    const ok = await s.openai.chat.completions.create({ model: 'a', messages: userMessage('one') });
    await s.openai.chat.completions.create({ model: 'a', messages: userMessage('two') });
    await post(`${s.baseURL}/chat/completions`, { model: 'a', messages: userMessage('three') }); // 429 (rpm 2)
    await post(`${s.baseURL}/chat/completions`, { model: 'nope', messages: userMessage('x') }); // 404
    await s.anthropic.messages.create({ model: 'b', max_tokens: 50, messages: userMessage('four') }).catch(() => undefined); // reset
    const msg = await s.anthropic.messages.create({ model: 'b', max_tokens: 50, messages: userMessage('five') });
    s.fake.addFault({ model: 'b', kind: 'stream_cut', count: 1 });
    const stream = await s.anthropic.messages.create({ model: 'b', max_tokens: 50, messages: userMessage('six'), stream: true });
    await (async () => {
      for await (const _ of stream) void _;
    })().catch(() => undefined);
    s.fake.addFault({ model: 'b', kind: 'stream_error', count: 1 });
    const failing = await s.anthropic.messages.create({ model: 'b', max_tokens: 50, messages: userMessage('seven'), stream: true });
    await (async () => {
      for await (const _ of failing) void _;
    })().catch(() => undefined);

    const outA = ok.usage!.completion_tokens;
    const outB = msg.usage.output_tokens;
    expect(s.fake.counters).toEqual({
      requests: 8,
      requestsByModel: { a: 3, nope: 1, b: 4 },
      responsesByStatus: { '200': 5, '429': 1, '404': 1 },
      rateLimited: 1,
      tokensIn: estimateTokens('one') + estimateTokens('two') + estimateTokens('five'),
      tokensOut: 2 * outA + outB,
      tokensByModel: { a: { input: 2, output: 2 * outA }, b: { input: estimateTokens('five'), output: outB } },
      connectionResets: 1,
      streamsCut: 1,
      streamErrors: 1,
      faults: { connection_reset: 1, stream_cut: 1, stream_error: 1 },
    });
  });
});

describe('model names that are Object.prototype members', () => {
  it('count "__proto__" and "constructor" like any name, without touching Object.prototype', async () => {
    const t = await startFake({ models: {}, defaultModel: { contextWindow: 1_000, replyTokens: 8 } });
    try {
      for (const model of ['__proto__', 'constructor', 'toString']) {
        const r = await post(`${t.baseURL}/chat/completions`, { model, messages: userMessage('hi') });
        expect(r.status).toBe(200);
      }
      const c = t.fake.counters;
      expect(Object.entries(c.requestsByModel)).toEqual([['__proto__', 1], ['constructor', 1], ['toString', 1]]);
      expect(Object.getPrototypeOf(c.requestsByModel)).toBe(Object.prototype);
      const tokens = Object.entries(c.tokensByModel);
      expect(tokens.map(([model]) => model)).toEqual(['__proto__', 'constructor', 'toString']);
      for (const [, t2] of tokens) expect(t2).toEqual({ input: estimateTokens('hi'), output: expect.any(Number) });
      expect(c.tokensIn).toBe(3 * estimateTokens('hi'));
      expect(Object.prototype).not.toHaveProperty('input');
      expect(Object.prototype).not.toHaveProperty('output');
      expect(typeof Object.prototype.constructor).toBe('function');
    } finally {
      await t.fake.stop();
      delete (Object.prototype as Record<string, unknown>).input;
      delete (Object.prototype as Record<string, unknown>).output;
    }
  });

  it('are refused with a 404 when no defaultModel is set, not served from Object.prototype', async () => {
    const t = await startFake({ models: { a: { contextWindow: 1_000 } } });
    try {
      for (const model of ['__proto__', 'constructor']) expect((await post(`${t.baseURL}/chat/completions`, { model, messages: userMessage('hi') })).status).toBe(404);
      expect(t.fake.counters.requestsByModel).toEqual({ constructor: 1, ...Object.fromEntries([['__proto__', 1]]) });
    } finally {
      await t.fake.stop();
    }
  });
});

describe('latency', () => {
  it('waits firstTokenMs (+ jitter) before answering', async () => {
    const t = await startFake({ models: { slow: { contextWindow: 1_000, latency: { firstTokenMs: 30, jitterMs: 10, perTokenMs: 0 } } } });
    try {
      const started = Date.now();
      await t.openai.chat.completions.create({ model: 'slow', messages: userMessage('x') });
      expect(Date.now() - started).toBeGreaterThanOrEqual(28);
    } finally {
      await t.fake.stop();
    }
  });

  it('streams the first token after the sampled delay and the rest at perTokenMs', async () => {
    const t = await startFake({ models: { dist: { contextWindow: 1_000, replyTokens: 10, latency: { distribution: { p50: 20, p95: 30 }, perTokenMs: 1 } } } });
    try {
      const started = Date.now();
      let first = 0;
      for await (const chunk of await t.openai.chat.completions.create({ model: 'dist', messages: userMessage('x'), stream: true })) {
        if (!first && chunk.choices[0]?.delta.content) first = Date.now() - started;
      }
      expect(first).toBeGreaterThanOrEqual(8);
      expect(Date.now() - started).toBeGreaterThanOrEqual(first);
    } finally {
      await t.fake.stop();
    }
  });
});
