import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import express from 'express';
import { classifyError } from '@llm-resilience/core';
import { openAIGateway, type OpenAIGatewayOptions } from '../index';
import type { UpstreamConfig } from '../types';
import { listen, testEngine } from '../../test/support';
import { completeUpstream, credentialsOf, openUpstreamStream, type UpstreamCall } from './upstreamCall';
import { ChatRequestError } from './ChatRequestError';
import { UpstreamReplyError, UpstreamStreamError } from './UpstreamError';

/*
 * The credentials a call sends upstream (its key, its credential-like headers) never come back through
 * the errors it raises: a non-2xx body, an error body sent with a 2xx status, an in-stream error event.
 * The keys have no format the core's built-in redaction knows, so only the gateway can cut them.
 */
const KEY = 'gwt.7Hq2Lr9Xv4Nc8Zp1Qa';
const HEADER_TOKEN = 'tenant-token-0042-xyz';
const echo = `Invalid proxy token passed. Received API Key = ${KEY}, tenant token ${HEADER_TOKEN}`;

function callWith(kind: UpstreamConfig['kind'], fetchImpl: typeof fetch): UpstreamCall {
  return {
    name: 'proxy',
    upstream: { kind, baseURL: 'http://upstream.test/v1', apiKey: KEY, headers: { 'x-tenant-token': HEADER_TOKEN } },
    target: { id: 'a', provider: kind, model: 'm' } as never,
    ctx: { signal: new AbortController().signal, maxOutputTokens: 10, reportHeaders: () => undefined } as never,
    body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] } as never,
    clientSignal: new AbortController().signal,
    fetch: fetchImpl,
    maxBodyBytes: 64 * 1024 * 1024,
  };
}

const json = (body: unknown, status: number) => async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const sse = (text: string) => async () => new Response(text, { status: 200, headers: { 'content-type': 'text/event-stream' } });
const event = (data: unknown, name?: string) => `${name ? `event: ${name}\n` : ''}data: ${JSON.stringify(data)}\n\n`;

async function thrown(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('no error');
}

/** Neither credential anywhere: what the engine reads (classifyError) nor what a logger prints. */
function expectClean(err: unknown, kind: string): void {
  const c = classifyError(err);
  expect(c.kind).toBe(kind);
  expect(c.message).toContain('[redacted]');
  for (const text of [c.message, inspect(err, { depth: Infinity }), JSON.stringify((err as { error?: unknown }).error)]) {
    expect(text).not.toContain(KEY);
    expect(text).not.toContain(HEADER_TOKEN);
  }
}

const authError = { message: echo, type: 'auth_error', code: 'invalid_api_key' };

describe('upstream calls cut the credentials they sent out of every upstream error', () => {
  it('a non-2xx body', async () => {
    expectClean(await thrown(completeUpstream(callWith('openai', json({ error: authError }, 401)))), 'auth');
  });

  it('an OpenAI error body sent with status 200', async () => {
    const err = await thrown(completeUpstream(callWith('openai', json({ error: authError }, 200))));
    expect(err).toBeInstanceOf(UpstreamReplyError);
    expectClean(err, 'auth');
  });

  it('an Anthropic error body sent with status 200', async () => {
    const err = await thrown(completeUpstream(callWith('anthropic', json({ type: 'error', error: { type: 'authentication_error', message: echo } }, 200))));
    expect(err).toBeInstanceOf(UpstreamReplyError);
    expectClean(err, 'auth');
  });

  it('an OpenAI in-stream error event before the first token (data with an error, or event: error)', async () => {
    for (const text of [event({ error: authError }), event(authError, 'error')]) {
      const err = await thrown(openUpstreamStream(callWith('openai', sse(text))));
      expect(err).toBeInstanceOf(UpstreamStreamError);
      expectClean(err, 'auth');
    }
  });

  it('an OpenAI in-stream error event after the first token', async () => {
    const chunk = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: null }] };
    const quota = { message: `You exceeded your current quota for ${KEY}`, type: 'insufficient_quota', code: 'insufficient_quota' };
    const opened = await openUpstreamStream(callWith('openai', sse(event(chunk) + event({ error: quota }))));
    expect(opened.head).toHaveLength(1);
    const err = await thrown(opened.rest.next());
    expect(err).toBeInstanceOf(UpstreamStreamError);
    expectClean(err, 'quota_exhausted');
  });

  it('an Anthropic error event', async () => {
    const text = event({ type: 'error', error: { type: 'authentication_error', message: echo } }, 'error');
    const err = await thrown(openUpstreamStream(callWith('anthropic', sse(text))));
    expect(err).toBeInstanceOf(UpstreamStreamError);
    expectClean(err, 'auth');
  });

  it('a key the upstream echoes with JSON escapes (\\/, \\u002B), in a non-2xx body and in a 200 error body', async () => {
    const slashKey = 'gwt/7Hq2Lr9+Xv4Nc8Zp1Qa';
    const escaped = slashKey.replace('/', '\\/').replace('+', '\\u002B');
    const body = `{"error":{"message":"Incorrect API key provided: ${escaped}","type":"auth_error","code":"invalid_api_key"}}`;
    for (const status of [401, 200]) {
      const call: UpstreamCall = {
        ...callWith('openai', async () => new Response(body, { status, headers: { 'content-type': 'application/json' } })),
        upstream: { kind: 'openai', baseURL: 'http://upstream.test/v1', apiKey: slashKey },
      };
      const err = await thrown(completeUpstream(call));
      expect(classifyError(err)).toMatchObject({ kind: 'auth', message: 'Incorrect API key provided: [redacted]' });
      expect(inspect(err, { depth: Infinity })).not.toContain(slashKey);
    }
  });

  it('leaves a successful reply alone', async () => {
    const reply = { id: 'r1', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: `the key is ${KEY}` }, finish_reason: 'stop' }] };
    const got = await completeUpstream(callWith('openai', json(reply, 200)));
    expect(got.choices[0]!.message.content).toBe(`the key is ${KEY}`);
  });
});

describe('upstream calls bound what they read of a reply', () => {
  const limited = (kind: UpstreamConfig['kind'], maxBodyBytes: number, fetchImpl: typeof fetch): UpstreamCall => ({ ...callWith(kind, fetchImpl), maxBodyBytes });
  const reply = { id: 'r1', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] };

  it('fails a 2xx body longer than the bound as a reply that is not one, classified network', async () => {
    const big = JSON.stringify({ ...reply, padding: 'p'.repeat(5_000) });
    const plain: Record<string, string> = { 'content-type': 'application/json' };
    for (const headers of [plain, { ...plain, 'content-length': String(big.length) }]) {
      const err = await thrown(completeUpstream(limited('openai', 1_000, async () => new Response(big, { status: 200, headers }))));
      expect(err).toBeInstanceOf(UpstreamReplyError);
      expect((err as Error).message).toBe("Upstream 'proxy' answered 2xx with a body that is not a reply: the body is longer than upstreamBodyLimit (1000 bytes); reading stopped there.");
      expect(classifyError(err)).toMatchObject({ kind: 'network', code: 'ERR_LLMR_EXPRESS_UPSTREAM_BAD_REPLY' });
    }
    const exact = JSON.stringify(reply);
    const got = await completeUpstream(limited('openai', Buffer.byteLength(exact), json(reply, 200)));
    expect(got.choices[0]!.message.content).toBe('ok');
  });

  it('names the size and media type of a 2xx body that is not JSON, never its text, not even in a cause', async () => {
    const prompt = 'my card number is 4111 1111 1111 1111';
    const html = `<html><body>echo: ${prompt}</body></html>`;
    for (const [contentType, shownType] of [
      ['text/html; charset=utf-8', 'text/html'],
      [`text/${prompt}`, 'unusual'],
      [undefined, 'none'],
    ] as const) {
      const headers: Record<string, string> = contentType === undefined ? {} : { 'content-type': contentType };
      const body = contentType === undefined ? new TextEncoder().encode(html) : html;
      const err = await thrown(completeUpstream(callWith('openai', async () => new Response(body, { status: 200, headers }))));
      expect(err).toBeInstanceOf(UpstreamReplyError);
      expect((err as Error).message).toBe(
        `Upstream 'proxy' answered 2xx with a body that is not a reply: the body is ${Buffer.byteLength(html)} bytes that are not JSON (content-type ${shownType}).`,
      );
      expect((err as Error).cause).toBeUndefined();
      const shown = inspect(err, { depth: Infinity });
      for (const part of ['<html', 'echo', '4111']) expect(shown).not.toContain(part);
      expect(classifyError(err).kind).toBe('network');
    }
  });

  it('breaks a stream whose single event grows past the bound, before or after the first token', async () => {
    const endless = `data: {"id":"c2","choices":[{"delta":{"content":"${'z'.repeat(3_000)}`;
    const early = await thrown(openUpstreamStream(limited('openai', 1_000, sse(endless))));
    expect(early).toBeInstanceOf(UpstreamStreamError);
    expect((early as Error).message).toBe("The stream of upstream 'proxy' broke: an event grew past upstreamBodyLimit (1000 characters) without ending; reading stopped there.");
    expect(classifyError(early)).toMatchObject({ kind: 'network', code: 'ERR_LLMR_EXPRESS_STREAM_BROKEN' });

    const opened = await openUpstreamStream(limited('anthropic', 1_000, sse(event({ type: 'message_start', message: { id: 'm1', model: 'm', usage: { input_tokens: 1, output_tokens: 0 } } }, 'message_start') +
      event({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start') +
      event({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } }, 'content_block_delta') +
      `event: content_block_delta\ndata: ${'q'.repeat(2_000)}`)));
    expect(opened.head.length).toBeGreaterThan(0);
    const late = await thrown(opened.rest.next());
    expect(late).toBeInstanceOf(UpstreamStreamError);
    expect(classifyError(late)).toMatchObject({ kind: 'network', code: 'ERR_LLMR_EXPRESS_STREAM_BROKEN' });
    expect(inspect(late, { depth: Infinity })).not.toContain('qqq');
  });
});

describe('upstream calls never charge an upstream with a body they cannot serialize', () => {
  // The gateway refuses such bodies before the engine runs (assertJsonDepth); this is the guard behind it.
  const deep = JSON.parse(`${'['.repeat(20_000)}${']'.repeat(20_000)}`) as unknown;

  it.each(['openai', 'anthropic'] as const)('a %s attempt fails as the client’s invalid_request before any fetch', async (kind) => {
    let fetched = 0;
    const call = callWith(kind, async () => {
      fetched++;
      return new Response('{}');
    });
    // In a tool schema: the Anthropic translation copies it too.
    call.body = { ...call.body, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', default: deep } } }] } as never;
    const err = await thrown(completeUpstream(call));
    expect(err).toBeInstanceOf(ChatRequestError);
    expect(classifyError(err).kind).toBe('invalid_request');
    expect((err as Error).message).toBe('Invalid request body: it cannot be forwarded as JSON (nested too deeply or too large).');
    expect(fetched).toBe(0);
  });
});

/** A real HTTP upstream on a free port; records what the gateway sent it. */
async function upstreamServer(handler: (body: string, res: http.ServerResponse) => void) {
  const seen: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      handler(body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    baseURL: `http://127.0.0.1:${port}/v1`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const reply = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const completionOf = (model: string) => ({ id: 'x', object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } });

async function startGateway(upstreams: OpenAIGatewayOptions['upstreams']) {
  const engine = testEngine();
  const app = express();
  app.use(openAIGateway({ engine, upstreams, auth: { 'sk-client-alice': { user: 'alice' } } }));
  const { close, url } = await listen(app);
  const post = (body: unknown) =>
    fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-client-alice', 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { engine, close, post };
}

describe('the gateway keeps upstream credentials to the upstream (real sockets)', () => {
  it('cuts the token of an `Authorization: Bearer <token>` header out of an error that echoes the bare token', async () => {
    const token = 'upstream-secret-key';
    const up = await upstreamServer((_b, res) =>
      reply(res, 401, { error: { message: `Incorrect API key provided: ${token}. See x.`, type: 'invalid_request_error', code: 'invalid_api_key' } }),
    );
    const gw = await startGateway({ primary: { kind: 'openai', baseURL: up.baseURL, headers: { Authorization: `Bearer ${token}` } } });
    try {
      const alerts: string[] = [];
      gw.engine.events.on('alert', (a) => alerts.push(a.message));
      const body = await (await gw.post({ model: 'solo', messages: [{ role: 'user', content: 'x' }] })).text();
      expect(up.seen[0]!.headers.authorization).toBe(`Bearer ${token}`);
      expect(alerts.length).toBeGreaterThan(0);
      expect(alerts.join('\n')).toContain('[redacted]');
      for (const text of [body, ...alerts]) expect(text).not.toContain(token);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('does not follow a redirect to another origin: neither the key nor the prompt goes there, and the attempt fails', async () => {
    const KEY = 'upstream-secret-key-1234567';
    const elsewhere = await upstreamServer((_b, res) =>
      reply(res, 200, { id: 'm', type: 'message', role: 'assistant', model: 'claude-x', content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 1 } }),
    );
    const up = await upstreamServer((_b, res) => {
      res.writeHead(307, { location: `${elsewhere.baseURL}/messages` });
      res.end();
    });
    const gw = await startGateway({ anthropic: { kind: 'anthropic', baseURL: up.baseURL, apiKey: KEY } });
    try {
      const res = await gw.post({ model: 'claude', messages: [{ role: 'user', content: 'secret prompt' }] });
      const body = (await res.json()) as { error: { type: string } };
      expect(up.seen).toHaveLength(1);
      expect(elsewhere.seen).toEqual([]);
      expect(res.status).toBe(503);
      expect(body.error.type).toBe('server_error');
    } finally {
      await gw.close();
      await up.close();
      await elsewhere.close();
    }
  });
});

describe('the gateway maps upstream statuses to what the client gets (real sockets)', () => {
  it('falls back when the primary upstream answers 404 with an HTML page (a wrong baseURL), never a 400 to the client', async () => {
    const broken = await upstreamServer((_b, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><html><body><pre>Cannot POST /v1/chat/completions</pre></body></html>');
    });
    const good = await upstreamServer((_b, res) => reply(res, 200, completionOf('fast-b')));
    const gw = await startGateway({
      primary: { kind: 'openai', baseURL: broken.baseURL, apiKey: 'upstream-secret-key' },
      backup: { kind: 'openai', baseURL: good.baseURL, apiKey: 'upstream-secret-key' },
    });
    try {
      const res = await gw.post({ model: 'support_reply', messages: [{ role: 'user', content: 'x' }] });
      await res.json();
      expect(res.status).toBe(200);
      expect(res.headers.get('x-llm-resilience-target')).toBe('fast-b');
      expect(broken.seen).toHaveLength(1);
    } finally {
      await gw.close();
      await broken.close();
      await good.close();
    }
  });

  it('answers a chain exhausted on upstream 429s with 503 and an error type that agrees with it', async () => {
    const limited = (_b: string, res: http.ServerResponse) => reply(res, 429, { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } });
    const a = await upstreamServer(limited);
    const b = await upstreamServer(limited);
    const gw = await startGateway({
      primary: { kind: 'openai', baseURL: a.baseURL, apiKey: 'upstream-secret-key' },
      backup: { kind: 'openai', baseURL: b.baseURL, apiKey: 'upstream-secret-key' },
    });
    try {
      const res = await gw.post({ model: 'support_reply', messages: [{ role: 'user', content: 'x' }] });
      const body = (await res.json()) as { error: { type: string } };
      expect(res.status).toBe(503);
      expect(body.error.type).toBe('server_error');
    } finally {
      await gw.close();
      await a.close();
      await b.close();
    }
  });

  it('sends only the capped max_completion_tokens when the client sent max_tokens too', async () => {
    const up = await upstreamServer((_b, res) => reply(res, 200, completionOf('fast-a')));
    const gw = await startGateway({ primary: { kind: 'openai', baseURL: up.baseURL, apiKey: 'upstream-secret-key' } });
    try {
      const res = await gw.post({ model: 'solo', max_tokens: 5000, max_completion_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
      expect(res.status).toBe(200);
      const sent = JSON.parse(up.seen[0]!.body) as Record<string, unknown>;
      expect(sent.max_completion_tokens).toBe(10);
      expect('max_tokens' in sent).toBe(false);
    } finally {
      await gw.close();
      await up.close();
    }
  });
});

describe('credentialsOf', () => {
  const base = { kind: 'openai', baseURL: 'http://upstream.test/v1' } as const;

  it('cuts a header value with an auth scheme whole and as the bare credential', () => {
    for (const scheme of ['Bearer', 'bearer', 'Token']) {
      expect(credentialsOf({ ...base, headers: { 'api-key': `${scheme}  tok-0123456789` } })).toEqual([`${scheme}  tok-0123456789`, 'tok-0123456789']);
    }
    expect(credentialsOf({ ...base, headers: { 'x-api-key': 'plain-key-0123456789', 'x-request-tag': 'Bearer not-a-secret' } })).toEqual(['plain-key-0123456789']);
  });

  it('cuts a Basic credential as its base64, its decoded user:password, its user and its password', () => {
    const encoded = Buffer.from('svc-user:p4ssw0rd-secret').toString('base64');
    expect(credentialsOf({ ...base, headers: { Authorization: `Basic ${encoded}` } })).toEqual([`Basic ${encoded}`, encoded, 'svc-user:p4ssw0rd-secret', 'svc-user', 'p4ssw0rd-secret']);
  });
});

describe('a wrong baseURL on a real provider (its own JSON 404 for an unknown path) falls back and never answers 400', () => {
  // The primary's 404 for a path that does not exist (a baseURL missing '/v1') fails the attempt and
  // fast-b answers 200, whatever JSON the provider answers an unknown path with.
  it.each([
    ['OpenAI (baseURL without /v1)', { error: { message: 'Invalid URL (POST /chat/completions)', type: 'invalid_request_error', param: null, code: null } }],
    ['Anthropic', { type: 'error', error: { type: 'not_found_error', message: 'Not Found' } }],
    ['Azure OpenAI (wrong path / api-version)', { error: { code: '404', message: 'Resource not found' } }],
  ])('%s', async (_name, notFoundBody) => {
    const broken = await upstreamServer((_b, res) => reply(res, 404, notFoundBody));
    const good = await upstreamServer((_b, res) => reply(res, 200, completionOf('fast-b')));
    const gw = await startGateway({
      primary: { kind: 'openai', baseURL: broken.origin, apiKey: 'upstream-secret-key' },
      backup: { kind: 'openai', baseURL: good.baseURL, apiKey: 'upstream-secret-key' },
    });
    try {
      const res = await gw.post({ model: 'support_reply', messages: [{ role: 'user', content: 'x' }] });
      await res.text();
      expect(broken.seen.map((r) => r.url)).toEqual(['/chat/completions']);
      expect({ status: res.status, target: res.headers.get('x-llm-resilience-target'), backupCalls: good.seen.length }).toEqual({ status: 200, target: 'fast-b', backupCalls: 1 });
    } finally {
      await gw.close();
      await broken.close();
      await good.close();
    }
  });
});

describe('a Basic credential whose secret is the user name (`Basic base64(<key>:)`) is cut when the upstream echoes it', () => {
  // `Basic base64(<key>:)` (Stripe-style): an upstream echoing the bare key must not bring it into alerts.
  it('the bare key from the user part is redacted in alerts', async () => {
    const key = 'tenant7Zq81LmX0pR4vKdW';
    const up = await upstreamServer((_b, res) => reply(res, 401, { error: { message: `Incorrect API key provided: ${key}.`, type: 'invalid_request_error', code: 'invalid_api_key' } }));
    const gw = await startGateway({ primary: { kind: 'openai', baseURL: up.baseURL, headers: { Authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` } } });
    try {
      const alerts: string[] = [];
      gw.engine.events.on('alert', (a) => alerts.push(a.message));
      const res = await gw.post({ model: 'solo', messages: [{ role: 'user', content: 'x' }] });
      await res.text();
      expect(alerts.length).toBeGreaterThan(0);
      expect(alerts.join('\n')).not.toContain(key);
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
