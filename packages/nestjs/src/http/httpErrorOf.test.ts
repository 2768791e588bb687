import {
  ChainExhaustedError,
  createResilience,
  definePolicy,
  QueueRejectedError,
  RateLimitExceededError,
  RequestFailedError,
  ResilienceError,
  type RequestRecord,
} from '@llm-resilience/core';
import { httpErrorOf, retryAfterSeconds } from '@llm-resilience/core';
import { NestConfigError } from '../NestConfigError';
import { resilienceHttpResponse } from './toHttpException';

const record = { request_id: 'req_1', attempts: [], skipped: [] } as unknown as RequestRecord;

describe('httpErrorOf', () => {
  it.each<[string, unknown, number]>([
    ['our limit', new RateLimitExceededError({ ruleId: 'user-rpm', metric: 'requests', scope: {}, retryAfterMs: 2500 }), 429],
    ['a queue that waited too long', new QueueRejectedError({ reason: 'max-wait', trafficClass: 'live', waitedMs: 0, retryAfterMs: 3000 }), 429],
    ['a full queue', new QueueRejectedError({ reason: 'queue-full', trafficClass: 'batch', waitedMs: 0, maxQueue: 1 }), 503],
    ['an exhausted chain (overload)', new ChainExhaustedError('chat', record, { kind: 'overloaded', message: 'x', cause: null }, 'm'), 503],
    ['an exhausted chain (provider 429s)', new ChainExhaustedError('chat', record, { kind: 'rate_limited', message: 'x', cause: null }, 'm'), 503],
    ['an exhausted chain (timeouts)', new ChainExhaustedError('chat', record, { kind: 'timeout', message: 'x', cause: null }, 'm'), 504],
    ['a policy rejection', new RequestFailedError('ERR_LLMR_NOT_RETRYABLE', 'x', { kind: 'policy_rejected', message: 'x', cause: null }, record, 'm'), 422],
    ['an invalid request', new ResilienceError('x', { kind: 'invalid_request', code: 'ERR_LLMR_UNKNOWN_ROUTE' }), 400],
    ['a shut-down engine', new ResilienceError('x', { kind: 'cancelled', code: 'ERR_LLMR_SHUT_DOWN' }), 503],
  ])('maps %s to %i', (_name, err, status) => {
    expect(httpErrorOf(err)?.status).toBe(status);
  });

  it('carries the retry hint, the user message and the request id, never the internal message', () => {
    const err = new ChainExhaustedError('chat', record, { kind: 'rate_limited', message: 'openai said 429', retryAfterMs: 1500, cause: null }, 'Busy, retrying.');
    expect(httpErrorOf(err)).toEqual({
      status: 503,
      kind: 'rate_limited',
      code: 'ERR_LLMR_CHAIN_EXHAUSTED',
      retryAfterMs: 1500,
      userMessage: 'Busy, retrying.',
      requestId: 'req_1',
    });
  });

  it('ignores errors that are not the core’s', () => {
    expect(httpErrorOf(new Error('boom'))).toBeUndefined();
    expect(httpErrorOf({ kind: 'rate_limited', code: 'E_OTHER' })).toBeUndefined();
    expect(httpErrorOf(null)).toBeUndefined();
  });
});

describe('retryAfterSeconds', () => {
  it('rounds up to whole seconds, at least 1, and has none for an endless wait', () => {
    expect(retryAfterSeconds(1)).toBe('1');
    expect(retryAfterSeconds(1001)).toBe('2');
    expect(retryAfterSeconds(Infinity)).toBeUndefined();
    expect(retryAfterSeconds(undefined)).toBeUndefined();
  });
});

describe('resilienceHttpResponse', () => {
  it('uses the policy wording for the audience when the error carries no message', () => {
    const engine = createResilience(
      definePolicy({ targets: { a: { provider: 'openai', model: 'm' } }, routes: { chat: { chain: ['a'] } }, messages: { customer: 'Please hold on.' } }),
    );
    const limited = new RateLimitExceededError({ ruleId: 'user-rpm', metric: 'requests', scope: { user: 'u1' }, retryAfterMs: 2500 });
    const r = resilienceHttpResponse(limited, 'customer', engine)!;
    expect(r.body).toEqual({ statusCode: 429, error: 'rate_limited', code: 'ERR_LLMR_LIMIT_EXCEEDED', message: 'Please hold on.' });
    expect(r.retryAfter).toBe('3');
    expect(r.exception.getStatus()).toBe(429);
    expect(r.exception.cause).toBe(limited);
    expect(resilienceHttpResponse(limited, 'customer', undefined)!.body.message).toMatch(/Too many requests/);
    expect(resilienceHttpResponse(new Error('x'), 'customer', engine)).toBeUndefined();
  });

  it('leaves setup errors of this adapter to Nest (a 500), even as the cause of an engine error', () => {
    const setup = new NestConfigError('ERR_LLMR_NEST_NO_MODULE', 'no module');
    expect(httpErrorOf(setup)?.status).toBe(400); // the core only sees kind invalid_request
    expect(resilienceHttpResponse(setup, 'customer', undefined)).toBeUndefined();
    const wrapped = new RequestFailedError('ERR_LLMR_NOT_RETRYABLE', 'x', { kind: 'invalid_request', message: 'x', cause: setup }, record, 'm');
    expect(resilienceHttpResponse(wrapped, 'customer', undefined)).toBeUndefined();
    const client = new ResilienceError('x', { kind: 'invalid_request', code: 'ERR_LLMR_UNKNOWN_ROUTE' });
    expect(resilienceHttpResponse(client, 'customer', undefined)?.exception.getStatus()).toBe(400);
  });
});
