import { inspect } from 'node:util';
import { classifyError } from '@llm-resilience/core';
import type { UpstreamConfig } from '../types';
import { completeUpstream, openUpstreamStream, type UpstreamCall } from './upstreamCall';
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
