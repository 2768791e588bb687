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

/** The events of an SSE body, in order: `{ event?, data }`. */
function sseEvents(text: string): Array<{ event?: string; data: string }> {
  expect(text.endsWith('\n\n')).toBe(true);
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)![1]!;
      return event === undefined ? { data } : { event, data };
    });
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
  stream_error: {
    rule: { afterChunks: 3 },
    check: async () => {
      const r = await chat({ stream: true });
      expect(r.status).toBe(200);
      const events = sseEvents(await r.text());
      expect(events.filter((e) => /"content":"[^"]+"/.test(e.data))).toHaveLength(3);
      expect(events.some((e) => e.data.includes('"finish_reason":"stop"'))).toBe(false);
      expect(events.slice(-2)).toEqual([
        { data: '{"error":{"message":"Our servers are currently overloaded. Please try again later.","type":"service_unavailable_error","param":null,"code":"server_is_overloaded"}}' },
        { data: '[DONE]' },
      ]);
      expect(s.fake.counters.streamErrors).toBe(1);
      // Without a stream, the same failure is an HTTP error: OpenAI's 503.
      const plain = await chat();
      expect(plain.status).toBe(503);
      expect(await plain.json()).toMatchObject({ error: { type: 'server_error' } });
      expect(s.fake.counters.streamErrors).toBe(1);
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

describe('stream_error: the in-stream error of each API, after a 200', () => {
  const ANTHROPIC_ERRORS = {
    overloaded: { type: 'overloaded_error', message: 'Overloaded', status: 529 },
    rate_limit: { type: 'rate_limit_error', message: 'This request would exceed the rate limit for your organization on requests per minute for b. Please try again later.', status: 429 },
    server_error: { type: 'api_error', message: 'Internal server error', status: 500 },
  } as const;

  it.each(Object.entries(ANTHROPIC_ERRORS))('Anthropic %s: content deltas, then `event: error` and the end of the stream', async (errorType, { type, message, status }) => {
    s.fake.setFaults([{ kind: 'stream_error', model: 'b', errorType: errorType as keyof typeof ANTHROPIC_ERRORS, afterChunks: 2 }]);
    const r = await messages({ stream: true });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const events = sseEvents(r.text);
    expect(events.map((e) => e.event)).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'error']);
    // Exactly what the Messages API sends: `data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`.
    expect(events.at(-1)!.data).toBe(JSON.stringify({ type: 'error', error: { type, message } }));
    expect(s.fake.counters.streamErrors).toBe(1);
    expect(s.fake.counters.faults).toEqual({ stream_error: 1 });

    // Without a stream: the HTTP error with the same body.
    const plain = await messages();
    expect(plain.status).toBe(status);
    expect(plain.json()).toEqual({ type: 'error', error: { type, message } });
    expect(s.fake.counters.streamErrors).toBe(1);
  });

  it.each([
    ['rate_limit', { message: 'Rate limit reached for a in organization org-fake on requests per min (RPM). Please try again later.', type: 'requests', param: null, code: 'rate_limit_exceeded' }, 429],
    ['server_error', { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null }, 500],
  ] as const)('OpenAI %s: content chunks, then `data: {"error": ...}` and `data: [DONE]`', async (errorType, error, status) => {
    s.fake.setFaults([{ kind: 'stream_error', model: 'a', errorType, afterChunks: 0 }]);
    const events = sseEvents(await (await chat({ stream: true, stream_options: { include_usage: true } })).text());
    expect(events).toHaveLength(3); // the role chunk, the error, [DONE]: no content, no finish, no usage chunk
    expect(JSON.parse(events[0]!.data)).toMatchObject({ object: 'chat.completion.chunk', choices: [{ delta: { role: 'assistant' } }] });
    expect(events.slice(1)).toEqual([{ data: JSON.stringify({ error }) }, { data: '[DONE]' }]);
    const plain = await chat();
    expect(plain.status).toBe(status);
    expect(await plain.json()).toEqual({ error });
  });

  it('sends half of the content chunks by default, never all of them, and keeps the tokens out of the counters', async () => {
    const contentOf = (events: Array<{ data: string }>) => events.filter((e) => /"content":"[^"]+"/.test(e.data)).length;
    const whole = contentOf(sseEvents(await (await chat({ stream: true })).text())); // the same reply, no fault
    expect(whole).toBeGreaterThan(4);

    s.fake.reset();
    s.fake.setFaults([{ kind: 'stream_error', model: 'a' }]);
    expect(contentOf(sseEvents(await (await chat({ stream: true })).text()))).toBe(Math.floor(whole / 2));
    s.fake.setFaults([{ kind: 'stream_error', model: 'a', afterChunks: 1_000 }]);
    const clamped = sseEvents(await (await chat({ stream: true })).text());
    expect(contentOf(clamped)).toBe(whole - 1);
    expect(clamped.at(-2)!.data).toContain('server_is_overloaded');
    expect(s.fake.counters).toMatchObject({ tokensIn: 0, tokensOut: 0, streamErrors: 2, responsesByStatus: { '200': 2 } });
  });

  it('retryAfterSeconds goes on the HTTP error of a request that does not stream, never on a 200', async () => {
    s.fake.setFaults([{ kind: 'stream_error', errorType: 'rate_limit', retryAfterSeconds: 4 }]);
    const streamed = await chat({ stream: true });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('retry-after')).toBeNull();
    await streamed.text();
    const plain = await chat();
    expect(plain.status).toBe(429);
    expect(plain.headers.get('retry-after')).toBe('4');
    expect(plain.headers.get('retry-after-ms')).toBe('4000');
    expect(plain.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(plain.headers.get('x-ratelimit-reset-requests')).toBe('4s');
    expect(s.fake.counters.rateLimited).toBe(1);
  });

  /** The retry headers of a response: retry-after and the request limit (`x-ratelimit-*-requests`, `anthropic-ratelimit-requests-*`). */
  const rateLimitHeaders = (headers: { forEach(cb: (value: string, key: string) => void): void }) => {
    const out: Record<string, string> = {};
    headers.forEach((value, key) => {
      if (key.startsWith('retry-after') || (key.includes('ratelimit') && key.includes('requests'))) out[key] = value;
    });
    return out;
  };

  it("a stream_error rate_limit that does not stream answers the rate_limit fault's 429: retry-after 1 s by default and the request limit exhausted until then", async () => {
    s.fake.setFaults([{ kind: 'rate_limit' }]);
    const openAIFault = await chat();
    const anthropicFault = await messages();
    s.fake.setFaults([{ kind: 'stream_error', errorType: 'rate_limit' }]);
    const openAI = await chat();
    const anthropic = await messages();
    expect([openAI.status, anthropic.status]).toEqual([429, 429]);
    expect(rateLimitHeaders(openAI.headers)).toEqual(rateLimitHeaders(openAIFault.headers));
    expect(rateLimitHeaders(openAI.headers)).toMatchObject({ 'retry-after': '1', 'retry-after-ms': '1000', 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1s' });
    expect(rateLimitHeaders(anthropic.headers)).toEqual(rateLimitHeaders(anthropicFault.headers));
    expect(rateLimitHeaders(anthropic.headers)).toMatchObject({ 'retry-after': '1', 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': '1970-01-01T00:00:01Z' });
    // The other error types keep their own headers: retry-after only when the rule sets it.
    s.fake.setFaults([{ kind: 'stream_error', errorType: 'overloaded' }]);
    const overloaded = await chat();
    expect(overloaded.status).toBe(503);
    expect(overloaded.headers.get('retry-after')).toBeNull();
    expect(overloaded.headers.get('x-ratelimit-remaining-requests')).not.toBe('0');
  });

  it('scripts like any fault: a window on the timeline, for one model', async () => {
    s.fake.setFaults([{ kind: 'stream_error', model: 'b', from: 10, to: 20, afterChunks: 1 }]);
    const lastEventAt = async (seconds: number) => {
      clock.t = seconds * 1000;
      return sseEvents((await messages({ stream: true })).text).at(-1)!.event;
    };
    expect(await lastEventAt(5)).toBe('message_stop');
    expect(await lastEventAt(10)).toBe('error');
    expect(await lastEventAt(20)).toBe('message_stop');
    expect(s.fake.counters.streamErrors).toBe(1);
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
