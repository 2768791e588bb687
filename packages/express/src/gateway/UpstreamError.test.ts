import { inspect } from 'node:util';
import { classifyError } from '@llm-resilience/core';
import { UpstreamHttpError, UpstreamReplyError } from './UpstreamError';

describe('UpstreamReplyError', () => {
  it('is a network failure of our own when the body explains nothing', () => {
    const e = new UpstreamReplyError('openai', 'the body has no choices array');
    expect(e.message).toBe("Upstream 'openai' answered 2xx with a body that is not a reply: the body has no choices array.");
    expect(classifyError(e)).toMatchObject({ kind: 'network', code: 'ERR_LLMR_EXPRESS_UPSTREAM_BAD_REPLY' });
  });

  it('is classified by the provider payload of an error body', () => {
    const quota = new UpstreamReplyError('openai', 'the body is an error', { error: { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' } });
    expect(quota.code).toBeUndefined();
    expect(classifyError(quota).kind).toBe('quota_exhausted');
    expect(classifyError(new UpstreamReplyError('anthropic', 'the body is an error', { error: { type: 'overloaded_error', message: 'Overloaded' } })).kind).toBe('overloaded');
  });
});

describe('UpstreamHttpError.from', () => {
  it('classifies a body that is only a JSON string code by that code', async () => {
    const e = await UpstreamHttpError.from('proxy', new Response('"overloaded_error"', { status: 500 }));
    expect(e.error).toBe('overloaded_error');
    expect(classifyError(e)).toMatchObject({ kind: 'overloaded', status: 500, code: 'overloaded_error' });
  });

  it('cuts the credentials the call sent out of the body before anything reads it, skipping values too short to be secrets', async () => {
    const key = '0123456789abcdef0123456789abcdef';
    const body = { error: { message: `Incorrect API key provided: ${key} (version true)`, type: 'invalid_request_error', code: 'invalid_api_key' } };
    const e = await UpstreamHttpError.from('azure', new Response(JSON.stringify(body), { status: 401 }), [key, 'true']);
    expect(e.message).toBe("Upstream 'azure' answered HTTP 401: Incorrect API key provided: [redacted] (version true).");
    expect(JSON.stringify(e.error)).not.toContain(key);
    expect(classifyError(e).kind).toBe('auth');
  });

  // A key with '/' and '+' (a base64-style gateway token), echoed by serializers that escape them (PHP's
  // json_encode writes '\/', .NET's System.Text.Json '\u002B').
  const slashKey = 'gwt/7Hq2Lr9+Xv4Nc8Zp1Qa';
  const escapedKey = slashKey.replace('/', '\\/').replace('+', '\\u002B');

  it('cuts a key the JSON body writes with escapes: the body is parsed before it is scrubbed', async () => {
    const body = `{"error":{"message":"Incorrect API key provided: ${escapedKey}","type":"auth_error","code":"invalid_api_key"}}`;
    expect(body).not.toContain(slashKey);
    const e = await UpstreamHttpError.from('proxy', new Response(body, { status: 401 }), [slashKey]);
    expect(e.error).toEqual({ message: 'Incorrect API key provided: [redacted]', type: 'auth_error', code: 'invalid_api_key' });
    expect(e.message).toBe("Upstream 'proxy' answered HTTP 401: Incorrect API key provided: [redacted].");
    expect(inspect(e, { depth: Infinity })).not.toContain(slashKey);
  });

  it('cuts an escaped key out of a body that looks like JSON but does not parse', async () => {
    const body = `{"error":{"message":"Incorrect API key provided: ${escapedKey}","type":"auth_err`;
    const e = await UpstreamHttpError.from('proxy', new Response(body, { status: 401 }), [slashKey]);
    expect(typeof e.error).toBe('string');
    expect(e.error).toContain('Incorrect API key provided: [redacted]');
    expect(inspect(e, { depth: Infinity })).not.toContain(slashKey);
  });

  it('scrubs a text body whole before cutting it to 64 000 characters: a key across the cut is not half kept', async () => {
    const key = '0123456789abcdef0123456789abcdef';
    const body = `${'x'.repeat(63_990)}${key} and more`;
    const e = await UpstreamHttpError.from('proxy', new Response(body, { status: 502 }), [key]);
    expect(e.error).toBe(`${'x'.repeat(63_990)}[redacted]`);
    expect(String(e.error)).not.toContain(key.slice(0, 8));
  });

  it('treats a JSON body over 1 000 000 characters as text, scrubbed whole, escapes decoded, then cut', async () => {
    const body = JSON.stringify({ error: { message: `Incorrect API key provided: ${slashKey}`, padding: 'p'.repeat(1_000_000) } }).replace(slashKey, escapedKey);
    const e = await UpstreamHttpError.from('proxy', new Response(body, { status: 401 }), [slashKey]);
    expect(typeof e.error).toBe('string');
    expect((e.error as string).length).toBe(64_000);
    expect(e.error).toContain('Incorrect API key provided: [redacted]');
    expect(inspect(e, { depth: Infinity })).not.toContain(slashKey);
  });
});

describe('UpstreamHttpError.from reads a bounded part of the body', () => {
  function endlessBody(piece: string) {
    const bytes = new TextEncoder().encode(piece);
    const seen = { bytes: 0, cancelled: false };
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          seen.bytes += bytes.byteLength;
          controller.enqueue(bytes);
        },
        cancel() {
          seen.cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    return { stream, seen };
  }

  it('stops at 1 MiB of an endless error body, cancels it, and keeps 64 000 characters of it as text, scrubbed', async () => {
    const key = '0123456789abcdef0123456789abcdef';
    const { stream, seen } = endlessBody(`upstream error ${key} `.repeat(1_000));
    const e = await UpstreamHttpError.from('proxy', new Response(stream, { status: 503 }), [key]);
    expect(seen.cancelled).toBe(true);
    expect(seen.bytes).toBeLessThan(1024 * 1024 + 64 * 1024);
    expect(typeof e.error).toBe('string');
    expect((e.error as string).length).toBeLessThanOrEqual(64_000);
    expect(e.error).not.toContain(key);
    expect(classifyError(e).kind).toBe('overloaded');
  });

  it('reads less when told, and does not parse a JSON body it did not read whole', async () => {
    const body = JSON.stringify({ error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded', padding: 'p'.repeat(500) } });
    const whole = await UpstreamHttpError.from('proxy', new Response(body, { status: 429 }), [], 10_000);
    expect(whole.error).toMatchObject({ code: 'rate_limit_exceeded' });
    const cut = await UpstreamHttpError.from('proxy', new Response(body, { status: 429 }), [], 100);
    expect(cut.error).toBe(body.slice(0, 100));
    expect(classifyError(cut).kind).toBe('rate_limited');
  });
});

describe('UpstreamHttpError.from: answers that are the server side\'s misconfiguration', () => {
  it.each([404, 405])('a %i without a provider error body (an HTML page, a wrong baseURL) falls back as unknown, not invalid_request', async (status) => {
    const e = await UpstreamHttpError.from('proxy', new Response('<html><body>Cannot POST /v1/chat/completions</body></html>', { status, headers: { 'content-type': 'text/html' } }));
    expect(e.message).toBe(`Upstream 'proxy' answered HTTP ${status}: no such endpoint (check the baseURL).`);
    expect(classifyError(e)).toMatchObject({ kind: 'unknown', code: 'ERR_LLMR_EXPRESS_UPSTREAM_NOT_FOUND' });
  });

  it("keeps a 404 about a missing model auth; a provider's own 404 for an unknown path falls back too", async () => {
    const ollama = await UpstreamHttpError.from('ollama', new Response(JSON.stringify({ error: 'model "llama9" not found, try pulling it first' }), { status: 404 }));
    expect(classifyError(ollama).kind).toBe('auth');
    const openai = await UpstreamHttpError.from('openai', new Response(JSON.stringify({ error: { message: 'The model `gpt-9` does not exist', type: 'invalid_request_error', code: 'model_not_found' } }), { status: 404 }));
    expect(classifyError(openai).kind).toBe('auth');
    // A missing /v1 in the baseURL: OpenAI's, Anthropic's and Azure's JSON for an unknown path.
    for (const body of [
      { error: { message: 'Invalid URL (POST /chat/completions)', type: 'invalid_request_error', code: null } },
      { type: 'error', error: { type: 'not_found_error', message: 'Not Found' } },
      { error: { code: '404', message: 'Resource not found' } },
    ]) {
      const e = await UpstreamHttpError.from('primary', new Response(JSON.stringify(body), { status: 404 }));
      expect(classifyError(e)).toMatchObject({ kind: 'unknown', code: 'ERR_LLMR_EXPRESS_UPSTREAM_NOT_FOUND' });
    }
  });

  it('makes a redirect a failed attempt of kind unknown, without its Location', async () => {
    const e = await UpstreamHttpError.from('proxy', new Response(null, { status: 307, headers: { location: 'https://elsewhere.test/v1?token=abc' } }));
    expect(e.message).toBe("Upstream 'proxy' answered HTTP 307: a redirect, not followed (check the baseURL).");
    expect(e.message).not.toContain('elsewhere');
    expect(classifyError(e)).toMatchObject({ kind: 'unknown', code: 'ERR_LLMR_EXPRESS_UPSTREAM_REDIRECT' });
  });
});
