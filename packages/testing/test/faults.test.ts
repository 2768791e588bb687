import { FAULT_KINDS, type FaultKind, type FaultRule } from '../src';
import { post, startFake, userMessage, type Started } from './support';

let s: Started;
const clock = { t: 0, now() { return this.t; } };

beforeAll(async () => {
  s = await startFake(
    {
      models: {
        a: { contextWindow: 8_000, limits: { rpm: 100, tpm: 100_000 }, replyTokens: 24 },
        b: { contextWindow: 8_000, provider: 'anthropic', limits: { rpm: 100 } },
      },
    },
    { clock },
  );
});
afterAll(() => s.fake.stop());
beforeEach(() => {
  clock.t = 0;
  s.fake.reset();
  s.fake.setFaults([]);
});

const chat = (extra: Record<string, unknown> = {}, signal?: AbortSignal) =>
  fetch(`${s.baseURL}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'a', messages: userMessage('hello fault'), ...extra }), ...(signal ? { signal } : {}) });

const messages = (extra: Record<string, unknown> = {}) => post(`${s.url}/v1/messages`, { model: 'b', max_tokens: 100, messages: userMessage('hello fault'), ...extra });

async function readAll(res: Response): Promise<string> {
  return await res.text();
}

/** What each fault does on the OpenAI endpoint, as seen by a plain fetch. */
const OPENAI_CHECKS: Record<FaultKind, { rule?: Partial<FaultRule>; check: () => Promise<void> }> = {
  rate_limit: {
    rule: { retryAfterSeconds: 2 },
    check: async () => {
      const r = await chat();
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('2');
      expect(r.headers.get('retry-after-ms')).toBe('2000');
      expect(r.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(r.headers.get('x-ratelimit-reset-requests')).toBe('2s');
      expect(r.headers.get('x-ratelimit-limit-requests')).toBe('100');
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
    },
  },
  rate_limit_no_hint: {
    check: async () => {
      const r = await chat();
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBeNull();
      expect(r.headers.get('retry-after-ms')).toBeNull();
      expect([...r.headers.keys()].filter((k) => k.startsWith('x-ratelimit'))).toEqual([]);
      expect(await r.json()).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
    },
  },
  overloaded_503: {
    check: async () => {
      const r = await chat();
      expect(r.status).toBe(503);
      expect(await r.json()).toMatchObject({ error: { type: 'server_error' } });
    },
  },
  overloaded_529: {
    check: async () => {
      const r = await chat();
      expect(r.status).toBe(529);
      expect(await r.json()).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    },
  },
  server_error_500: {
    check: async () => {
      const r = await chat();
      expect(r.status).toBe(500);
      expect(await r.json()).toMatchObject({ error: { type: 'server_error', code: null } });
    },
  },
  timeout: {
    rule: { delayMs: 40 },
    check: async () => {
      const started = Date.now();
      const r = await chat();
      expect(r.status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(35);
    },
  },
  hang: {
    check: async () => {
      const err = await chat({}, AbortSignal.timeout(40)).catch((e: unknown) => e);
      expect((err as Error).name).toBe('TimeoutError');
    },
  },
  connection_reset: {
    check: async () => {
      const err = (await chat().catch((e: unknown) => e)) as Error & { cause?: { code?: string } };
      expect(err.name).toBe('TypeError'); // fetch's TypeError lives in another realm under jest
      expect(err.message).toBe('fetch failed');
      expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(err.cause?.code);
      expect(s.fake.counters.connectionResets).toBe(1);
    },
  },
  stream_cut: {
    rule: { afterChunks: 3 },
    check: async () => {
      const r = await chat({ stream: true });
      expect(r.status).toBe(200);
      const reader = r.body!.getReader();
      let received = '';
      const err = await (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return undefined;
          received += Buffer.from(value).toString();
        }
      })().catch((e: unknown) => e);
      expect((err as Error).message).toBe('terminated');
      expect(received.match(/"content":"[^"]+"/g)).toHaveLength(3);
      expect(received).not.toContain('[DONE]');
      const plain = await chat();
      await expect(readAll(plain)).rejects.toThrow('terminated');
      expect(s.fake.counters.streamsCut).toBe(2);
    },
  },
  malformed_json: {
    check: async () => {
      const r = await chat();
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/json');
      const text = await r.text();
      expect(text.startsWith('{"id":"chatcmpl-')).toBe(true);
      expect(() => JSON.parse(text)).toThrow(SyntaxError);
      const st = await readAll(await chat({ stream: true }));
      expect(st).toMatch(/^data: \{"id"/);
      expect(st).toContain('"content":"bro\n\n');
    },
  },
  context_length: {
    check: async () => {
      const r = await chat();
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ error: { code: 'context_length_exceeded', type: 'invalid_request_error' } });
    },
  },
  insufficient_quota: {
    check: async () => {
      const r = await chat();
      expect(r.status).toBe(429);
      expect(await r.json()).toMatchObject({ error: { code: 'insufficient_quota', type: 'insufficient_quota' } });
      expect(s.fake.counters.rateLimited).toBe(1);
    },
  },
  content_filter: {
    check: async () => {
      const r = await chat();
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ error: { code: 'content_policy_violation' } });
      s.fake.setFaults([{ kind: 'content_filter', variant: 'azure' }]);
      const azure = await chat();
      expect(await azure.json()).toMatchObject({ error: { code: 'content_filter', param: 'prompt', innererror: { code: 'ResponsibleAIPolicyViolation' } } });
    },
  },
  slow_first_token: {
    rule: { delayMs: 40 },
    check: async () => {
      const started = Date.now();
      const r = await chat();
      expect(r.status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(35);
    },
  },
  slow_tokens: {
    rule: { perTokenMs: 2 },
    check: async () => {
      const started = Date.now();
      const r = await chat({ stream: true });
      const text = await r.text();
      expect(text).toContain('[DONE]');
      // 24 reply tokens at 2 ms each (minus the first chunk, which waits for the first token instead)
      expect(Date.now() - started).toBeGreaterThanOrEqual(30);
    },
  },
  invalid_json_reply: {
    check: async () => {
      const r = (await (await chat({ messages: userMessage('hello fault, answer in json'), response_format: { type: 'json_object' } })).json()) as { choices: Array<{ message: { content: string } }> };
      expect(() => JSON.parse(r.choices[0]!.message.content)).toThrow(SyntaxError);
      const text = (await (await chat()).json()) as { choices: Array<{ message: { content: string } }> };
      expect(text.choices[0]!.message.content.startsWith('[a] reply to')).toBe(true);
    },
  },
  auth: {
    check: async () => {
      const r = await chat();
      expect(r.status).toBe(401);
      expect(await r.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
    },
  },
};

describe('every fault kind on the OpenAI endpoint', () => {
  it.each(FAULT_KINDS.map((k) => [k]))('%s', async (kind) => {
    const { rule, check } = OPENAI_CHECKS[kind];
    s.fake.setFaults([{ kind, model: 'a', ...rule }]);
    await check();
    expect(s.fake.counters.faults[kind]).toBeGreaterThanOrEqual(1);
  });
});

describe('fault bodies on the Anthropic endpoint', () => {
  it.each([
    ['rate_limit', 429, 'rate_limit_error'],
    ['rate_limit_no_hint', 429, 'rate_limit_error'],
    ['overloaded_503', 503, 'overloaded_error'],
    ['overloaded_529', 529, 'overloaded_error'],
    ['server_error_500', 500, 'api_error'],
    ['context_length', 400, 'invalid_request_error'],
    ['insufficient_quota', 400, 'billing_error'],
    ['content_filter', 400, 'invalid_request_error'],
    ['auth', 401, 'authentication_error'],
  ] as const)('%s -> %d %s', async (kind, status, type) => {
    s.fake.setFaults([{ kind, model: 'b' }]);
    const r = await messages();
    expect(r.status).toBe(status);
    expect(r.json()).toMatchObject({ type: 'error', error: { type } });
  });

  it('rate_limit carries anthropic-ratelimit-* and retry-after', async () => {
    s.fake.setFaults([{ kind: 'rate_limit', retryAfterSeconds: 3 }]);
    const r = await messages();
    expect(r.headers.get('retry-after')).toBe('3');
    expect(r.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
    expect(r.headers.get('anthropic-ratelimit-requests-reset')).toBe('1970-01-01T00:00:03Z');
  });

  it('malformed_json breaks a message stream event', async () => {
    s.fake.setFaults([{ kind: 'malformed_json' }]);
    const r = await messages({ stream: true });
    expect(r.text).toContain('event: message_start');
    expect(r.text).toContain('"type":"text_del\n\n');
    expect(r.text).not.toContain('message_stop');
  });
});

describe('fault timeline', () => {
  it('applies "from t=10s to t=40s model a returns 503" by the injected clock', async () => {
    s.fake.setFaults([{ model: 'a', from: 10, to: 40, kind: 'overloaded_503' }]);
    const statusAt = async (seconds: number, model = 'a') => {
      clock.t = seconds * 1000;
      return (await post(`${s.baseURL}/chat/completions`, { model, messages: userMessage('x') })).status;
    };
    expect(await statusAt(0)).toBe(200);
    expect(await statusAt(9.999)).toBe(200);
    expect(await statusAt(10)).toBe(503);
    expect(await statusAt(25, 'b')).toBe(200);
    expect(await statusAt(39.9)).toBe(503);
    expect(await statusAt(40)).toBe(200);
    expect(s.fake.counters.faults).toEqual({ overloaded_503: 2 });
    expect(s.fake.elapsedSeconds()).toBe(40);
  });

  it('every / count / probability, and addFault at run time', async () => {
    s.fake.setFaults([{ kind: 'server_error_500', every: 2, count: 2 }]);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await post(`${s.baseURL}/chat/completions`, { model: 'a', messages: userMessage('x') })).status);
    expect(statuses).toEqual([200, 500, 200, 500, 200, 200]);
    s.fake.addFault({ kind: 'auth', model: 'b' });
    expect((await messages()).status).toBe(401);
    expect(() => s.fake.addFault({ kind: 'auth', model: 'zzz' })).toThrow(/unknown model "zzz"/);
  });

  it('is reproducible for a seed', async () => {
    const run = async () => {
      s.fake.setFaults([{ kind: 'overloaded_529', probability: 0.5 }]);
      const out: number[] = [];
      for (let i = 0; i < 16; i++) out.push((await post(`${s.baseURL}/chat/completions`, { model: 'a', messages: userMessage('x') })).status);
      return out;
    };
    const first = await run();
    expect(await run()).toEqual(first);
    expect(first).toContain(529);
    expect(first).toContain(200);
  });
});
