/**
 * Many applications still call models through older SDKs: `openai` v4 and `@anthropic-ai/sdk` 0.x,
 * whose errors differ from the current ones in shape (`headers` is a plain object, not a `Headers`
 * instance) and are other classes. The taxonomy must not depend on the SDK version: each case is
 * built with both versions (the old ones installed under the aliases `openai4` and `anthropic0`) and
 * must classify the same.
 */
import Anthropic from '@anthropic-ai/sdk';
import Anthropic0 from 'anthropic0';
import OpenAI from 'openai';
import OpenAI4 from 'openai4';
import { classifyError } from './classifyError';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const classify = (err: unknown) => classifyError(err, { now: NOW });

interface Case {
  name: string;
  status: number;
  error: Record<string, unknown>;
  headers?: Record<string, string>;
  kind: string;
  /** The retry hint both must find (from headers or the message). */
  retryAfterMs?: number;
}

const RATE_HEADERS = {
  'retry-after-ms': '850',
  'retry-after': '1',
  'x-ratelimit-limit-requests': '500',
  'x-ratelimit-remaining-requests': '0',
  'x-ratelimit-reset-requests': '1s',
  'x-ratelimit-limit-tokens': '30000',
  'x-ratelimit-remaining-tokens': '29000',
  'x-ratelimit-reset-tokens': '6m0s',
};

const CASES: Case[] = [
  { name: '429 rate limit with hints and quota headers', status: 429, error: { message: 'Rate limit reached for gpt-4o on requests per min (RPM).', type: 'requests', code: 'rate_limit_exceeded' }, headers: RATE_HEADERS, kind: 'rate_limited', retryAfterMs: 850 },
  { name: '429 with only a hint in the message', status: 429, error: { message: 'Rate limit reached. Please try again in 1.5s.', code: 'rate_limit_exceeded' }, kind: 'rate_limited', retryAfterMs: 1500 },
  { name: '429 insufficient_quota', status: 429, error: { message: 'You exceeded your current quota, please check your plan and billing details.', type: 'insufficient_quota', code: 'insufficient_quota' }, kind: 'quota_exhausted' },
  { name: '400 context_length_exceeded', status: 400, error: { message: "This model's maximum context length is 128000 tokens.", type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' }, kind: 'context_length' },
  { name: '400 content_filter', status: 400, error: { message: 'The response was filtered due to the prompt triggering content management policy.', type: 'invalid_request_error', code: 'content_filter' }, kind: 'policy_rejected' },
  { name: '400 invalid request', status: 400, error: { message: "Invalid 'temperature': expected a number.", type: 'invalid_request_error', code: null, param: 'temperature' }, kind: 'invalid_request' },
  { name: '401 bad key', status: 401, error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' }, kind: 'auth' },
  { name: '503 overloaded', status: 503, error: { message: 'The engine is currently overloaded, please try again later.', type: 'server_error' }, headers: { 'retry-after': '3' }, kind: 'overloaded', retryAfterMs: 3000 },
];

describe('classifyError: the same taxonomy for openai v4 and v7 errors', () => {
  it.each(CASES)('$name -> $kind', ({ status, error, headers = {}, kind, retryAfterMs }) => {
    const v7 = OpenAI.APIError.generate(status, { error }, undefined, new Headers(headers));
    const v4 = OpenAI4.APIError.generate(status, { error }, undefined, { ...headers });
    expect(v4.headers).not.toBeInstanceOf(Headers); // v4 keeps a plain object
    const fromV4 = classify(v4);
    expect(fromV4).toEqual(classify(v7));
    expect(fromV4.kind).toBe(kind);
    expect(fromV4.retryAfterMs).toBe(retryAfterMs);
    if (headers === RATE_HEADERS) expect(fromV4.rateLimit).toMatchObject({ limitRequests: 500, remainingRequests: 0, limitTokens: 30000, remainingTokens: 29000 });
  });

  it('connection errors, timeouts and aborts', () => {
    const cause = () => new TypeError('fetch failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    const pairs: Array<[unknown, unknown, string]> = [
      [new OpenAI4.APIConnectionError({ cause: cause() }), new OpenAI.APIConnectionError({ cause: cause() }), 'network'],
      [new OpenAI4.APIConnectionTimeoutError(), new OpenAI.APIConnectionTimeoutError(), 'timeout'],
      [new OpenAI4.APIUserAbortError(), new OpenAI.APIUserAbortError(), 'cancelled'],
    ];
    for (const [v4, v7, kind] of pairs) {
      const fromV4 = classify(v4);
      expect(fromV4).toEqual(classify(v7));
      expect(fromV4.kind).toBe(kind);
    }
  });
});

interface AnthropicCase {
  status: number;
  type: string;
  message: string;
  headers?: Record<string, string>;
  kind: string;
  retryAfterMs?: number;
}

const ANTHROPIC_CASES: AnthropicCase[] = [
  {
    status: 429,
    type: 'rate_limit_error',
    message: 'Number of request tokens has exceeded your per-minute rate limit',
    headers: { 'retry-after': '7', 'anthropic-ratelimit-requests-limit': '50', 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': '2026-03-01T12:00:07Z' },
    kind: 'rate_limited',
    retryAfterMs: 7000,
  },
  { status: 529, type: 'overloaded_error', message: 'Overloaded', kind: 'overloaded' },
  { status: 400, type: 'invalid_request_error', message: 'prompt is too long: 212345 tokens > 200000 maximum', kind: 'context_length' },
  { status: 400, type: 'invalid_request_error', message: 'Your credit balance is too low to access the Anthropic API.', kind: 'quota_exhausted' },
  { status: 401, type: 'authentication_error', message: 'invalid x-api-key', kind: 'auth' },
  { status: 504, type: 'timeout_error', message: 'Request timed out', kind: 'timeout' },
];

describe('classifyError: the same taxonomy for @anthropic-ai/sdk 0.x and 1.x errors', () => {
  it.each(ANTHROPIC_CASES)('$status $type -> $kind', ({ status, type, message, headers = {}, kind, retryAfterMs }) => {
    const body = { type: 'error', error: { type, message } };
    const current = Anthropic.APIError.generate(status, body, undefined, new Headers(headers));
    const old = Anthropic0.APIError.generate(status, body, undefined, { ...headers });
    expect(old.headers).not.toBeInstanceOf(Headers); // 0.x keeps a plain object
    const fromOld = classify(old);
    expect(fromOld).toEqual(classify(current));
    expect(fromOld.kind).toBe(kind);
    expect(fromOld.retryAfterMs).toBe(retryAfterMs);
  });

  it('connection errors, timeouts and aborts', () => {
    const pairs: Array<[unknown, unknown, string]> = [
      [new Anthropic0.APIConnectionError({ cause: new Error('socket hang up') }), new Anthropic.APIConnectionError({ cause: new Error('socket hang up') }), 'network'],
      [new Anthropic0.APIConnectionTimeoutError(), new Anthropic.APIConnectionTimeoutError(), 'timeout'],
      [new Anthropic0.APIUserAbortError(), new Anthropic.APIUserAbortError(), 'cancelled'],
    ];
    for (const [old, current, kind] of pairs) {
      const fromOld = classify(old);
      expect(fromOld).toEqual(classify(current));
      expect(fromOld.kind).toBe(kind);
    }
  });
});
