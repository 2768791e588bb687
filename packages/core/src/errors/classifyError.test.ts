import Anthropic from '@anthropic-ai/sdk';
import { addLangChainErrorFields, ContextOverflowError, ModelAbortError, ModelRefusalError } from '@langchain/core/errors';
import fc from 'fast-check';
import { createServer, type AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { ContentFilterFinishReasonError, LengthFinishReasonError } from 'openai/error';
import { classifyError, classifyWithHintSource } from './classifyError';
import { ERROR_KINDS, type ErrorKind } from './ErrorKind';
import { Redactor } from './Redactor';
import { ResilienceError } from './ResilienceError';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const classify = (err: unknown) => classifyError(err, { now: NOW });

function openAIError(status: number, error: Record<string, unknown>, headers: Record<string, string> = {}) {
  return OpenAI.APIError.generate(status, { error }, undefined, new Headers(headers));
}

function anthropicError(status: number, type: string, message: string, headers: Record<string, string> = {}, details?: object) {
  const body = { type: 'error', error: { type, message, ...(details ? { details } : {}) } };
  return Anthropic.APIError.generate(status, body, undefined, new Headers(headers));
}

function nodeError(code: string, message = `connect ${code} 127.0.0.1:443`): Error {
  return Object.assign(new Error(message), { code });
}

function googleBody(code: number, status: string, message: string, details: unknown[] = []) {
  return { error: { code, status, message, details } };
}

const RETRY_INFO = { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '19.42s' };
const QUOTA_FAILURE = {
  '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
  violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }],
};

describe('classifyError: openai SDK errors', () => {
  it('RateLimitError rate_limit_exceeded -> rate_limited with retry hint and rate-limit snapshot', () => {
    const err = openAIError(
      429,
      { message: 'Rate limit reached for gpt-4o on requests per min (RPM): Limit 500, Used 500, Requested 1.', type: 'requests', code: 'rate_limit_exceeded', param: null },
      {
        'retry-after-ms': '850',
        'retry-after': '1',
        'x-ratelimit-limit-requests': '500',
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-reset-requests': '1s',
        'x-ratelimit-limit-tokens': '30000',
        'x-ratelimit-remaining-tokens': '29000',
        'x-ratelimit-reset-tokens': '6m0s',
      },
    );
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(classify(err)).toEqual({
      kind: 'rate_limited',
      status: 429,
      code: 'rate_limit_exceeded',
      message: 'Rate limit reached for gpt-4o on requests per min (RPM): Limit 500, Used 500, Requested 1.',
      retryAfterMs: 850,
      rateLimit: {
        limitRequests: 500,
        remainingRequests: 0,
        requestsResetAt: NOW + 1000,
        limitTokens: 30_000,
        remainingTokens: 29_000,
        tokensResetAt: NOW + 360_000,
      },
      cause: err,
    });
  });

  it('reads retry-after seconds and HTTP dates from the error headers', () => {
    const seconds = new OpenAI.RateLimitError(429, { message: 'slow down', code: 'rate_limit_exceeded' }, undefined, new Headers({ 'retry-after': '2.5' }));
    expect(classify(seconds).retryAfterMs).toBe(2500);
    const date = openAIError(429, { message: 'slow down' }, { 'retry-after': new Date(NOW + 7000).toUTCString() });
    expect(classify(date)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 7000 });
  });

  it('reads "Please try again in 6ms / 1.5s" from the message when no header says when', () => {
    const err = openAIError(429, {
      message: 'Rate limit reached for gpt-4o-mini in organization org-x on tokens per min (TPM): Limit 200000, Used 199000, Requested 2000. Please try again in 1.5s. Visit https://platform.openai.com/account/rate-limits to learn more.',
      type: 'tokens',
      code: 'rate_limit_exceeded',
    });
    expect(classify(err)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 1500 });
    const ms = openAIError(429, { message: 'Please try again in 6ms.', code: 'rate_limit_exceeded' });
    expect(classify(ms).retryAfterMs).toBe(6);
  });

  it('insufficient_quota is quota_exhausted even though the status is 429', () => {
    const err = openAIError(429, {
      message: 'You exceeded your current quota, please check your plan and billing details.',
      type: 'insufficient_quota',
      code: 'insufficient_quota',
    });
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(classify(err)).toMatchObject({ kind: 'quota_exhausted', status: 429, code: 'insufficient_quota' });
  });

  it('billing_hard_limit_reached -> quota_exhausted', () => {
    const err = openAIError(400, { message: 'Billing hard limit has been reached', type: 'invalid_request_error', code: 'billing_hard_limit_reached' });
    expect(classify(err)).toMatchObject({ kind: 'quota_exhausted', status: 400, code: 'billing_hard_limit_reached' });
  });

  it('a rate limit message that links to billing stays rate_limited', () => {
    const err = openAIError(429, {
      message: 'Rate limit reached on requests per min. Please add a payment method at https://platform.openai.com/account/billing to increase your rate limit.',
      type: 'requests',
      code: 'rate_limit_exceeded',
    });
    expect(classify(err).kind).toBe('rate_limited');
  });

  it('context_length_exceeded and "maximum context length" -> context_length', () => {
    const coded = openAIError(400, {
      message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130412 tokens. Please reduce the length of the messages.",
      type: 'invalid_request_error',
      param: 'messages',
      code: 'context_length_exceeded',
    });
    expect(coded).toBeInstanceOf(OpenAI.BadRequestError);
    expect(classify(coded)).toMatchObject({ kind: 'context_length', status: 400, code: 'context_length_exceeded' });
    const uncoded = openAIError(400, { message: "This model's maximum context length is 8192 tokens.", type: 'invalid_request_error', code: null });
    expect(classify(uncoded)).toMatchObject({ kind: 'context_length', code: 'invalid_request_error' });
  });

  it('content_policy_violation and content_filter -> policy_rejected', () => {
    const dalle = openAIError(400, { message: 'Your request was rejected as a result of our safety system.', type: 'invalid_request_error', code: 'content_policy_violation' });
    expect(classify(dalle)).toMatchObject({ kind: 'policy_rejected', code: 'content_policy_violation' });
    const filter = openAIError(400, { message: 'The response was filtered.', code: 'content_filter' });
    expect(classify(filter)).toMatchObject({ kind: 'policy_rejected', code: 'content_filter' });
  });

  it('401 and 403 -> auth, and never echoes an API key', () => {
    const bad = openAIError(401, {
      message: 'Incorrect API key provided: sk-proj-AbCdEfGhIjKlMnOpQrStUv. You can find your API key at https://platform.openai.com/account/api-keys.',
      type: 'invalid_request_error',
      code: 'invalid_api_key',
    });
    expect(bad).toBeInstanceOf(OpenAI.AuthenticationError);
    const c = classify(bad);
    expect(c).toMatchObject({ kind: 'auth', status: 401, code: 'invalid_api_key' });
    expect(c.message).not.toContain('AbCdEfGhIjKlMnOpQrStUv');
    const denied = openAIError(403, { message: 'Project does not have access to model gpt-x', type: 'invalid_request_error', code: 'model_not_found' });
    expect(denied).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(classify(denied)).toMatchObject({ kind: 'auth', status: 403 });
  });

  it('a model or deployment the key cannot reach -> auth: no retry, another target may serve the request, the team is alerted', () => {
    const retired = openAIError(404, { message: 'The model `gpt-4-0314` does not exist or you do not have access to it.', type: 'invalid_request_error', code: 'model_not_found' });
    expect(retired).toBeInstanceOf(OpenAI.NotFoundError);
    expect(classify(retired)).toMatchObject({ kind: 'auth', status: 404, code: 'model_not_found' });
    // Azure OpenAI: a deployment name the resource does not have.
    const azure = openAIError(404, { code: 'DeploymentNotFound', message: 'The API deployment for this resource does not exist.' });
    expect(classify(azure)).toMatchObject({ kind: 'auth', status: 404, code: 'DeploymentNotFound' });
    // Anthropic names only the model; Gemini, Ollama and vLLM say it in words.
    expect(classify(anthropicError(404, 'not_found_error', 'model: claude-3-opus-20240229'))).toMatchObject({ kind: 'auth', status: 404, code: 'not_found_error' });
    expect(classify(googleBody(404, 'NOT_FOUND', 'models/gemini-1.0-pro is not found for API version v1beta, or is not supported for generateContent.'))).toMatchObject({ kind: 'auth', status: 404 });
    expect(classify({ status: 404, body: '{"error":"model \\"llama3\\" not found, try pulling it first"}' })).toMatchObject({ kind: 'auth', status: 404 });
    expect(classify({ status: 404, body: JSON.stringify({ object: 'error', message: 'The model `mistral-7b` does not exist.', type: 'NotFoundError', code: 404 }) })).toMatchObject({ kind: 'auth', status: 404 });
    // A gRPC NOT_FOUND without an HTTP status, about the model.
    expect(classify(Object.assign(new Error('5 NOT_FOUND: models/gemini-x is not found'), { code: 5 }))).toMatchObject({ kind: 'auth' });
  });

  it('a 404 that is not about the model, or a 400 that names the model, stays invalid_request', () => {
    expect(classify(anthropicError(404, 'not_found_error', 'Not Found: /v1/messages/batches/msgbatch_01'))).toMatchObject({ kind: 'invalid_request', status: 404 });
    const unsupported = openAIError(400, { message: "Unsupported parameter: 'temperature' is not supported with this model.", type: 'invalid_request_error', code: 'unsupported_parameter' });
    expect(classify(unsupported)).toMatchObject({ kind: 'invalid_request', status: 400 });
    const notFoundParam = openAIError(400, { message: 'The model `gpt-x` does not exist', type: 'invalid_request_error', code: null });
    expect(classify(notFoundParam)).toMatchObject({ kind: 'invalid_request', status: 400 });
  });

  it('404 and 422 -> invalid_request', () => {
    const notFound = openAIError(404, { message: 'No file found with id file-abc123.', type: 'invalid_request_error', code: null });
    expect(notFound).toBeInstanceOf(OpenAI.NotFoundError);
    expect(classify(notFound)).toMatchObject({ kind: 'invalid_request', status: 404 });
    const unprocessable = openAIError(422, { message: 'Unprocessable' });
    expect(unprocessable).toBeInstanceOf(OpenAI.UnprocessableEntityError);
    expect(classify(unprocessable)).toMatchObject({ kind: 'invalid_request', status: 422 });
  });

  it.each<[number, ErrorKind]>([
    [500, 'unknown'],
    [502, 'unknown'],
    [503, 'overloaded'],
    [504, 'timeout'],
  ])('InternalServerError %i -> %s (keeps the status)', (status, kind) => {
    const err = openAIError(status, { message: 'The server had an error while processing your request.', type: 'server_error' });
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(classify(err)).toMatchObject({ kind, status });
  });

  it('APIConnectionError -> network, refined by its cause', () => {
    expect(classify(new OpenAI.APIConnectionError({}))).toMatchObject({ kind: 'network', message: 'Connection error.' });
    const reset = new OpenAI.APIConnectionError({ cause: new TypeError('fetch failed', { cause: nodeError('ECONNRESET', 'read ECONNRESET') }) });
    expect(classify(reset)).toMatchObject({ kind: 'network', code: 'ECONNRESET', message: 'read ECONNRESET' });
    const slow = new OpenAI.APIConnectionError({ cause: new TypeError('fetch failed', { cause: nodeError('UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error') }) });
    expect(classify(slow)).toMatchObject({ kind: 'timeout', code: 'UND_ERR_CONNECT_TIMEOUT' });
  });

  it('APIConnectionTimeoutError -> timeout', () => {
    expect(classify(new OpenAI.APIConnectionTimeoutError())).toMatchObject({ kind: 'timeout', message: 'Request timed out.' });
  });

  it('APIUserAbortError -> cancelled, unless the abort reason is a timeout', () => {
    expect(classify(new OpenAI.APIUserAbortError())).toMatchObject({ kind: 'cancelled' });
    // What the client throws when the caller's signal aborts: the signal's reason as `cause`.
    const timedOut = new OpenAI.APIUserAbortError();
    Object.defineProperty(timedOut, 'cause', { value: new DOMException('The operation timed out.', 'TimeoutError') });
    expect(classify(timedOut).kind).toBe('timeout');
    const aborted = new OpenAI.APIUserAbortError();
    Object.defineProperty(aborted, 'cause', { value: new DOMException('This operation was aborted', 'AbortError') });
    expect(classify(aborted).kind).toBe('cancelled');
  });

  it('ContentFilterFinishReasonError -> policy_rejected, LengthFinishReasonError -> validation_failed', () => {
    expect(classify(new ContentFilterFinishReasonError()).kind).toBe('policy_rejected');
    expect(classify(new LengthFinishReasonError()).kind).toBe('validation_failed');
  });
});

describe('classifyError: a 429 for one request over the rate limit on its own ("Request too large")', () => {
  const TOO_LARGE =
    'Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 50000. ' +
    'The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.';

  it('is rate_limited with retryAfterMs Infinity: no wait makes it fit, another target may', () => {
    const err = openAIError(429, { message: TOO_LARGE, type: 'tokens', code: 'rate_limit_exceeded', param: null });
    expect(classifyWithHintSource(err, { now: NOW })).toEqual({
      classified: { kind: 'rate_limited', status: 429, code: 'rate_limit_exceeded', message: expect.stringContaining('Request too large for gpt-4o'), retryAfterMs: Infinity, cause: err },
      hintSource: 'provider',
    });
  });

  it('beats a retry hint or a quota reset the same 429 carries, and is read from bodies without a code', () => {
    const headers = { 'retry-after': '2', 'x-ratelimit-limit-tokens': '30000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' };
    expect(classify(openAIError(429, { message: TOO_LARGE, code: 'rate_limit_exceeded' }, headers)).retryAfterMs).toBe(Infinity);
    expect(classify({ status: 429, body: { error: { message: 'Request too large for model x on tokens per day (TPD).' } } })).toMatchObject({ kind: 'rate_limited', retryAfterMs: Infinity });
  });

  it('leaves ordinary 429s, Azure\'s long hint, and a 413 request_too_large as they were', () => {
    const used = 'Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s.';
    expect(classify(openAIError(429, { message: used, code: 'rate_limit_exceeded' }))).toMatchObject({ kind: 'rate_limited', retryAfterMs: 2000 });
    const azure = 'Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-08-01-preview have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 86400 seconds.';
    expect(classify(openAIError(429, { code: '429', message: azure }))).toMatchObject({ kind: 'rate_limited', retryAfterMs: 86_400_000 });
    expect(classify(anthropicError(413, 'request_too_large', 'Request exceeds the maximum size'))).toMatchObject({ kind: 'invalid_request', status: 413 });
    expect(classify(openAIError(400, { message: 'Request too large: reduce the input.', code: null }))).toMatchObject({ kind: 'invalid_request' });
  });

  it("keeps Infinity on our own errors (a RateLimitExceededError that can never pass)", () => {
    const own = new ResilienceError('can never pass', { kind: 'rate_limited', code: 'ERR_LLMR_LIMIT_EXCEEDED', retryAfterMs: Infinity });
    expect(classify(own)).toMatchObject({ kind: 'rate_limited', retryAfterMs: Infinity });
  });
});

describe('classifyError: a 429 with rate-limit headers and no retry-after', () => {
  it('waits for the reset of the exhausted quota (OpenAI x-ratelimit-reset-*)', () => {
    const err = openAIError(429, { code: 'rate_limit_exceeded', message: 'Rate limit reached' }, { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '20s', 'x-ratelimit-remaining-tokens': '9000', 'x-ratelimit-reset-tokens': '6m0s' });
    expect(classify(err)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 20_000 });
    // retry-after, when sent, wins.
    const both = openAIError(429, { code: 'rate_limit_exceeded' }, { 'retry-after': '3', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '20s' });
    expect(classify(both).retryAfterMs).toBe(3_000);
    // Nothing exhausted: the headers say nothing about when this 429 passes.
    const none = openAIError(429, { code: 'rate_limit_exceeded' }, { 'x-ratelimit-remaining-requests': '4', 'x-ratelimit-reset-requests': '20s' });
    expect(classify(none).retryAfterMs).toBeUndefined();
  });

  it('waits for the reset of the exhausted quota (Anthropic anthropic-ratelimit-*-reset, RFC 3339)', () => {
    const err = anthropicError(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit', {
      'anthropic-ratelimit-input-tokens-remaining': '0',
      'anthropic-ratelimit-input-tokens-reset': new Date(NOW + 42_000).toISOString(),
    });
    expect(classify(err)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 42_000 });
  });
});

describe('classifyWithHintSource: where retryAfterMs came from', () => {
  const spent = { 'x-ratelimit-limit-tokens': '10000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' };
  const sourceOf = (err: unknown) => {
    const { classified, hintSource } = classifyWithHintSource(err, { now: NOW });
    return { retryAfterMs: classified.retryAfterMs, hintSource };
  };

  it("says 'quota_reset' when the hint is only the reset of the exhausted quota", () => {
    expect(sourceOf(openAIError(429, { code: 'rate_limit_exceeded' }, spent))).toEqual({ retryAfterMs: 360_000, hintSource: 'quota_reset' });
    const anthropic = anthropicError(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit', {
      'anthropic-ratelimit-input-tokens-limit': '40000',
      'anthropic-ratelimit-input-tokens-remaining': '0',
      'anthropic-ratelimit-input-tokens-reset': new Date(NOW + 42_000).toISOString(),
    });
    expect(sourceOf(anthropic)).toEqual({ retryAfterMs: 42_000, hintSource: 'quota_reset' });
  });

  it("says 'provider' for every hint the provider gave, even beside an exhausted quota", () => {
    expect(sourceOf(openAIError(429, { code: 'rate_limit_exceeded' }, { ...spent, 'retry-after': '30' }))).toEqual({ retryAfterMs: 30_000, hintSource: 'provider' });
    expect(sourceOf(openAIError(429, { code: 'rate_limit_exceeded' }, { ...spent, 'retry-after-ms': '1500' }))).toEqual({ retryAfterMs: 1_500, hintSource: 'provider' });
    expect(sourceOf({ status: 429, headers: { ...spent, 'x-ms-retry-after-ms': '350' } })).toEqual({ retryAfterMs: 350, hintSource: 'provider' });
    const gemini = { status: 429, headers: spent, body: googleBody(429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted.', [RETRY_INFO]) };
    expect(sourceOf(gemini)).toEqual({ retryAfterMs: 19_420, hintSource: 'provider' });
    const text = openAIError(429, { code: 'rate_limit_exceeded', message: 'Rate limit reached for tokens per min (TPM). Please try again in 2.5s.' }, spent);
    expect(sourceOf(text)).toEqual({ retryAfterMs: 2_500, hintSource: 'provider' });
    // A past retry-after date is still the provider's word (0: no wait, not the reset).
    expect(sourceOf({ status: 429, headers: { ...spent, 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' } })).toEqual({ retryAfterMs: 0, hintSource: 'provider' });
  });

  it('says nothing when there is no hint, and classifies as classifyError does', () => {
    expect(sourceOf(openAIError(503, { message: 'overloaded' }))).toEqual({ retryAfterMs: undefined, hintSource: undefined });
    // Not rate_limited: the reset is no hint at all.
    const quota = openAIError(429, { code: 'insufficient_quota', type: 'insufficient_quota' }, spent);
    expect(sourceOf(quota)).toEqual({ retryAfterMs: undefined, hintSource: undefined });
    for (const err of [openAIError(429, { code: 'rate_limit_exceeded' }, spent), null, 'boom', new Error('x')]) {
      expect(classifyWithHintSource(err, { now: NOW }).classified).toEqual(classify(err));
    }
  });
});

describe('classifyError: @anthropic-ai/sdk errors', () => {
  it('529 overloaded_error -> overloaded', () => {
    const err = anthropicError(529, 'overloaded_error', 'Overloaded');
    expect(err).toBeInstanceOf(Anthropic.OverloadedError);
    expect(classify(err)).toMatchObject({ kind: 'overloaded', status: 529, code: 'overloaded_error', message: 'Overloaded' });
  });

  it('429 rate_limit_error -> rate_limited with retry-after and anthropic-ratelimit-* (RFC 3339)', () => {
    const err = anthropicError(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit', {
      'retry-after': '17',
      'anthropic-ratelimit-input-tokens-limit': '40000',
      'anthropic-ratelimit-input-tokens-remaining': '0',
      'anthropic-ratelimit-input-tokens-reset': '2026-03-01T12:00:17Z',
    });
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect(classify(err)).toMatchObject({
      kind: 'rate_limited',
      status: 429,
      code: 'rate_limit_error',
      retryAfterMs: 17_000,
      rateLimit: { limitInputTokens: 40_000, remainingInputTokens: 0, inputTokensResetAt: NOW + 17_000 },
    });
  });

  it('413 request_too_large -> invalid_request', () => {
    const err = anthropicError(413, 'request_too_large', 'Request exceeds the maximum allowed number of bytes.');
    expect(err).toBeInstanceOf(Anthropic.ContentTooLargeError);
    expect(classify(err)).toMatchObject({ kind: 'invalid_request', status: 413, code: 'request_too_large' });
  });

  it('invalid_request_error "prompt is too long" -> context_length', () => {
    const err = anthropicError(400, 'invalid_request_error', 'prompt is too long: 212345 tokens > 200000 maximum');
    expect(classify(err)).toMatchObject({ kind: 'context_length', status: 400, code: 'invalid_request_error' });
    const limit = anthropicError(400, 'invalid_request_error', 'input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000, decrease input length or `max_tokens` and try again');
    expect(classify(limit).kind).toBe('context_length');
  });

  it('billing -> quota_exhausted (credit balance message, billing_error, spend-limit codes)', () => {
    const credit = anthropicError(400, 'invalid_request_error', 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.');
    expect(classify(credit)).toMatchObject({ kind: 'quota_exhausted', status: 400 });
    const billing = anthropicError(402, 'billing_error', 'Payment required');
    expect(billing).toBeInstanceOf(Anthropic.PaymentRequiredError);
    expect(classify(billing)).toMatchObject({ kind: 'quota_exhausted', code: 'billing_error' });
    const spend = anthropicError(429, 'rate_limit_error', 'Spend limit reached', {}, { error_code: 'enforced_spend_limit_reached' });
    expect(classify(spend)).toMatchObject({ kind: 'quota_exhausted', status: 429, code: 'enforced_spend_limit_reached' });
  });

  it('401 / 403 -> auth, 404 of a model -> auth, other 404 -> invalid_request, 500 api_error -> unknown, 504 timeout_error -> timeout', () => {
    expect(classify(anthropicError(401, 'authentication_error', 'invalid x-api-key'))).toMatchObject({ kind: 'auth', status: 401 });
    expect(classify(anthropicError(403, 'permission_error', 'no access'))).toMatchObject({ kind: 'auth', status: 403 });
    expect(classify(anthropicError(404, 'not_found_error', 'model: claude-x'))).toMatchObject({ kind: 'auth', status: 404 });
    expect(classify(anthropicError(404, 'not_found_error', 'Not Found'))).toMatchObject({ kind: 'invalid_request', status: 404 });
    expect(classify(anthropicError(500, 'api_error', 'Internal server error'))).toMatchObject({ kind: 'unknown', status: 500, code: 'api_error' });
    expect(classify(anthropicError(504, 'timeout_error', 'Request timed out'))).toMatchObject({ kind: 'timeout', status: 504 });
  });

  it('connection, timeout and abort errors', () => {
    expect(classify(new Anthropic.APIConnectionError({ message: undefined })).kind).toBe('network');
    expect(classify(new Anthropic.APIConnectionTimeoutError()).kind).toBe('timeout');
    expect(classify(new Anthropic.APIUserAbortError()).kind).toBe('cancelled');
  });
});

describe('classifyError: Azure OpenAI', () => {
  it('content_filter with innererror ResponsibleAIPolicyViolation -> policy_rejected', () => {
    const err = OpenAI.APIError.generate(
      400,
      {
        error: {
          message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
          type: null,
          param: 'prompt',
          code: 'content_filter',
          status: 400,
          innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: { hate: { filtered: true, severity: 'high' } } },
        },
      },
      undefined,
      new Headers(),
    );
    expect(classify(err)).toMatchObject({ kind: 'policy_rejected', status: 400, code: 'content_filter' });
    const onlyInner = { status: 400, error: { message: 'filtered', innererror: { code: 'ResponsibleAIPolicyViolation' } } };
    expect(classify(onlyInner)).toMatchObject({ kind: 'policy_rejected', code: 'ResponsibleAIPolicyViolation' });
  });

  it('429 with x-ms-retry-after-ms -> rate_limited with that hint', () => {
    const err = openAIError(
      429,
      { code: '429', message: 'Requests to the ChatCompletions_Create Operation have exceeded token rate limit of your current pricing tier. Please retry after 6 seconds.' },
      { 'x-ms-retry-after-ms': '5500', 'retry-after': '6' },
    );
    expect(classify(err)).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 5500 });
    const textOnly = { status: 429, body: { error: { code: '429', message: 'Please retry after 6 seconds.' } } };
    expect(classify(textOnly)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 6000 });
  });

  it('a 200 response with finish_reason content_filter is not an error', () => {
    const ok = { status: 200, headers: {}, body: { choices: [{ finish_reason: 'content_filter', message: { content: null } }] } };
    expect(classify(ok).kind).not.toBe('policy_rejected');
    expect(classify(ok).kind).toBe('unknown');
  });
});

describe('classifyError: Gemini / Vertex bodies', () => {
  const dailyViolation = {
    '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
    violations: [{ quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier' }],
  };

  it('RESOURCE_EXHAUSTED with RetryInfo -> rate_limited, retryAfterMs 19420', () => {
    const body = googleBody(429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota, please check your plan and billing details.', [QUOTA_FAILURE, RETRY_INFO]);
    const plain = { status: 429, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    expect(classify(plain)).toMatchObject({ kind: 'rate_limited', status: 429, code: 'RESOURCE_EXHAUSTED', retryAfterMs: 19_420 });
    expect(classify(body)).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 19_420 });
  });

  it('a per-day quota with no retry is still rate_limited unless it mentions billing', () => {
    const vertex = googleBody(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_day_per_project.', [dailyViolation]);
    expect(classify(vertex)).toMatchObject({ kind: 'rate_limited', status: 429 });
    const billing = googleBody(429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota, please check your plan and billing details.', [dailyViolation]);
    expect(classify(billing)).toMatchObject({ kind: 'quota_exhausted', status: 429, code: 'RESOURCE_EXHAUSTED' });
  });

  it('UNAVAILABLE -> overloaded, DEADLINE_EXCEEDED -> timeout', () => {
    expect(classify(googleBody(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'))).toMatchObject({ kind: 'overloaded', status: 503, code: 'UNAVAILABLE' });
    expect(classify(googleBody(504, 'DEADLINE_EXCEEDED', 'Deadline expired before operation could complete.'))).toMatchObject({ kind: 'timeout', status: 504 });
  });

  it('INVALID_ARGUMENT with token count exceeded -> context_length, otherwise invalid_request', () => {
    const tooLong = googleBody(400, 'INVALID_ARGUMENT', 'The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).');
    expect(classify(tooLong)).toMatchObject({ kind: 'context_length', status: 400, code: 'INVALID_ARGUMENT' });
    expect(classify(googleBody(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.'))).toMatchObject({ kind: 'invalid_request' });
  });

  it('gRPC status without an HTTP status still classifies', () => {
    expect(classify({ code: 'RESOURCE_EXHAUSTED', message: 'quota' }).kind).toBe('rate_limited');
    // @grpc/grpc-js / google-gax: numeric code, status name in the message.
    const grpc = (code: number, name: string) => Object.assign(new Error(`${code} ${name}: details`), { code, details: 'details', metadata: {} });
    expect(classify(grpc(8, 'RESOURCE_EXHAUSTED'))).toMatchObject({ kind: 'rate_limited', code: 'RESOURCE_EXHAUSTED' });
    expect(classify(grpc(14, 'UNAVAILABLE')).kind).toBe('overloaded');
    expect(classify(grpc(4, 'DEADLINE_EXCEEDED')).kind).toBe('timeout');
    expect(classify({ error: { status: 'UNAVAILABLE', message: 'x' } }).kind).toBe('overloaded');
    expect(classify({ error: { status: 'DEADLINE_EXCEEDED' } }).kind).toBe('timeout');
  });

  it('@google/genai-style ApiError (JSON body in the message)', () => {
    const err = Object.assign(new Error(JSON.stringify(googleBody(429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted.', [RETRY_INFO]))), {
      name: 'ApiError',
      status: 429,
    });
    expect(classify(err)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 19_420, message: 'Resource has been exhausted.' });
  });

  it('a Gemini body passed on as the message of an OpenAI-compatible error reads as the body itself', () => {
    const inner = googleBody(429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).', [RETRY_INFO]);
    const wrapped = openAIError(429, { message: JSON.stringify(inner, null, 2), code: 429, status: 'Too Many Requests' });
    expect(classify(wrapped)).toMatchObject({ kind: 'rate_limited', status: 429, code: 'RESOURCE_EXHAUSTED', retryAfterMs: 19_420, message: 'Resource has been exhausted (e.g. check quota).' });
    // The inner status decides over the wrapper's.
    const overloaded = { status: 500, error: { message: JSON.stringify(googleBody(503, 'UNAVAILABLE', 'The model is overloaded.')), code: 500 } };
    expect(classify(overloaded)).toMatchObject({ kind: 'overloaded', code: 'UNAVAILABLE' });
    expect(classify({ error: { message: JSON.stringify(inner) } })).toMatchObject({ kind: 'rate_limited', retryAfterMs: 19_420 });
  });

  it('older Google SDKs: the body after a status line in the message (no status field)', () => {
    const body = googleBody(429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).', [RETRY_INFO]);
    const client = Object.assign(new Error(`got status: 429 Too Many Requests. ${JSON.stringify(body)}`), { name: 'ClientError' });
    expect(classify(client)).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 19_420 });
    const server = Object.assign(new Error(`[VertexAI.ServerError]: got status: 503 Service Unavailable. ${JSON.stringify(googleBody(503, 'UNAVAILABLE', 'overloaded'))}`), {
      name: 'ServerError',
    });
    expect(classify(server)).toMatchObject({ kind: 'overloaded', status: 503 });
    // JSON that is not an error body (a request echoed in a message) is not read as one.
    expect(classify(new Error('Invalid value for tools: {"type":"function","status":503}'))).toMatchObject({ kind: 'unknown' });
  });

  describe('an ErrorInfo reason about the key or credentials is auth, whatever the status', () => {
    /** The real body of the Gemini API (generativelanguage.googleapis.com) for a bad or expired key: a 400. */
    const errorInfo = (reason: string) => ({
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason,
      domain: 'googleapis.com',
      metadata: { service: 'generativelanguage.googleapis.com' },
    });
    const apiKeyInvalid = googleBody(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
      errorInfo('API_KEY_INVALID'),
      { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message: 'API key not valid. Please pass a valid API key.' },
    ]);

    it('a Gemini 400 INVALID_ARGUMENT with API_KEY_INVALID (REST body) is auth, not invalid_request (which stops the route)', () => {
      expect(classify(apiKeyInvalid)).toMatchObject({ kind: 'auth', status: 400, code: 'API_KEY_INVALID', message: 'API key not valid. Please pass a valid API key.' });
      expect(classify({ status: 400, headers: {}, body: JSON.stringify(apiKeyInvalid) })).toMatchObject({ kind: 'auth', status: 400 });
    });

    it('the same body thrown by @google/genai (JSON in the message, status 400) is auth', () => {
      const err = Object.assign(new Error(JSON.stringify(apiKeyInvalid)), { name: 'ApiError', status: 400 });
      expect(classify(err)).toMatchObject({ kind: 'auth', status: 400, code: 'API_KEY_INVALID' });
    });

    it('@google/generative-ai (errorDetails) and google-gax (reason + domain on the error) are auth', () => {
      const fetchError = Object.assign(new Error('[GoogleGenerativeAI Error]: Error fetching from https://x: [400 Bad Request] API key expired. Please renew the API key.'), {
        name: 'GoogleGenerativeAIFetchError',
        status: 400,
        statusText: 'Bad Request',
        errorDetails: [errorInfo('API_KEY_INVALID')],
      });
      expect(classify(fetchError)).toMatchObject({ kind: 'auth', status: 400, code: 'API_KEY_INVALID' });
      const gax = Object.assign(new Error('3 INVALID_ARGUMENT: API key expired. Please renew the API key.'), {
        code: 3,
        reason: 'API_KEY_EXPIRED',
        domain: 'googleapis.com',
        errorInfoMetadata: {},
      });
      expect(classify(gax)).toMatchObject({ kind: 'auth', code: 'API_KEY_EXPIRED' });
    });

    it('other key, token and project-access reasons are auth; other reasons leave the status to decide', () => {
      for (const reason of ['API_KEY_EXPIRED', 'API_KEY_SERVICE_BLOCKED', 'ACCESS_TOKEN_EXPIRED', 'ACCESS_TOKEN_SCOPE_INSUFFICIENT', 'CREDENTIALS_MISSING', 'SERVICE_DISABLED', 'CONSUMER_SUSPENDED']) {
        expect(classify(googleBody(400, 'INVALID_ARGUMENT', 'x', [errorInfo(reason)]))).toMatchObject({ kind: 'auth', code: reason });
      }
      // A reason that is not about credentials does not make a 400 auth, nor a 429 anything but rate_limited.
      expect(classify(googleBody(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.', [errorInfo('FIELD_INVALID')]))).toMatchObject({ kind: 'invalid_request' });
      expect(classify(googleBody(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded.', [errorInfo('RATE_LIMIT_EXCEEDED'), RETRY_INFO]))).toMatchObject({ kind: 'rate_limited', retryAfterMs: 19_420 });
      // Only an ErrorInfo's reason counts: the same word in another detail does not.
      expect(classify(googleBody(400, 'INVALID_ARGUMENT', 'x', [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', reason: 'API_KEY_INVALID' }]))).toMatchObject({ kind: 'invalid_request' });
    });
  });

  it('@google/generative-ai-style fetch error (errorDetails)', () => {
    const err = Object.assign(new Error('[GoogleGenerativeAI Error]: Error fetching from https://x: [429 Too Many Requests] Resource exhausted'), {
      name: 'GoogleGenerativeAIFetchError',
      status: 429,
      statusText: 'Too Many Requests',
      errorDetails: [RETRY_INFO],
    });
    expect(classify(err)).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 19_420 });
  });
});

describe('classifyError: ollama-js ResponseError (HTTP status in status_code)', () => {
  /** ollama-js (also what @langchain/ollama calls): `class ResponseError extends Error { constructor(public error: string, public status_code: number) }`. */
  class ResponseError extends Error {
    constructor(
      public error: string,
      public status_code: number,
    ) {
      super(error);
      this.name = 'ResponseError';
    }
  }

  it("a 404 `model 'x' not found, try pulling it first` is auth", () => {
    expect(classify(new ResponseError("model 'llama3.3' not found, try pulling it first", 404))).toMatchObject({ kind: 'auth', status: 404 });
  });

  it('a 429 is rate_limited, a 503 overloaded, a 500 unknown with its status', () => {
    expect(classify(new ResponseError('too many requests', 429))).toMatchObject({ kind: 'rate_limited', status: 429 });
    expect(classify(new ResponseError('server busy, please try again.  maximum pending requests exceeded', 503))).toMatchObject({ kind: 'overloaded', status: 503 });
    expect(classify(new ResponseError('llama runner process has terminated', 500))).toMatchObject({ kind: 'unknown', status: 500 });
  });

  it('reads status_code only as a number in the HTTP range', () => {
    for (const statusCode of ['429', 42, 99, 600, 429.5, NaN]) {
      expect(classify(Object.assign(new Error('x'), { status_code: statusCode })).status).toBeUndefined();
    }
    // `status` and `statusCode` come first.
    expect(classify(Object.assign(new Error('x'), { status: 503, status_code: 429 }))).toMatchObject({ kind: 'overloaded', status: 503 });
  });
});

describe('classifyError: fetch Response, plain objects, axios-like errors', () => {
  it('a fetch Response: status and headers, body not read', () => {
    const res = new Response('{"error":{"message":"never read"}}', {
      status: 429,
      statusText: 'Too Many Requests',
      headers: { 'retry-after': '3', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '3s' },
    });
    const c = classify(res);
    expect(c).toEqual({
      kind: 'rate_limited',
      status: 429,
      message: expect.stringContaining('HTTP 429'),
      retryAfterMs: 3000,
      rateLimit: { remainingRequests: 0, requestsResetAt: NOW + 3000 },
      cause: res,
    });
    expect(res.bodyUsed).toBe(false);
  });

  it.each<[number, ErrorKind]>([
    [503, 'overloaded'],
    [529, 'overloaded'],
    [504, 'timeout'],
    [408, 'timeout'],
    [500, 'unknown'],
    [502, 'unknown'],
    [401, 'auth'],
    [403, 'auth'],
    [400, 'invalid_request'],
    [404, 'invalid_request'],
    [413, 'invalid_request'],
    [422, 'invalid_request'],
    [429, 'rate_limited'],
  ])('Response %i -> %s', (status, kind) => {
    expect(classify(new Response(null, { status }))).toMatchObject({ kind, status });
  });

  it('{ status, headers, body } and { status, error } plain objects', () => {
    const withBody = { status: 400, headers: new Map([['X-Request-Id', 'r1']]), body: { error: { message: 'maximum context length is 4096 tokens', code: null } } };
    expect(classify(withBody)).toMatchObject({ kind: 'context_length', status: 400 });
    const withError = { status: '503', error: { message: 'upstream overloaded' } };
    expect(classify(withError)).toMatchObject({ kind: 'overloaded', status: 503, message: 'upstream overloaded' });
    const textBody = { statusCode: 429, headers: { 'Retry-After': '4' }, body: 'Too Many Requests' };
    expect(classify(textBody)).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 4000, message: 'Too Many Requests' });
  });

  it('a body that is only a code, bare or as a JSON string, is read as that code', () => {
    // An upstream that answers 500 with the JSON body `"overloaded_error"` (parsed to a string) or the text.
    expect(classify({ status: 500, error: 'overloaded_error' })).toMatchObject({ kind: 'overloaded', status: 500, code: 'overloaded_error' });
    expect(classify({ status: 500, body: ' "overloaded_error"\n' })).toMatchObject({ kind: 'overloaded', code: 'overloaded_error' });
    expect(classify({ status: 400, body: 'context_length_exceeded' })).toMatchObject({ kind: 'context_length', code: 'context_length_exceeded' });
    // A sentence, or a code in capitals, is still a message.
    expect(classify({ status: 500, body: 'overloaded, try later' })).toMatchObject({ kind: 'unknown', message: 'overloaded, try later' });
    expect(classify({ status: 500, body: 'OVERLOADED_ERROR' })).toMatchObject({ kind: 'unknown', message: 'OVERLOADED_ERROR' });
  });

  it('an axios-like error with .response, never reading the request config', () => {
    const err = Object.assign(new Error('Request failed with status code 429'), {
      name: 'AxiosError',
      code: 'ERR_BAD_REQUEST',
      config: { data: '{"messages":[{"role":"user","content":"SECRET PROMPT TEXT"}]}' },
      response: {
        status: 429,
        headers: { 'retry-after': '2' },
        data: { error: { message: 'Rate limit reached', code: 'rate_limit_exceeded' } },
      },
    });
    const c = classify(err);
    expect(c).toMatchObject({ kind: 'rate_limited', status: 429, code: 'rate_limit_exceeded', retryAfterMs: 2000, message: 'Rate limit reached' });
    expect(JSON.stringify({ ...c, cause: undefined })).not.toContain('SECRET PROMPT');
  });

  it('axios timeout and cancel', () => {
    expect(classify(Object.assign(new Error('timeout of 1000ms exceeded'), { code: 'ECONNABORTED' })).kind).toBe('timeout');
    expect(classify(Object.assign(new Error('canceled'), { name: 'CanceledError', code: 'ERR_CANCELED' })).kind).toBe('cancelled');
  });

  it('a wrapper Error whose .cause is the provider error', () => {
    const inner = openAIError(429, { message: 'slow down', code: 'rate_limit_exceeded' }, { 'retry-after': '5' });
    const outer = new Error('LLM call failed', { cause: inner });
    expect(classify(outer)).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 5000, message: 'slow down' });
  });
});

describe('classifyError: LangChain', () => {
  it('lc_error_code MODEL_RATE_LIMIT on an openai error -> rate_limited, troubleshooting URL stripped', () => {
    const err = addLangChainErrorFields(openAIError(429, { message: 'Rate limit reached', code: 'rate_limit_exceeded' }), 'MODEL_RATE_LIMIT');
    const c = classify(err);
    expect(c).toMatchObject({ kind: 'rate_limited', status: 429 });
    expect(c.message).not.toContain('Troubleshooting');
  });

  it('MODEL_RATE_LIMIT added to an insufficient_quota error stays quota_exhausted', () => {
    const err = addLangChainErrorFields(openAIError(429, { message: 'You exceeded your current quota', code: 'insufficient_quota', type: 'insufficient_quota' }), 'MODEL_RATE_LIMIT');
    expect(classify(err)).toMatchObject({ kind: 'quota_exhausted', code: 'insufficient_quota' });
  });

  it('ContextOverflowError.fromError(openai error) -> context_length', () => {
    const inner = openAIError(400, { message: "This model's maximum context length is 128000 tokens.", code: 'context_length_exceeded' });
    const err = ContextOverflowError.fromError(inner);
    expect(classify(err)).toMatchObject({ kind: 'context_length', status: 400, code: 'context_length_exceeded' });
    expect(classify(new ContextOverflowError('too long')).kind).toBe('context_length');
  });

  it('ModelAbortError -> cancelled, ModelRefusalError -> policy_rejected', () => {
    expect(classify(new ModelAbortError('aborted')).kind).toBe('cancelled');
    expect(classify(new ModelRefusalError('I cannot help with that')).kind).toBe('policy_rejected');
  });

  it("ChatOpenAI's rewrapped timeout and abort (name TimeoutError / AbortError)", () => {
    expect(classify(Object.assign(new Error('Request timed out.'), { name: 'TimeoutError' })).kind).toBe('timeout');
    expect(classify(Object.assign(new Error('Request was aborted.'), { name: 'AbortError' })).kind).toBe('cancelled');
  });

  it.each<[string, ErrorKind]>([
    ['MODEL_AUTHENTICATION', 'auth'],
    ['MODEL_NOT_FOUND', 'invalid_request'],
    ['MODEL_RATE_LIMIT', 'rate_limited'],
    ['CONTEXT_OVERFLOW', 'context_length'],
    ['OUTPUT_PARSING_FAILURE', 'validation_failed'],
    ['INVALID_TOOL_RESULTS', 'invalid_request'],
    ['MODEL_ABORTED', 'cancelled'],
  ])('bare lc_error_code %s -> %s', (code, kind) => {
    expect(classify(Object.assign(new Error('failed'), { lc_error_code: code })).kind).toBe(kind);
  });
});

describe('classifyError: Node and fetch transport errors', () => {
  it.each(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])('%s -> timeout', (code) => {
    expect(classify(nodeError(code))).toMatchObject({ kind: 'timeout', code });
  });

  it.each([
    'ECONNRESET',
    'ECONNREFUSED',
    'EPIPE',
    'EAI_AGAIN',
    'ENOTFOUND',
    'ENETRESET',
    'UND_ERR_SOCKET',
    'UND_ERR_DESTROYED',
    'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
    'ERR_SOCKET_CLOSED',
    'ERR_HTTP2_STREAM_CANCEL',
  ])('%s -> network', (code) => {
    expect(classify(nodeError(code))).toMatchObject({ kind: 'network', code });
  });

  it.each(['socket hang up', 'terminated', 'premature close', 'Premature close'])('message %j -> network', (message) => {
    expect(classify(new Error(message)).kind).toBe('network');
  });

  it('TypeError: fetch failed looks at its cause', () => {
    expect(classify(new TypeError('fetch failed', { cause: nodeError('UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error') }))).toMatchObject({ kind: 'timeout', code: 'UND_ERR_HEADERS_TIMEOUT' });
    const socket = Object.assign(new Error('other side closed'), { name: 'SocketError', code: 'UND_ERR_SOCKET' });
    expect(classify(new TypeError('terminated', { cause: socket }))).toMatchObject({ kind: 'network', code: 'UND_ERR_SOCKET' });
    const refused = Object.assign(new AggregateError([nodeError('ECONNREFUSED'), nodeError('ECONNREFUSED', 'connect ECONNREFUSED ::1:443')], ''), { code: 'ECONNREFUSED' });
    expect(classify(new TypeError('fetch failed', { cause: refused }))).toMatchObject({ kind: 'network', code: 'ECONNREFUSED' });
    expect(classify(new TypeError('fetch failed')).kind).toBe('network');
  });

  it('a real undici fetch to a closed port -> network', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const err: unknown = await fetch(`http://127.0.0.1:${port}/`).then(
      () => undefined,
      (e: unknown) => e,
    );
    // undici's error comes from another realm than Jest's globals: check by shape.
    expect(err).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    expect(classify(err)).toMatchObject({ kind: 'network', code: 'ECONNREFUSED' });
  });

  it('a real fetch aborted by its signal -> cancelled; aborted with a TimeoutError reason -> timeout', async () => {
    const aborted: unknown = await fetch('http://127.0.0.1:1/', { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(classify(aborted).kind).toBe('cancelled');
    const timedOut: unknown = await fetch('http://127.0.0.1:1/', {
      signal: AbortSignal.abort(new DOMException('The operation timed out.', 'TimeoutError')),
    }).catch((e: unknown) => e);
    expect(classify(timedOut).kind).toBe('timeout');
  });

  it('AbortError (DOMException, plain name, Node ABORT_ERR) -> cancelled; TimeoutError -> timeout', () => {
    expect(classify(new DOMException('This operation was aborted', 'AbortError'))).toMatchObject({ kind: 'cancelled', code: 'AbortError' });
    expect(classify(Object.assign(new Error('The user aborted a request.'), { name: 'AbortError' })).kind).toBe('cancelled');
    expect(classify(Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' })).kind).toBe('cancelled');
    expect(classify(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))).toMatchObject({ kind: 'timeout', code: 'TimeoutError' });
    const abortFromTimeout = Object.assign(new Error('The operation was aborted'), {
      name: 'AbortError',
      cause: new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
    });
    expect(classify(abortFromTimeout).kind).toBe('timeout');
  });
});

describe('classifyError: our own errors', () => {
  class LimitError extends Error {
    readonly kind = 'rate_limited';
    readonly code = 'ERR_LLMR_LIMIT_EXCEEDED';
    constructor(readonly retryAfterMs?: number, options?: { cause?: unknown }) {
      super('Limit "user:20/1m" exceeded; retry after the hinted delay.', options);
    }
  }

  it('keeps kind, code and retryAfterMs', () => {
    expect(classify(new LimitError(1234))).toMatchObject({
      kind: 'rate_limited',
      code: 'ERR_LLMR_LIMIT_EXCEEDED',
      retryAfterMs: 1234,
      message: 'Limit "user:20/1m" exceeded; retry after the hinted delay.',
    });
  });

  it('understands the core ResilienceError class', () => {
    const err = new ResilienceError('Tenant budget exhausted; wait for the window or raise the cap.', {
      kind: 'quota_exhausted',
      code: 'ERR_LLMR_BUDGET_EXHAUSTED',
      retryAfterMs: 60_000,
      cause: nodeError('ECONNRESET'),
    });
    expect(classify(err)).toMatchObject({ kind: 'quota_exhausted', code: 'ERR_LLMR_BUDGET_EXHAUSTED', retryAfterMs: 60_000 });
  });

  it('wins over a provider error in its cause', () => {
    const own = Object.assign(new Error('Reply did not match the schema.'), { kind: 'validation_failed', code: 'ERR_LLMR_VALIDATION_FAILED', cause: openAIError(429, { message: 'x', code: 'insufficient_quota' }) });
    expect(classify(own)).toMatchObject({ kind: 'validation_failed', code: 'ERR_LLMR_VALIDATION_FAILED', message: 'Reply did not match the schema.' });
  });

  it('is not recognised without an ERR_LLMR_ code or with an unknown kind', () => {
    expect(classify(Object.assign(new Error('x'), { kind: 'rate_limited', code: 'SOMETHING' })).kind).toBe('unknown');
    expect(classify(Object.assign(new Error('x'), { kind: 'slow', code: 'ERR_LLMR_X' })).kind).toBe('unknown');
  });
});

describe('classifyError: garbage never throws', () => {
  it.each<[string, unknown]>([
    ['null', null],
    ['undefined', undefined],
    ['number', 429],
    ['boolean', false],
    ['symbol', Symbol('x')],
    ['bigint', 10n],
    ['empty object', {}],
    ['array', [1, 2]],
    ['function', () => 1],
  ])('%s -> unknown', (_label, value) => {
    const c = classify(value);
    expect(c.kind).toBe('unknown');
    expect(c.message.length).toBeGreaterThan(0);
    expect(c.cause).toBe(value);
  });

  it('strings: best effort on the text, else unknown with the (truncated) text', () => {
    expect(classify('socket hang up').kind).toBe('network');
    expect(classify('request timed out').kind).toBe('timeout');
    expect(classify('something odd')).toMatchObject({ kind: 'unknown', message: 'something odd' });
    expect(classify('x'.repeat(10_000)).message.length).toBeLessThanOrEqual(300);
  });

  it('a details array that throws when read does not hide readable headers', () => {
    const hostile = Object.assign([], {
      slice() {
        throw new Error('x');
      },
    });
    expect(classify({ status: 429, headers: { 'retry-after': '3' }, error: { details: hostile } })).toMatchObject({ kind: 'rate_limited', retryAfterMs: 3000 });
    const trapped = new Proxy([1, 2], {
      get(t, k) {
        if (k === 'length' || typeof k === 'symbol') return Reflect.get(t, k);
        throw new Error('trap');
      },
    });
    expect(classify({ status: 429, headers: { 'retry-after': '3' }, errorDetails: trapped })).toMatchObject({ kind: 'rate_limited', retryAfterMs: 3000 });
  });

  it('circular objects and cause cycles', () => {
    const a: Record<string, unknown> = { message: 'a' };
    const b: Record<string, unknown> = { message: 'b', cause: a };
    a['cause'] = b;
    a['self'] = a;
    expect(classify(a).kind).toBe('unknown');
    const e = new Error('loop');
    (e as { cause?: unknown }).cause = e;
    expect(classify(e).kind).toBe('unknown');
  });

  it('a very deep cause chain terminates', () => {
    let err: unknown = nodeError('ECONNRESET');
    for (let i = 0; i < 10_000; i++) err = new Error(`wrap ${i}`, { cause: err });
    expect(classify(err).kind).toBe('unknown');
  });

  it('objects with throwing getters: best effort on the readable parts', () => {
    const allThrow = {};
    for (const key of ['status', 'message', 'cause', 'headers', 'code', 'name', 'error', 'constructor']) {
      Object.defineProperty(allThrow, key, {
        get() {
          throw new Error(`getter ${key}`);
        },
      });
    }
    expect(classify(allThrow).kind).toBe('unknown');
    const partly = Object.defineProperty({ status: 503 }, 'message', {
      get() {
        throw new Error('no');
      },
    });
    expect(classify(partly)).toMatchObject({ kind: 'overloaded', status: 503 });
  });

  it('Proxies that throw on every trap, revoked Proxies, and partly hostile Proxies', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('get');
        },
        has() {
          throw new Error('has');
        },
        ownKeys() {
          throw new Error('ownKeys');
        },
        getPrototypeOf() {
          throw new Error('getPrototypeOf');
        },
        getOwnPropertyDescriptor() {
          throw new Error('gopd');
        },
      },
    );
    expect(classify(hostile).kind).toBe('unknown');
    const { proxy, revoke } = Proxy.revocable({ status: 429 }, {});
    revoke();
    expect(classify(proxy).kind).toBe('unknown');
    const partly = new Proxy({ status: 429, headers: { 'retry-after': '1' } } as Record<string, unknown>, {
      get(target, key) {
        if (key === 'message' || key === 'cause') throw new Error('nope');
        return target[key as string];
      },
    });
    expect(classify(partly)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 1000 });
  });

  it('messages are whitespace-collapsed, redacted and at most 300 characters', () => {
    const err = openAIError(400, { message: `bad\n\n request   with key sk-ant-api03-${'a'.repeat(40)} ${'z'.repeat(1000)}` });
    const c = classify(err);
    expect(c.message.length).toBeLessThanOrEqual(300);
    expect(c.message).not.toContain('aaaaaaaaaa');
    expect(c.message.startsWith('bad request with key')).toBe(true);
  });

  it.each([
    ['Incorrect API key provided: sk-proj-abcdEFGH1234ijkl5678', 'Incorrect API key provided: [redacted-key]'],
    ['Invalid API Key: gsk_SECRETgroqKEY1234567890abcdef', 'Invalid API Key: [redacted-key]'],
    ['Invalid API key xai-SECRETxaiKEY1234567890abcdef', 'Invalid API key [redacted-key]'],
    ['Unauthorized: hf_SECREThfTOKEN1234567890abcdef', 'Unauthorized: [redacted-key]'],
    ['Request had header x-api-key: SECRETANTHROPICKEY1234 which is invalid', 'Request had header x-api-key: [redacted] which is invalid'],
    ['Invalid header "api-key: 0123456789abcdef0123456789abcdef"', 'Invalid header "api-key: [redacted]"'],
    ['GET https://host/v1/x?access_token=SECRETaccessTOKEN123 denied', 'GET https://host/v1/x?access_token=[redacted] denied'],
    ['auth failed for {"api_key": "SECRETjsonKEY123456"}', 'auth failed for {"api_key": "[redacted]"}'],
    ['Authorization: Basic dXNlcjpTRUNSRVRwYXNzd29yZA== rejected', 'Authorization: Basic [redacted] rejected'],
    ["'My SSN is 123-45-6789, please draft my appeal' is not of type 'array'", "'[45 chars]' is not of type 'array'"],
  ])('keeps credentials and quoted request text out of the message: %s', (raw, shown) => {
    expect(classify(openAIError(401, { message: raw })).message).toBe(shown);
  });

  it('property: never throws and always returns a valid kind and a short message (fc.anything)', () => {
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withBoxedValues: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true, withObjectString: true, withTypedArray: true, withSparseArray: true }),
        (value) => {
          const c = classifyError(value);
          expect(ERROR_KINDS).toContain(c.kind);
          expect(typeof c.message).toBe('string');
          expect(c.message.length).toBeLessThanOrEqual(300);
          expect(c.cause).toBe(value);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: never throws for error-shaped records with arbitrary field values', () => {
    const field = fc.anything({ withMap: true, withNullPrototype: true });
    fc.assert(
      fc.property(
        fc.record(
          { status: field, statusCode: field, code: field, type: field, name: field, message: field, headers: field, error: field, body: field, cause: field, response: field, details: field, kind: field },
          { requiredKeys: [] },
        ),
        (value) => {
          const c = classifyError(value, { now: NOW });
          expect(ERROR_KINDS).toContain(c.kind);
          expect(c.message.length).toBeLessThanOrEqual(300);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('classifyError: the app\'s own secrets (redact)', () => {
  const AZURE_KEY = '0123456789abcdef0123456789abcdef';
  const redact = new Redactor({ secrets: [AZURE_KEY, 'gw-secret-token-01'], patterns: [/\btenant-key-[a-z0-9]{6,}/] });

  it('leaves a key of an unknown format in the message without it: the gap `redact` closes', () => {
    expect(classify(openAIError(401, { message: `Invalid key ${AZURE_KEY}` })).message).toBe(`Invalid key ${AZURE_KEY}`);
  });

  it.each([
    ['an Azure key in a 401', openAIError(401, { message: `Access denied due to invalid subscription key ${AZURE_KEY}.`, code: '401' }), 'auth'],
    ['a gateway token in a quota body', openAIError(429, { message: 'Quota of token gw-secret-token-01 exceeded', type: 'insufficient_quota', code: 'insufficient_quota' }), 'quota_exhausted'],
    ['a pattern in a plain error', Object.assign(new Error('tenant tenant-key-abc123xyz was refused: 401 Unauthorized'), { status: 401 }), 'auth'],
    ['a key in an Anthropic body', anthropicError(401, 'authentication_error', `invalid x-api-key ${AZURE_KEY}`), 'auth'],
  ])('cuts them out of the message of %s, and still classifies it', (_what, err, kind) => {
    const c = classifyError(err, { now: NOW, redact });
    expect(c.kind).toBe(kind);
    expect(c.message).toContain('[redacted]');
    for (const secret of [AZURE_KEY, 'gw-secret-token-01', 'tenant-key-abc123xyz']) expect(c.message).not.toContain(secret);
  });

  it('cuts them out of a provider code too', () => {
    const c = classifyError({ status: 401, error: { code: `bad_key:${AZURE_KEY}`, message: 'no' } }, { now: NOW, redact });
    expect(c.code).toBe('bad_key:[redacted]');
  });

  it('takes the RedactOptions themselves, not only a Redactor', () => {
    const c = classifyError(openAIError(401, { message: `Incorrect API key provided: ${AZURE_KEY}.`, code: 'invalid_api_key' }), { now: NOW, redact: { secrets: [AZURE_KEY] } });
    expect(c).toMatchObject({ kind: 'auth', message: 'Incorrect API key provided: [redacted].' });
  });

  it('reads RedactOptions as they are at each call: a secrets array filled after an earlier call (from a vault) is not frozen empty', () => {
    const options = { secrets: [] as string[] };
    classifyError(new Error('boot failure'), { now: NOW, redact: options }); // used once before the key was loaded
    options.secrets.push(AZURE_KEY);
    const c = classifyError(openAIError(401, { message: `Incorrect API key provided: ${AZURE_KEY}.` }), { now: NOW, redact: options });
    expect(c.message).toBe('Incorrect API key provided: [redacted].');
  });

  it('calls the redact method an object has at each call, not the first one it had', () => {
    const mine: { redact(text: string): string } = { redact: (text) => text };
    classifyError(new Error('boot failure'), { now: NOW, redact: mine });
    mine.redact = (text) => text.split(AZURE_KEY).join('[vault]');
    expect(classifyError(new Error(`bad key ${AZURE_KEY}`), { now: NOW, redact: mine }).message).toBe('bad key [vault]');
  });

  it('takes a Redactor of another copy of the module (the ES module and CommonJS builds are two copies)', () => {
    let Other: typeof Redactor | undefined;
    jest.isolateModules(() => {
      Other = (require('./Redactor') as typeof import('./Redactor')).Redactor;
    });
    expect(Other).not.toBe(Redactor);
    const foreign = new Other!({ secrets: [AZURE_KEY] });
    expect(foreign).not.toBeInstanceOf(Redactor);
    const c = classifyError(openAIError(401, { message: `Incorrect API key provided: ${AZURE_KEY}.`, code: 'invalid_api_key' }), { now: NOW, redact: foreign });
    expect(c.message).toBe('Incorrect API key provided: [redacted].');
  });

  it("takes any object with a redact(text) method, and still cuts the built-in key formats after it", () => {
    const mine = { redact: (text: string) => text.replace(/tenant-[0-9]+/g, '[tenant]') };
    const c = classifyError(new Error('tenant-42 sent sk-proj-abcdefghijkl, refused'), { now: NOW, redact: mine });
    expect(c.message).toBe('[tenant] sent [redacted-key], refused');
  });

  it.each([
    ['a string', AZURE_KEY],
    ['an array of secrets', [AZURE_KEY]],
    ['options with a short secret', { secrets: ['short'] }],
  ])('throws a TypeError for %s instead of cutting nothing', (_what, redact) => {
    const err = openAIError(401, { message: `Invalid key ${AZURE_KEY}` });
    expect(() => classifyError(err, { now: NOW, redact: redact as never })).toThrow(TypeError);
    expect(() => classifyError(err, { now: NOW, redact: redact as never })).toThrow(/^classifyError options\.redact: expected a Redactor, RedactOptions/);
  });

  it('keeps the error itself as cause: only the engine hands out stand-ins', () => {
    const err = openAIError(401, { message: `Invalid key ${AZURE_KEY}` });
    expect(classifyError(err, { now: NOW, redact }).cause).toBe(err);
  });

  it('cuts a secret that lies across the cut of a long message whole, not half', () => {
    // The key starts 7 characters before the 4,000th, where the message is cut before it is collapsed.
    const err = new Error(`${' '.repeat(3_980)}Unauthorized ${AZURE_KEY}`);
    const c = classifyError(err, { now: NOW, redact });
    expect(c.message).toMatch(/^Unauthorized \[redac/);
    expect(c.message).not.toContain(AZURE_KEY.slice(0, 6));
  });
});
