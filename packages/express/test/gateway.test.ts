import { gzipSync } from 'node:zlib';
import express from 'express';
import OpenAI, { APIError } from 'openai';
import { replyTag } from '@llm-resilience/testing';
import { ManualClock, type Resilience } from '@llm-resilience/core';
import { openAIGateway, resilienceErrorHandler, type OpenAIGatewayOptions } from '../src';
import { listen, nextRecord, rejection, testEngine, useFakeProvider } from './support';

const provider = useFakeProvider();

const AUTH = { 'sk-client-alice': { user: 'alice', team: 'support', tenant: 'acme' } };

function upstreams(key = 'upstream-secret-key'): OpenAIGatewayOptions['upstreams'] {
  return {
    primary: { kind: 'openai', baseURL: provider.baseURL, apiKey: key },
    backup: { kind: 'openai', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' },
    anthropic: { kind: 'anthropic', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' },
  };
}

interface Gateway {
  engine: Resilience;
  client: OpenAI;
  url: string;
  close: () => Promise<void>;
}

async function startGateway(options: Partial<OpenAIGatewayOptions> = {}, engine: Resilience = testEngine()): Promise<Gateway> {
  const app = express();
  app.use(openAIGateway({ engine, upstreams: upstreams(), auth: AUTH, models: { support: 'support_reply' }, ...options }));
  app.use(resilienceErrorHandler());
  const { url, close } = await listen(app);
  const client = new OpenAI({ apiKey: 'sk-client-alice', baseURL: `${url}/v1`, maxRetries: 0, timeout: 10_000 });
  return { engine, client, url, close };
}

const ask = (content: string) => [{ role: 'user' as const, content }];

describe('openAIGateway with the official openai SDK', () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(() => gw.close());

  it('answers a non-streaming request through the engine, with target headers and the client identity', async () => {
    const recorded = nextRecord(gw.engine);
    const { data, response } = await gw.client.chat.completions.create({ model: 'support', messages: ask('Where is my order?'), max_tokens: 40 }).withResponse();
    expect(data.choices[0]!.message.content!.startsWith(replyTag('fast-a', 'Where is my order?'))).toBe(true);
    expect(response.headers.get('x-llm-resilience-target')).toBe('fast-a');
    expect(response.headers.get('x-llm-resilience-attempts')).toBe('1');
    expect(response.headers.get('x-llm-resilience-request-id')).toMatch(/\S/);
    const record = await recorded;
    expect(record).toMatchObject({ user_id: 'alice', team_id: 'support', tenant_id: 'acme', route: 'support_reply', outcome: 'success', final_target: 'fast-a' });
    expect(record.input_tokens).toBe(data.usage!.prompt_tokens);
    expect(record.output_tokens).toBe(data.usage!.completion_tokens);
    expect(JSON.stringify([...response.headers])).not.toContain('upstream-secret-key');
    // The upstream's x-ratelimit-* headers reached the engine (proactive pacing).
    expect(gw.engine.pacingOf('fast-a')?.remainingRequests).toBeGreaterThan(0);
  });

  it('streams, settling the record with the usage of the upstream final chunk', async () => {
    const recorded = nextRecord(gw.engine);
    const stream = await gw.client.chat.completions.create({ model: 'support', messages: ask('Stream please'), stream: true });
    let text = '';
    const usageChunks: unknown[] = [];
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usageChunks.push(chunk.usage);
    }
    expect(text.startsWith(replyTag('fast-a', 'Stream please'))).toBe(true);
    expect(usageChunks).toEqual([]); // the client did not ask for usage
    const record = await recorded;
    expect(record).toMatchObject({ outcome: 'success', final_target: 'fast-a', output_tokens: provider.fake.counters.tokensOut, input_tokens: provider.fake.counters.tokensIn });
  });

  it('passes the usage chunk on when the client asks for it', async () => {
    const stream = await gw.client.chat.completions.create({ model: 'support_reply', messages: ask('Count me'), stream: true, stream_options: { include_usage: true } });
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({ prompt_tokens: provider.fake.counters.tokensIn, completion_tokens: provider.fake.counters.tokensOut });
  });

  it('falls back to the backup during an outage of the primary', async () => {
    provider.fake.setFaults([{ model: 'fast-a', kind: 'overloaded_503' }]);
    const { data, response } = await gw.client.chat.completions.create({ model: 'support', messages: ask('Outage?') }).withResponse();
    expect(data.choices[0]!.message.content!.startsWith(replyTag('fast-b', 'Outage?'))).toBe(true);
    expect(response.headers.get('x-llm-resilience-target')).toBe('fast-b');
    expect(response.headers.get('x-llm-resilience-attempts')).toBe('2');
  });

  it('falls back while streaming when the primary breaks before its first token', async () => {
    provider.fake.setFaults([{ model: 'fast-a', kind: 'stream_cut', afterChunks: 0 }]);
    const { data: stream, response } = await gw.client.chat.completions.create({ model: 'support', messages: ask('Cut early'), stream: true }).withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text.startsWith(replyTag('fast-b', 'Cut early'))).toBe(true);
    expect(response.headers.get('x-llm-resilience-target')).toBe('fast-b');
    expect(provider.fake.counters.streamsCut).toBe(1);
  });

  it('ends a stream cut after its first token with an error the SDK throws, never a clean end', async () => {
    provider.fake.setFaults([{ model: 'fast-a', kind: 'stream_cut', afterChunks: 2 }]);
    const recorded = nextRecord(gw.engine);
    const stream = await gw.client.chat.completions.create({ model: 'support', messages: ask('Cut midway'), stream: true, max_tokens: 50 });
    let text = '';
    const err = await rejection(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      })(),
    );
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).message).toContain('The reply was interrupted. Please try again.');
    expect(text.startsWith('[fast-a]')).toBe(true);
    expect(provider.fake.counters.requestsByModel['fast-b']).toBeUndefined(); // no fallback after the first token
    const record = await recorded;
    expect(record).toMatchObject({ outcome: 'failure', error_kind: 'network' });
    // The model that produced what was billed: the prompt and what it generated (the reserved output
    // is charged, not refunded).
    expect(record).toMatchObject({ final_target: 'fast-a', final_model: 'fast-a' });
    expect(record.output_tokens).toBe(50);
    expect(record.input_tokens).toBeGreaterThan(0);
  });

  it('shows the raw error event and no [DONE] on the wire', async () => {
    provider.fake.setFaults([{ model: 'fast-a', kind: 'stream_cut', afterChunks: 1 }]);
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-client-alice', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'support', messages: ask('wire'), stream: true }),
    });
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(body).not.toContain('[DONE]');
    const last = body.trim().split('\n\n').pop()!;
    expect(JSON.parse(last.replace(/^data: /, ''))).toEqual({
      error: { message: expect.any(String), type: 'stream_error', param: null, code: 'ERR_LLMR_EXPRESS_STREAM_INTERRUPTED' },
    });
  });

  it('translates to and from an Anthropic upstream, streaming and not', async () => {
    const r = await gw.client.chat.completions.create({ model: 'claude', messages: [{ role: 'system', content: 'Be brief.' }, ...ask('Hi Claude')], max_tokens: 64 });
    expect(r.choices[0]!.message.content!.startsWith(replyTag('claude-x', 'Be brief.\nHi Claude'))).toBe(true);
    expect(r.usage).toMatchObject({ prompt_tokens: provider.fake.counters.tokensIn, completion_tokens: provider.fake.counters.tokensOut });
    const stream = await gw.client.chat.completions.create({ model: 'claude', messages: ask('Stream, Claude'), stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.startsWith(replyTag('claude-x', 'Stream, Claude'))).toBe(true);
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('lists aliases and servable routes', async () => {
    const ids: string[] = [];
    for await (const m of gw.client.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(['claude', 'ops', 'solo', 'support', 'support_reply']);
  });

  it('rejects missing and unknown client keys with 401, unknown models with 404', async () => {
    const wrong = new OpenAI({ apiKey: 'sk-nope', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const err = await rejection(wrong.chat.completions.create({ model: 'support', messages: ask('x') }));
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as APIError).code).toBe('invalid_api_key');
    const missing = await fetch(`${gw.url}/v1/models`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    const unknown = await rejection(gw.client.chat.completions.create({ model: 'gpt-nope', messages: ask('x') }));
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(provider.fake.counters.requests).toBe(0);
  });

  it('answers bad bodies OpenAI-style', async () => {
    const post = (body: string) =>
      fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-client-alice', 'content-type': 'application/json' }, body });
    const broken = await post('{"model":');
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    const noMessages = await post(JSON.stringify({ model: 'support' }));
    expect(await noMessages.json()).toMatchObject({ error: { param: 'messages' } });
    const badMax = await post(JSON.stringify({ model: 'support', messages: ask('x'), max_tokens: -3 }));
    expect(badMax.status).toBe(400);
    // Each cap is checked, also when the other one is valid.
    const badOld = await post(JSON.stringify({ model: 'support', messages: ask('x'), max_completion_tokens: 20, max_tokens: 'lots' }));
    expect(badOld.status).toBe(400);
    expect(await badOld.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'max_tokens' } });
    const badNew = await post(JSON.stringify({ model: 'support', messages: ask('x'), max_tokens: 20, max_completion_tokens: 0 }));
    expect(await badNew.json()).toMatchObject({ error: { param: 'max_completion_tokens' } });
    const stringStream = await post(JSON.stringify({ model: 'support', messages: ask('x'), stream: 'true' }));
    expect(stringStream.status).toBe(400);
    expect(await stringStream.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'stream' } });
    expect(provider.fake.counters.requests).toBe(0);
  });
});

describe('openAIGateway failures', () => {
  it('answers an exhausted chain with 503, the customer message and no upstream details', async () => {
    const gw = await startGateway();
    try {
      provider.fake.setFaults([{ kind: 'overloaded_503' }]);
      const err = await rejection(gw.client.chat.completions.create({ model: 'support', messages: ask('x') }));
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      const e = err as APIError;
      expect(e.status).toBe(503);
      expect(e.message).toContain("This request is taking longer than usual. We're trying another model now.");
      expect(e.headers?.get('x-llm-resilience-attempts')).toBe('2');
      const text = JSON.stringify(e.error);
      for (const secret of ['fast-a', 'fast-b', 'primary', 'backup', 'upstream-secret-key', 'overloaded, please']) expect(text).not.toContain(secret);
    } finally {
      await gw.close();
    }
  });

  it('applies the policy limits per client identity: 429 with Retry-After', async () => {
    const engine = testEngine({ limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 1, window: '1m' }] });
    const gw = await startGateway({}, engine);
    try {
      await gw.client.chat.completions.create({ model: 'support', messages: ask('one') });
      const err = await rejection(gw.client.chat.completions.create({ model: 'support', messages: ask('two') }));
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      const e = err as APIError;
      expect(Number(e.headers?.get('retry-after'))).toBeGreaterThan(0);
      expect(e.error).toMatchObject({ type: 'rate_limit_error' });
      expect(provider.fake.counters.requests).toBe(1);
    } finally {
      await gw.close();
    }
  });

  it('ends a stream that goes silent after its first token with an error (idle timeout on the engine clock)', async () => {
    const clock = new ManualClock(0);
    const gw = await startGateway({ streamIdleTimeoutMs: 30_000 }, testEngine({}, { clock }));
    try {
      provider.fake.setFaults([{ model: 'fast-a', kind: 'slow_tokens', perTokenMs: 600_000 }]);
      const stream = await gw.client.chat.completions.create({ model: 'solo', messages: ask('stall'), stream: true });
      const it = stream[Symbol.asyncIterator]();
      const first = await it.next();
      expect(first.done).toBe(false);
      // The gateway now waits for the next chunk with its idle timer on the manual clock.
      while (clock.pending === 0) await new Promise((r) => setImmediate(r));
      await clock.advance(30_000);
      const err = await rejection((async () => {
        for (let n = await it.next(); !n.done; n = await it.next());
      })());
      expect(err).toBeInstanceOf(APIError);
      expect((err as APIError).message).toContain('The reply was interrupted');
    } finally {
      await gw.close();
    }
  });

  it('aborts the upstream stream and records a cancellation when the client leaves mid-stream', async () => {
    const gw = await startGateway();
    try {
      provider.fake.setFaults([{ model: 'fast-a', kind: 'slow_tokens', perTokenMs: 600_000 }]);
      const recorded = nextRecord(gw.engine);
      const client = new AbortController();
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-client-alice', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'solo', messages: ask('leave me'), stream: true, max_tokens: 64 }),
        signal: client.signal,
      });
      const reader = res.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first).toContain('chat.completion.chunk');
      client.abort();
      const record = await recorded;
      expect(record).toMatchObject({ outcome: 'failure', error_kind: 'cancelled', user_id: 'alice' });
      expect(record.output_tokens).toBe(64); // charged as generated until the upstream was aborted
      expect(record.input_tokens).toBeGreaterThan(0);
    } finally {
      await gw.close();
    }
  });

  it('keeps upstream keys server-side: a bad upstream key is an upstream failure, not the client’s', async () => {
    const gw = await startGateway({ upstreams: upstreams('wrong-upstream-key') });
    try {
      const { data, response } = await gw.client.chat.completions.create({ model: 'support', messages: ask('keys') }).withResponse();
      // The primary rejected our key (auth falls back); the backup answered.
      expect(data.choices[0]!.message.content!.startsWith('[fast-b]')).toBe(true);
      expect(response.headers.get('x-llm-resilience-target')).toBe('fast-b');
      const solo = await rejection(gw.client.chat.completions.create({ model: 'solo', messages: ask('keys') }));
      expect((solo as APIError).status).toBe(503);
      expect(JSON.stringify((solo as APIError).error)).not.toContain('wrong-upstream-key');
    } finally {
      await gw.close();
    }
  });
});

describe('openAIGateway treats a 2xx body that is not a reply as an upstream failure', () => {
  /** Answers `reply` for calls to the first target (`fast-a`, or the Anthropic `claude-x`); the rest reach the fake provider. */
  async function gatewayReplying(reply: unknown) {
    const badFetch: typeof fetch = (input, init) => {
      const model = (JSON.parse(String(init?.body)) as { model?: string }).model;
      if (model !== 'fast-a' && model !== 'claude-x') return fetch(input, init);
      return Promise.resolve(new Response(JSON.stringify(reply), { status: 200, headers: { 'content-type': 'application/json' } }));
    };
    return startGateway({ fetch: badFetch });
  }

  it.each([
    ['an empty object', {}],
    ['choices: null', { choices: null, usage: null }],
    ['an error body with status 200', { error: { message: 'The server had an error processing your request', type: 'server_error' } }],
  ])('falls back to the next target on %s, never passing the body on as a success', async (_what, reply) => {
    const gw = await gatewayReplying(reply);
    try {
      const recorded = nextRecord(gw.engine);
      const { data, response } = await gw.client.chat.completions.create({ model: 'support', messages: ask('Bad body?') }).withResponse();
      expect(data.choices[0]!.message.content!.startsWith(replyTag('fast-b', 'Bad body?'))).toBe(true);
      expect(response.headers.get('x-llm-resilience-target')).toBe('fast-b');
      expect(response.headers.get('x-llm-resilience-attempts')).toBe('2');
      const record = await recorded;
      expect(record).toMatchObject({ outcome: 'success', final_target: 'fast-b' });
      expect(record.attempts[0]).toMatchObject({ target: 'fast-a', outcome: 'error' });
    } finally {
      await gw.close();
    }
  });

  it('answers 503 when no target is left, classifying an error body by its contents', async () => {
    for (const [reply, kind] of [
      [{}, 'network'],
      [{ choices: null }, 'network'],
      [{ error: { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' } }, 'quota_exhausted'],
      [{ error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } }, 'rate_limited'],
    ] as const) {
      const gw = await gatewayReplying(reply);
      try {
        const recorded = nextRecord(gw.engine);
        const err = await rejection(gw.client.chat.completions.create({ model: 'solo', messages: ask('Alone') }));
        expect(err).toBeInstanceOf(APIError);
        expect((err as APIError).status).toBe(503);
        expect(JSON.stringify((err as APIError).error)).not.toMatch(/quota|Rate limit reached/);
        expect(await recorded).toMatchObject({ outcome: 'failure', error_kind: kind, output_tokens: 0 });
      } finally {
        await gw.close();
      }
    }
  });

  it('does the same for Anthropic upstreams: an error body or a body without content', async () => {
    for (const [reply, kind] of [
      [{ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, 'overloaded'],
      [{ id: 'msg_1', type: 'message' }, 'network'],
    ] as const) {
      const gw = await gatewayReplying(reply);
      try {
        const recorded = nextRecord(gw.engine);
        const err = await rejection(gw.client.chat.completions.create({ model: 'claude', messages: ask('Claude?') }));
        expect((err as APIError).status).toBe(503);
        expect(await recorded).toMatchObject({ outcome: 'failure', error_kind: kind });
      } finally {
        await gw.close();
      }
    }
  });
});

describe('openAIGateway refuses what an Anthropic upstream cannot take, instead of dropping it', () => {
  const parts = (...p: OpenAI.ChatCompletionContentPart[]): OpenAI.ChatCompletionMessageParam[] => [{ role: 'user', content: p }];
  const badRequest = async (params: OpenAI.ChatCompletionCreateParamsNonStreaming, gw: Gateway) => {
    const err = await rejection(gw.client.chat.completions.create(params));
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as APIError;
    return { status: e.status, param: e.param, code: e.code, type: e.type, message: e.message };
  };

  it('answers 400 naming the param, before any upstream call', async () => {
    const gw = await startGateway();
    try {
      const audio = await badRequest(
        { model: 'claude', messages: parts({ type: 'text', text: 'Transcribe this.' }, { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } }) },
        gw,
      );
      expect(audio).toMatchObject({ status: 400, param: 'messages[0].content[1]', code: 'unsupported_value', type: 'invalid_request_error' });
      expect(audio.message).toContain('model `claude`');
      expect(await badRequest({ model: 'claude', messages: ask('Two takes'), n: 2 }, gw)).toMatchObject({ param: 'n', code: 'unsupported_parameter' });
      expect(await badRequest({ model: 'claude', messages: ask('With odds'), logprobs: true }, gw)).toMatchObject({ param: 'logprobs' });
      expect(await badRequest({ model: 'claude', messages: ask('JSON please'), response_format: { type: 'json_object' } }, gw)).toMatchObject({ param: 'response_format' });
      expect(await badRequest({ model: 'claude', messages: [{ role: 'system', content: 'Be brief.' }] }, gw)).toMatchObject({ param: 'messages', code: 'invalid_value' });
      expect(
        await badRequest({ model: 'claude', messages: parts({ type: 'file', file: { file_id: 'file-abc123' } }) }, gw),
      ).toMatchObject({ param: 'messages[0].content[0]', code: 'unsupported_value' });
      expect(provider.fake.counters.requests).toBe(0);
    } finally {
      await gw.close();
    }
  });

  it('sends PDF file parts as document blocks, and ignores the documented harmless options', async () => {
    const upstreamBodies: Array<Record<string, unknown>> = [];
    const recordingFetch: typeof fetch = (input, init) => {
      upstreamBodies.push(JSON.parse(String(init?.body)) as Record<string, unknown>);
      return fetch(input, init);
    };
    const gw = await startGateway({ fetch: recordingFetch });
    try {
      const r = await gw.client.chat.completions.create({
        model: 'claude',
        messages: parts({ type: 'text', text: 'Summarise the attached contract.' }, { type: 'file', file: { filename: 'contract.pdf', file_data: 'data:application/pdf;base64,JVBERi0xLjQK' } }),
        seed: 7,
        presence_penalty: 0.2,
      });
      expect(r.choices[0]!.message.content!.startsWith('[claude-x]')).toBe(true);
      expect(upstreamBodies).toHaveLength(1);
      expect(upstreamBodies[0]!.messages).toEqual([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Summarise the attached contract.' },
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQK' }, title: 'contract.pdf' },
          ],
        },
      ]);
      expect(upstreamBodies[0]).not.toHaveProperty('seed');
      expect(upstreamBodies[0]).not.toHaveProperty('presence_penalty');
    } finally {
      await gw.close();
    }
  });

  it('refuses malformed messages on OpenAI-compatible routes too, and passes their other content through', async () => {
    const gw = await startGateway();
    try {
      const post = (body: unknown) =>
        fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-client-alice', 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const nullMessage = await post({ model: 'support', messages: [null] });
      expect(nullMessage.status).toBe(400);
      expect(await nullMessage.json()).toEqual({
        error: { message: "Invalid type for 'messages[0]': expected an object, but got null instead.", type: 'invalid_request_error', param: 'messages[0]', code: 'invalid_type' },
      });
      const numberContent = await post({ model: 'support', messages: [{ role: 'user', content: 42 }] });
      expect(await numberContent.json()).toMatchObject({ error: { param: 'messages[0].content', code: 'invalid_type' } });
      expect(provider.fake.counters.requests).toBe(0);
      // What only the Anthropic translation cannot take is the OpenAI-compatible upstream's business.
      const audio = await post({ model: 'support', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } }] }], n: 2 });
      expect(audio.status).toBe(200);
    } finally {
      await gw.close();
    }
  });
});

describe('openAIGateway answers every error OpenAI-style, never with an HTML page', () => {
  const chatBody = JSON.stringify({ model: 'support', messages: ask('x') });
  const postRaw = (url: string, body: BodyInit, headers: Record<string, string>, path = '/v1/chat/completions') =>
    fetch(`${url}${path}`, { method: 'POST', headers: { authorization: 'Bearer sk-client-alice', 'content-type': 'application/json', ...headers }, body });
  const errorOf = async (res: Response) => {
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await res.text();
    expect(text).not.toMatch(/<html|\bat \S+ \(/i); // no error page, no stack
    return (JSON.parse(text) as { error: Record<string, unknown> }).error;
  };
  /** Posts `chatBody` to a gateway started with `options`, its error logs going to `logged`: the status and the error body. */
  const postToGateway = async (options: Partial<OpenAIGatewayOptions>, logged: Array<{ message: string; fields: unknown }>) => {
    const gw = await startGateway({ ...options, logger: { error: (message, fields) => void logged.push({ message, fields }) } });
    try {
      const res = await postRaw(gw.url, chatBody, {});
      return { status: res.status, error: await errorOf(res) };
    } finally {
      await gw.close();
    }
  };

  it('gives every body-parser error its own status: unsupported charset and encoding 415, bad gzip 400', async () => {
    const gw = await startGateway();
    try {
      const latin2 = await postRaw(gw.url, chatBody, { 'content-type': 'application/json; charset=latin2' });
      expect(latin2.status).toBe(415);
      expect(await errorOf(latin2)).toEqual({ message: 'The request body uses an unsupported charset. Send JSON encoded as UTF-8.', type: 'invalid_request_error', param: null, code: null });
      const foo = await postRaw(gw.url, chatBody, { 'content-encoding': 'foo' });
      expect(foo.status).toBe(415);
      expect((await errorOf(foo)).message).toContain('Content-Encoding');
      const badGzip = await postRaw(gw.url, 'not gzip at all', { 'content-encoding': 'gzip' });
      expect(badGzip.status).toBe(400);
      expect(await errorOf(badGzip)).toMatchObject({ type: 'invalid_request_error', message: 'The request body could not be decompressed; check its Content-Encoding.' });
      const goodGzip = await postRaw(gw.url, new Uint8Array(gzipSync(chatBody)), { 'content-encoding': 'gzip' });
      expect(goodGzip.status).toBe(200);
    } finally {
      await gw.close();
    }
  });

  it('answers a throwing or rejecting auth function with 500 ERR_LLMR_EXPRESS_GATEWAY_FAILED, logging it without its message', async () => {
    const logged: Array<{ message: string; fields?: Record<string, unknown> }> = [];
    const logger = { error: (message: string, fields?: Record<string, unknown>) => void logged.push({ message, fields }) };
    const secret = 'postgres://admin:hunter2@db';
    const auths: Array<OpenAIGatewayOptions['auth']> = [
      () => {
        throw new Error(`user db down: ${secret}`);
      },
      () => Promise.reject(Object.assign(new Error(`connect ECONNREFUSED ${secret}`), { code: 'ECONNREFUSED' })),
    ];
    for (const auth of auths) {
      const gw = await startGateway({ auth, logger }); // resilienceErrorHandler() is mounted too
      try {
        const err = await rejection(gw.client.chat.completions.create({ model: 'support', messages: ask('x') }));
        expect(err).toBeInstanceOf(OpenAI.InternalServerError);
        const e = err as APIError;
        expect(e.status).toBe(500);
        expect(e.error).toEqual({ message: 'Something went wrong on our side. Please try again later.', type: 'server_error', param: null, code: 'ERR_LLMR_EXPRESS_GATEWAY_FAILED' });
        const models = await fetch(`${gw.url}/v1/models`, { headers: { authorization: 'Bearer sk-client-alice' } });
        expect(models.status).toBe(500);
        expect(JSON.stringify(await errorOf(models))).not.toContain('hunter2');
      } finally {
        await gw.close();
      }
    }
    expect(logged).toHaveLength(4);
    expect(logged[0]!.fields).toMatchObject({ code: 'ERR_LLMR_EXPRESS_GATEWAY_FAILED', stage: 'the auth lookup', error: 'Error' });
    expect(logged[2]!.fields).toMatchObject({ errorCode: 'ECONNREFUSED' });
    expect(JSON.stringify(logged)).not.toContain('hunter2');
    expect(provider.fake.counters.requests).toBe(0);
  });

  it('answers a throwing option callback with the same 500', async () => {
    const logged: string[] = [];
    const gw = await startGateway({
      priority: () => {
        throw new Error('priority table missing at /srv/secret/path');
      },
      logger: { error: (m) => void logged.push(m) },
    });
    try {
      const res = await postRaw(gw.url, chatBody, {});
      expect(res.status).toBe(500);
      expect(await errorOf(res)).toMatchObject({ code: 'ERR_LLMR_EXPRESS_GATEWAY_FAILED' });
      expect(logged).toEqual(['openAIGateway(): the request failed (Error); the client got 500 ERR_LLMR_EXPRESS_GATEWAY_FAILED.']);
    } finally {
      await gw.close();
    }
  });

  it('answers an option callback that returns something other than a string with the same 500, naming the option', async () => {
    const logged: Array<{ message: string; fields: unknown }> = [];
    const requestsBefore = provider.fake.counters.requests;
    for (const options of [
      { dataClass: (req: express.Request) => req.body as unknown as string },
      { priority: () => 7 as unknown as string },
    ]) {
      const { status, error } = await postToGateway(options, logged);
      expect(status).toBe(500);
      expect(error).toMatchObject({ code: 'ERR_LLMR_EXPRESS_GATEWAY_FAILED' });
    }
    expect(logged.map((l) => l.message)).toEqual([
      'openAIGateway(): the request failed (ExpressConfigError ERR_LLMR_EXPRESS_INVALID_OPTION); the client got 500 ERR_LLMR_EXPRESS_GATEWAY_FAILED.',
      'openAIGateway(): the request failed (ExpressConfigError ERR_LLMR_EXPRESS_INVALID_OPTION); the client got 500 ERR_LLMR_EXPRESS_GATEWAY_FAILED.',
    ]);
    expect(logged.map((l) => (l.fields as { detail?: string }).detail)).toEqual([
      expect.stringMatching(/^openAIGateway\(\) dataClass\(req, identity\) returned an object; expected the name of a data class \(a string\) or undefined\./),
      expect.stringMatching(/^openAIGateway\(\) priority\(req, identity\) returned a number; expected a traffic class of the policy \(a string\) or undefined\./),
    ]);
    expect(provider.fake.counters.requests).toBe(requestsBefore);
  });

  it('answers an auth function whose identity is not an object of strings with the same 500, logging the field, never a 400', async () => {
    const logged: Array<{ message: string; fields: unknown }> = [];
    const requestsBefore = provider.fake.counters.requests;
    // Key stores returning a numeric user id (a database primary key), or a bare user name.
    for (const found of [{ user: 42 as unknown as string }, 'alice' as never]) {
      const { status, error } = await postToGateway({ auth: async (key) => (key === 'sk-client-alice' ? found : undefined) }, logged);
      expect(status).toBe(500);
      expect(error).toEqual({ message: 'Something went wrong on our side. Please try again later.', type: 'server_error', param: null, code: 'ERR_LLMR_EXPRESS_GATEWAY_FAILED' });
    }
    expect(logged.map((l) => l.message)).toEqual([
      'openAIGateway(): the auth lookup failed (ExpressConfigError ERR_LLMR_EXPRESS_INVALID_OPTION); the client got 500 ERR_LLMR_EXPRESS_GATEWAY_FAILED.',
      'openAIGateway(): the auth lookup failed (ExpressConfigError ERR_LLMR_EXPRESS_INVALID_OPTION); the client got 500 ERR_LLMR_EXPRESS_GATEWAY_FAILED.',
    ]);
    expect(logged.map((l) => (l.fields as { detail?: string }).detail)).toEqual([
      expect.stringMatching(/^openAIGateway\(\) auth\(key, req\) returned an identity whose user is a number; expected undefined or/),
      expect.stringMatching(/^openAIGateway\(\) auth\(key, req\) returned a string; expected undefined or/),
    ]);
    expect(JSON.stringify(logged)).not.toContain('alice');
    expect(provider.fake.counters.requests).toBe(requestsBefore);
  });

  it('answers other methods on its own paths with an OpenAI-style 404, and leaves other paths to the app', async () => {
    const app = express();
    app.use(openAIGateway({ engine: testEngine(), upstreams: upstreams(), auth: AUTH, models: { support: 'support_reply' } }));
    app.post('/v1/embeddings', (_req, res) => {
      res.json({ object: 'list', data: [] });
    });
    const { url, close } = await listen(app);
    try {
      const get = await fetch(`${url}/v1/chat/completions?x=1`, { headers: { authorization: 'Bearer sk-client-alice' } });
      expect(get.status).toBe(404);
      expect(await errorOf(get)).toEqual({
        message: 'Unknown request URL: GET /v1/chat/completions. Please check the URL for typos.',
        type: 'invalid_request_error',
        param: null,
        code: 'unknown_url',
      });
      const postModels = await postRaw(url, '{}', {}, '/v1/models');
      expect(postModels.status).toBe(404);
      expect(await errorOf(postModels)).toMatchObject({ code: 'unknown_url' });
      const embeddings = await postRaw(url, '{}', {}, '/v1/embeddings');
      expect(embeddings.status).toBe(200);
      expect(await embeddings.json()).toEqual({ object: 'list', data: [] });
    } finally {
      await close();
    }
  });
});

describe('openAIGateway warns when a body parser in front of it read the body first', () => {
  it('warns once per gateway with its code, while still serving the request; a gateway that parses its own bodies stays quiet', async () => {
    const warned: Array<{ message: string; code: unknown }> = [];
    const logger = { warn: (message: string, fields?: Record<string, unknown>) => void warned.push({ message, code: fields?.code }) };
    const app = express();
    app.use(express.json({ limit: '1mb' }));
    app.use(openAIGateway({ engine: testEngine(), upstreams: upstreams(), auth: AUTH, models: { support: 'support_reply' }, logger }));
    const quiet = express();
    quiet.post('/chat', express.json(), (_req, res) => void res.json({}));
    quiet.use(openAIGateway({ engine: testEngine(), upstreams: upstreams(), auth: AUTH, models: { support: 'support_reply' }, logger }));
    const parsedFirst = await listen(app);
    const ownBodies = await listen(quiet);
    try {
      for (const url of [parsedFirst.url, parsedFirst.url, ownBodies.url]) {
        const client = new OpenAI({ apiKey: 'sk-client-alice', baseURL: `${url}/v1`, maxRetries: 0, timeout: 10_000 });
        const r = await client.chat.completions.create({ model: 'support', messages: ask('hi') });
        expect(r.choices[0]!.message.content!.startsWith('[fast-a]')).toBe(true);
      }
      expect(warned.map((w) => w.code)).toEqual(['ERR_LLMR_EXPRESS_GATEWAY_BODY_ALREADY_PARSED']);
      expect(warned[0]!.message).toContain('replaces bodyLimit');
      expect(warned[0]!.message).toContain('docs/express.md#err_llmr_express_gateway_body_already_parsed');
    } finally {
      await parsedFirst.close();
      await ownBodies.close();
    }
  });
});

describe('openAIGateway warns through a class-based logger', () => {
  /** A logger whose methods use `this` (pino, winston, a NestJS Logger, any class instance). */
  class ClassLogger {
    readonly codes: unknown[] = [];
    warn(_message: string, fields?: Record<string, unknown>): void {
      this.codes.push(fields?.code);
    }
  }

  it('calls logger.warn as a method, and serves the request even when the logger throws', async () => {
    const logger = new ClassLogger();
    const throwing = {
      warn: () => {
        throw new Error('log sink down');
      },
    };
    for (const [log, expected] of [
      [logger, ['ERR_LLMR_EXPRESS_GATEWAY_BODY_ALREADY_PARSED']],
      [throwing, undefined],
    ] as const) {
      const app = express();
      app.use(express.json());
      app.use(openAIGateway({ engine: testEngine(), upstreams: upstreams(), auth: AUTH, models: { support: 'support_reply' }, logger: log }));
      const { url, close } = await listen(app);
      try {
        const client = new OpenAI({ apiKey: 'sk-client-alice', baseURL: `${url}/v1`, maxRetries: 0, timeout: 10_000 });
        const r = await client.chat.completions.create({ model: 'support', messages: ask('hi') });
        expect(r.choices[0]!.message.content!.startsWith('[fast-a]')).toBe(true);
        if (expected !== undefined) expect(logger.codes).toEqual(expected);
      } finally {
        await close();
      }
    }
  });
});

describe('openAIGateway keeps upstream credentials an error body echoes out of events and errors', () => {
  /** One request through a gateway whose upstream answers `reply()`: the client's body, the alerts and the record. */
  async function askEchoingUpstream(reply: () => Response, stream: boolean) {
    const gw = await startGateway({ fetch: () => Promise.resolve(reply()) });
    try {
      const alerts: string[] = [];
      gw.engine.events.on('alert', (a) => alerts.push(a.message));
      const recorded = nextRecord(gw.engine);
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-client-alice', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'solo', messages: ask('Hello'), stream }),
      });
      const body = await res.text();
      return { body, alerts, record: await recorded };
    } finally {
      await gw.close();
    }
  }

  it.each([
    ['an auth error', 401, { message: 'Incorrect API key provided: upstream-secret-key. You can find your API key at x.', type: 'invalid_request_error', code: 'invalid_api_key' }],
    ['an exhausted quota', 429, { message: 'You exceeded your current quota for key upstream-secret-key', type: 'insufficient_quota', code: 'insufficient_quota' }],
  ])('redacts the key from %s before the engine reads it', async (_what, status, error) => {
    const { body, alerts } = await askEchoingUpstream(
      () => new Response(JSON.stringify({ error }), { status, headers: { 'content-type': 'application/json' } }),
      false,
    );
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain('[redacted]');
    for (const text of [body, ...alerts]) expect(text).not.toContain('upstream-secret-key');
  });

  const echoed = { message: 'Invalid proxy token passed. Received API Key = upstream-secret-key', type: 'auth_error', code: 'invalid_api_key' };
  it.each([
    ['an error body sent with status 200', false, () => new Response(JSON.stringify({ error: echoed }), { status: 200, headers: { 'content-type': 'application/json' } })],
    ['an in-stream error event', true, () => new Response(`data: ${JSON.stringify({ error: echoed })}\n\n`, { status: 200, headers: { 'content-type': 'text/event-stream' } })],
    [
      'a non-2xx body that writes the key with JSON escapes',
      false,
      () => new Response(JSON.stringify({ error: echoed }).replace('upstream-secret-key', 'upstream\\u002Dsecret\\u002dkey'), { status: 401, headers: { 'content-type': 'application/json' } }),
    ],
  ])('redacts the key from %s before the engine reads it', async (_what, stream, reply) => {
    const { body, alerts, record } = await askEchoingUpstream(reply, stream);
    expect(record).toMatchObject({ outcome: 'failure', error_kind: 'auth' });
    expect(alerts).toEqual(['auth on fast-a: Invalid proxy token passed. Received API Key = [redacted]']);
    for (const text of [body, ...alerts]) expect(text).not.toContain('upstream-secret-key');
  });
});

