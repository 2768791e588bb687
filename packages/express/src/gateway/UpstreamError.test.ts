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
  it('cuts the credentials the call sent out of the body before anything reads it, skipping values too short to be secrets', async () => {
    const key = '0123456789abcdef0123456789abcdef';
    const body = { error: { message: `Incorrect API key provided: ${key} (version true)`, type: 'invalid_request_error', code: 'invalid_api_key' } };
    const e = await UpstreamHttpError.from('azure', new Response(JSON.stringify(body), { status: 401 }), [key, 'true']);
    expect(e.message).toBe("Upstream 'azure' answered HTTP 401: Incorrect API key provided: [redacted] (version true).");
    expect(JSON.stringify(e.error)).not.toContain(key);
    expect(classifyError(e).kind).toBe('auth');
  });
});
