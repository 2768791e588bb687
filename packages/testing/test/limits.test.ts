import { post, rejection, startFake, userMessage, type Started } from './support';

/** A clock that moves only when told (the core's ManualClock fits the same slot). */
class TestClock {
  constructor(public t = 0) {}
  now(): number {
    return this.t;
  }
}

const body = (model: string, content = 'hi', extra: Record<string, unknown> = {}) => ({ model, messages: userMessage(content), ...extra });

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  if (!cond()) throw new Error('condition not reached');
}

describe('OpenAI-style limits (fixed windows)', () => {
  let s: Started;
  const clock = new TestClock(1_700_000_000_000);
  beforeAll(async () => {
    s = await startFake(
      {
        models: {
          'rpm-2': { contextWindow: 10_000, limits: { rpm: 2, tpm: 1_000 } },
          tpm: { contextWindow: 10_000, limits: { tpm: 100 } },
          'rpd-1': { contextWindow: 10_000, limits: { rpd: 1 } },
          'fails': { contextWindow: 10_000, limits: { tpm: 100 } },
          otpm: { contextWindow: 10_000, replyTokens: 16, limits: { otpm: 30 } },
          'rpm-1-tpm-100': { contextWindow: 10_000, limits: { rpm: 1, tpm: 100 } },
          small: { contextWindow: 100, maxOutputTokens: 50, limits: { rpm: 10, tpm: 1_000 } },
        },
        faults: [{ model: 'fails', kind: 'server_error_500' }],
      },
      { clock },
    );
  });
  afterAll(() => s.fake.stop());
  beforeEach(() => {
    clock.t = 1_700_000_000_000;
    s.fake.reset();
  });

  it('sends x-ratelimit-* on success, then a 429 with retry-after, retry-after-ms and the reset in OpenAI format', async () => {
    const url = `${s.baseURL}/chat/completions`;
    const first = await post(url, body('rpm-2', 'abcd', { max_tokens: 10 }));
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(first.headers.get('x-ratelimit-reset-requests')).toBe('1m0s');
    expect(first.headers.get('x-ratelimit-limit-tokens')).toBe('1000');
    expect(first.headers.get('x-ratelimit-remaining-tokens')).toBe(String(1000 - 1 - 10));
    clock.t += 15_500;
    expect((await post(url, body('rpm-2'))).status).toBe(200);
    const third = await post(url, body('rpm-2'));
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('45');
    expect(third.headers.get('retry-after-ms')).toBe('44500');
    expect(third.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(third.headers.get('x-ratelimit-reset-requests')).toBe('44.5s');
    expect(third.json()).toEqual({
      error: {
        message: 'Rate limit reached for rpm-2 in organization org-fake on requests per min (RPM): Limit 2, Used 2, Requested 1. Please try again in 44.5s.',
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });
    clock.t += 44_500;
    expect((await post(url, body('rpm-2'))).status).toBe(200);
    expect(s.fake.counters).toMatchObject({ rateLimited: 1, responsesByStatus: { '200': 3, '429': 1 }, requestsByModel: { 'rpm-2': 4 } });
  });

  it('surfaces as the SDK RateLimitError with the headers attached', async () => {
    await s.openai.chat.completions.create(body('rpm-2') as never);
    await s.openai.chat.completions.create(body('rpm-2') as never);
    const err = (await rejection(s.openai.chat.completions.create(body('rpm-2') as never))) as { status: number; constructor: { name: string }; headers: Headers };
    expect(err.constructor.name).toBe('RateLimitError');
    expect(err.status).toBe(429);
    expect(err.headers.get('retry-after-ms')).toBe('60000');
  });

  it('counts input (chars/4) + max_tokens toward TPM when the request arrives', async () => {
    const url = `${s.baseURL}/chat/completions`;
    const r1 = await post(url, body('tpm', 'x'.repeat(80), { max_tokens: 30 }));
    expect(r1.headers.get('x-ratelimit-remaining-tokens')).toBe('50');
    const r2 = await post(url, body('tpm', 'x'.repeat(80), { max_tokens: 40 }));
    expect(r2.status).toBe(429);
    expect((r2.json() as { error: { type: string; message: string } }).error).toMatchObject({ type: 'tokens', message: expect.stringContaining('tokens per min (TPM): Limit 100, Used 50, Requested 60') });
    expect((await post(url, body('tpm', 'x'.repeat(80), { max_tokens: 30 }))).status).toBe(200);
  });

  it('refuses a request larger than TPM with no retry hint', async () => {
    const r = await post(`${s.baseURL}/chat/completions`, body('tpm', 'x'.repeat(400), { max_tokens: 10 }));
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBeNull();
    expect(r.text).toMatch(/Request too large for tpm/);
  });

  it('says "Request too large" (no retry hint) for a request over TPM even while RPM is used up too', async () => {
    const url = `${s.baseURL}/chat/completions`;
    expect((await post(url, body('rpm-1-tpm-100', 'hi', { max_tokens: 10 }))).status).toBe(200);
    const r = await post(url, body('rpm-1-tpm-100', 'hi', { max_tokens: 500 }));
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBeNull();
    expect((r.json() as { error: unknown }).error).toEqual({
      message: 'Request too large for rpm-1-tpm-100 in organization org-fake on tokens per min (TPM): Limit 100, Requested 501. The input or output tokens must be reduced in order to run successfully.',
      type: 'tokens',
      param: null,
      code: 'rate_limit_exceeded',
    });
  });

  it('counts failed requests', async () => {
    const url = `${s.baseURL}/chat/completions`;
    const failed = await post(url, body('fails', 'x'.repeat(200), { max_tokens: 30 }));
    expect(failed.status).toBe(500);
    expect(failed.headers.get('x-ratelimit-remaining-tokens')).toBe('20');
    expect((await post(url, body('fails', 'x'.repeat(200), { max_tokens: 30 }))).status).toBe(429);
  });

  it('enforces OTPM on requests without max_tokens: their real output is charged, and a used-up window refuses', async () => {
    const url = `${s.baseURL}/chat/completions`;
    const first = await post(url, body('otpm', 'one'));
    const second = await post(url, body('otpm', 'two'));
    expect([first.status, second.status]).toEqual([200, 200]);
    const used = [first, second].reduce((n, r) => n + (r.json() as { usage: { completion_tokens: number } }).usage.completion_tokens, 0);
    expect(used).toBeGreaterThanOrEqual(30);
    clock.t += 20_000;
    const refused = await post(url, body('otpm', 'three'));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after-ms')).toBe('40000');
    expect(refused.text).toContain(`output tokens per min (OTPM): Limit 30, Used ${used}, Requested 0.`);
    clock.t += 40_000;
    expect((await post(url, body('otpm', 'three'))).status).toBe(200);
  });

  it('sends x-ratelimit-* on the 400s for the context window and for max_tokens above maxOutputTokens, charging nothing', async () => {
    const tooLong = (await rejection(s.openai.chat.completions.create(body('small', 'x'.repeat(800)) as never))) as { status: number; code: string; headers: Headers };
    expect(tooLong.status).toBe(400);
    expect(tooLong.code).toBe('context_length_exceeded');
    const overMax = (await rejection(s.openai.chat.completions.create(body('small', 'hi', { max_tokens: 60 }) as never))) as { status: number; param: string; headers: Headers };
    expect(overMax.status).toBe(400);
    expect(overMax.param).toBe('max_tokens');
    for (const { headers } of [tooLong, overMax]) {
      expect(headers.get('x-ratelimit-limit-requests')).toBe('10');
      expect(headers.get('x-ratelimit-remaining-requests')).toBe('10');
      expect(headers.get('x-ratelimit-limit-tokens')).toBe('1000');
      expect(headers.get('x-ratelimit-remaining-tokens')).toBe('1000');
    }
    // The same on the Anthropic endpoint, in its header style.
    const anthropic400 = await post(`${s.url}/v1/messages`, { model: 'small', max_tokens: 60, messages: userMessage('hi') });
    expect(anthropic400.status).toBe(400);
    expect(anthropic400.headers.get('anthropic-ratelimit-requests-limit')).toBe('10');
    expect(anthropic400.headers.get('anthropic-ratelimit-requests-remaining')).toBe('10');
    const ok = await post(`${s.baseURL}/chat/completions`, body('small', 'hi', { max_tokens: 10 }));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-ratelimit-remaining-requests')).toBe('9');
  });

  it('enforces RPD over a day window', async () => {
    const url = `${s.baseURL}/chat/completions`;
    expect((await post(url, body('rpd-1'))).status).toBe(200);
    clock.t += 3_600_000;
    const r = await post(url, body('rpd-1'));
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe(String(23 * 3600));
    expect(r.text).toMatch(/requests per day \(RPD\)/);
    clock.t += 23 * 3_600_000;
    expect((await post(url, body('rpd-1'))).status).toBe(200);
  });
});

describe('Anthropic-style limits (continuous replenishment)', () => {
  let s: Started;
  const clock = new TestClock(0);
  beforeAll(async () => {
    s = await startFake(
      {
        models: {
          claude: { provider: 'anthropic', contextWindow: 10_000, limits: { rpm: 60, itpm: 1_000, otpm: 600 } },
          'claude-500': { provider: 'anthropic', contextWindow: 10_000, limits: { otpm: 1_000 } },
          'claude-hang': { provider: 'anthropic', contextWindow: 10_000, limits: { otpm: 1_000, concurrency: 1 } },
          'claude-otpm': { provider: 'anthropic', contextWindow: 10_000, replyTokens: 16, limits: { otpm: 30 } },
          'claude-rpd': { provider: 'anthropic', contextWindow: 10_000, replyTokens: 4, limits: { otpm: 100, rpd: 3 } },
          'claude-rpm-1': { provider: 'anthropic', contextWindow: 10_000, limits: { rpm: 1, otpm: 100 } },
          'claude-rpm-3': { provider: 'anthropic', contextWindow: 10_000, limits: { rpm: 3 } },
        },
        faults: [
          { model: 'claude-500', kind: 'server_error_500', count: 1 },
          { model: 'claude-hang', kind: 'hang', count: 1 },
        ],
      },
      { clock },
    );
  });
  afterAll(() => s.fake.stop());
  beforeEach(() => {
    clock.t = 0;
    s.fake.reset();
  });

  const ask = (maxTokens = 10, content = 'hi') => post(`${s.url}/v1/messages`, { model: 'claude', max_tokens: maxTokens, messages: userMessage(content) });

  it('says the request alone is larger than OTPM (no retry hint) even while RPM is used up too', async () => {
    const askRpm1 = (maxTokens: number) => post(`${s.url}/v1/messages`, { model: 'claude-rpm-1', max_tokens: maxTokens, messages: userMessage('hi') });
    expect((await askRpm1(10)).status).toBe(200);
    const r = await askRpm1(500);
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBeNull();
    expect(r.json()).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error', message: 'This request would exceed the rate limit for your organization of 100 output tokens per minute for claude-rpm-1. This request alone is larger than the limit; reduce the prompt or max_tokens.' },
    });
  });

  it('refills one request per second at 60 RPM and says so in RFC 3339 headers', async () => {
    for (let i = 0; i < 60; i++) expect((await ask(1)).status).toBe(200);
    const refused = await ask(1);
    expect(refused.status).toBe(429);
    expect(refused.json()).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('retry-after-ms')).toBe('1000');
    expect(refused.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
    expect(refused.headers.get('anthropic-ratelimit-requests-reset')).toBe('1970-01-01T00:01:00Z');
    clock.t = 1_000;
    const ok = await ask(1);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
    clock.t = 31_000;
    expect((await ask(1)).headers.get('anthropic-ratelimit-requests-remaining')).toBe('29');
  });

  it('admits the request sent at the retry-after-ms of the last 429, after several refusals rolled the bucket', async () => {
    const askRpm3 = () => s.openai.chat.completions.create({ model: 'claude-rpm-3', messages: userMessage('hi') });
    for (let i = 0; i < 3; i++) await askRpm3();
    let hint = 0;
    for (const t of [217, 4_408, 7_490]) {
      clock.t = t;
      const err = (await rejection(askRpm3())) as { constructor: { name: string }; headers: Headers };
      expect(err.constructor.name).toBe('RateLimitError');
      hint = Number(err.headers.get('retry-after-ms'));
    }
    expect(hint).toBe(12_510); // 3 RPM refill one request every 20 s: back at t = 20 000
    clock.t = 7_490 + hint;
    const r = await askRpm3();
    expect(r.choices[0]!.message.content).toMatch(/^\[claude-rpm-3\] reply to /);
  });

  it('reserves max_tokens against OTPM and refunds what the reply did not use', async () => {
    const first = await ask(500);
    expect(first.status).toBe(200);
    expect(first.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe('100');
    const used = (first.json() as { usage: { output_tokens: number } }).usage.output_tokens;
    const second = await ask(10);
    expect(second.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe(String(600 - used - 10));
    expect(second.headers.get('anthropic-ratelimit-tokens-remaining')).toBe(String(600 - used - 10));
  });

  it('keeps the max_tokens reservation of a request that failed with a 500', async () => {
    const failed = await post(`${s.url}/v1/messages`, { model: 'claude-500', max_tokens: 500, messages: userMessage('x') });
    expect(failed.status).toBe(500);
    const next = await post(`${s.url}/v1/messages`, { model: 'claude-500', max_tokens: 1, messages: userMessage('x') });
    expect(next.status).toBe(200);
    expect(next.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe(String(1_000 - 500 - 1));
  });

  it('keeps the max_tokens reservation of a request whose client went away', async () => {
    const url = `${s.url}/v1/messages`;
    const abort = new AbortController();
    const hanging = fetch(url, { method: 'POST', body: JSON.stringify({ model: 'claude-hang', max_tokens: 400, messages: userMessage('x') }), signal: abort.signal }).catch((e: unknown) => e);
    await until(() => s.fake.counters.faults.hang === 1);
    abort.abort();
    await hanging;
    // concurrency 1: the next request passes once the abandoned one has been settled
    let next = await post(url, { model: 'claude-hang', max_tokens: 1, messages: userMessage('x') });
    for (let i = 0; i < 500 && next.status === 429; i++) {
      await new Promise((r) => setTimeout(r, 2));
      next = await post(url, { model: 'claude-hang', max_tokens: 1, messages: userMessage('x') });
    }
    expect(next.status).toBe(200);
    expect(next.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe(String(1_000 - 400 - 1));
  });

  it('enforces OTPM on requests without max_tokens (OpenAI endpoint) until the bucket refills', async () => {
    const url = `${s.baseURL}/chat/completions`;
    const first = await post(url, body('claude-otpm', 'one'));
    const second = await post(url, body('claude-otpm', 'two'));
    expect([first.status, second.status]).toEqual([200, 200]);
    const used = [first, second].reduce((n, r) => n + (r.json() as { usage: { completion_tokens: number } }).usage.completion_tokens, 0);
    const refused = await post(url, body('claude-otpm', 'three'));
    expect(refused.status).toBe(429);
    // 30 per minute = one token every 2 s; the bucket is at 30 - used and needs one token
    const waitMs = (used - 30 + 1) * 2_000;
    expect(refused.headers.get('retry-after-ms')).toBe(String(waitMs));
    clock.t += waitMs;
    expect((await post(url, body('claude-otpm', 'three'))).status).toBe(200);
  });

  it('does not charge requests refused on OTPM to the daily quota (RPD)', async () => {
    const askRpd = async () => (await post(`${s.url}/v1/messages`, { model: 'claude-rpd', max_tokens: 100, messages: userMessage('hi') })).status;
    // The first reserves 100 OTPM and gets back what its short reply did not use (its tag alone is longer
    // than replyTokens 4: 8 tokens): 92 left, so at the
    // same instant the next two (100 each) are refused on OTPM.
    expect(await askRpd()).toBe(200);
    expect(await askRpd()).toBe(429);
    expect(await askRpd()).toBe(429);
    // Same day, OTPM bucket full again: only one request of the day was admitted, so two more pass.
    clock.t += 60_000;
    expect(await askRpd()).toBe(200);
    clock.t += 60_000;
    expect(await askRpd()).toBe(200);
    clock.t += 60_000;
    const refused = await post(`${s.url}/v1/messages`, { model: 'claude-rpd', max_tokens: 100, messages: userMessage('hi') });
    expect(refused.status).toBe(429);
    expect(refused.text).toMatch(/3 requests per day for claude-rpd/);
  });

  it('refuses over ITPM with a retry hint sized to the missing tokens', async () => {
    expect((await ask(1, 'x'.repeat(3_600))).status).toBe(200);
    const r = await ask(1, 'x'.repeat(800));
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after-ms')).toBe(String(Math.ceil(((200 - 100) * 60_000) / 1_000)));
    expect(r.headers.get('anthropic-ratelimit-input-tokens-remaining')).toBe('100');
  });
});

describe('concurrency', () => {
  it('refuses requests above the in-flight limit until one ends', async () => {
    const s = await startFake({ models: { m: { contextWindow: 1_000, limits: { concurrency: 1 } } }, faults: [{ model: 'm', kind: 'hang', count: 1 }] });
    try {
      const url = `${s.baseURL}/chat/completions`;
      const abort = new AbortController();
      const hanging = fetch(url, { method: 'POST', body: JSON.stringify(body('m')), signal: abort.signal }).catch((e: unknown) => e);
      await until(() => s.fake.counters.requests === 1);
      const refused = await post(url, body('m'));
      expect(refused.status).toBe(429);
      expect(refused.text).toMatch(/Too many concurrent requests/);
      abort.abort();
      await hanging;
      await until(() => s.fake.counters.faults.hang === 1);
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) status = (await post(url, body('m'))).status;
      expect(status).toBe(200);
    } finally {
      await s.fake.stop();
    }
  });

  it('frees the slot when a streaming client goes away midway', async () => {
    // 400 tokens at 10 ms each: the stream would last 4 s if the client stayed
    const s = await startFake({ models: { m: { contextWindow: 10_000, replyTokens: 400, limits: { concurrency: 1 }, latency: { perTokenMs: 10 } } } });
    try {
      const abort = new AbortController();
      const stream = await s.openai.chat.completions.create({ model: 'm', messages: userMessage('long'), stream: true }, { signal: abort.signal });
      await stream[Symbol.asyncIterator]().next();
      const short = body('m', 'next', { max_tokens: 1 });
      expect((await post(`${s.baseURL}/chat/completions`, short)).status).toBe(429);
      abort.abort();
      let status = 429;
      for (let i = 0; i < 500 && status === 429; i++) {
        await new Promise((r) => setTimeout(r, 2));
        status = (await post(`${s.baseURL}/chat/completions`, short)).status;
      }
      expect(status).toBe(200);
    } finally {
      await s.fake.stop();
    }
  });
});
