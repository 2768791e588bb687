import { ChainExhaustedError, RateLimitExceededError, RequestFailedError, ResilienceError, type RequestRecord } from '../index';
import { httpErrorOf, httpMessageKind } from './httpErrorOf';

const record = { request_id: 'req_1', attempts: [], skipped: [] } as unknown as RequestRecord;

describe('httpErrorOf', () => {
  it('maps a chain exhausted by capacity problems to 503, by timeouts to 504', () => {
    const overloaded = new ChainExhaustedError('chat', record, { kind: 'overloaded', message: 'x', cause: undefined }, 'Taking longer than usual.');
    expect(httpErrorOf(overloaded)).toEqual({ status: 503, kind: 'overloaded', code: 'ERR_LLMR_CHAIN_EXHAUSTED', userMessage: 'Taking longer than usual.', requestId: 'req_1' });
    const limited = new ChainExhaustedError('chat', record, { kind: 'rate_limited', message: 'x', retryAfterMs: 2000, cause: undefined }, 'm');
    expect(httpErrorOf(limited)).toMatchObject({ status: 503, retryAfterMs: 2000 });
    const timeout = new ChainExhaustedError('chat', record, { kind: 'timeout', message: 'x', cause: undefined }, 'm');
    expect(httpErrorOf(timeout)?.status).toBe(504);
  });

  it('marks the kinds no client retry can fix (quota, credentials) with noRetry, and only those', () => {
    const exhausted = (kind: 'quota_exhausted' | 'auth' | 'overloaded' | 'rate_limited') =>
      httpErrorOf(new ChainExhaustedError('chat', record, { kind, message: 'x', cause: undefined }, 'm'));
    expect(exhausted('quota_exhausted')).toMatchObject({ status: 503, noRetry: true });
    expect(exhausted('auth')).toMatchObject({ status: 503, noRetry: true });
    expect(exhausted('overloaded')?.noRetry).toBeUndefined();
    expect(exhausted('rate_limited')?.noRetry).toBeUndefined();
  });

  it('gives the message kind: too_large only for a rate limit no wait ends', () => {
    const denial = (retryAfterMs: number) => new RateLimitExceededError({ ruleId: 'tpm', metric: 'totalTokens', scope: {}, retryAfterMs, amount: 5, capacity: 1 });
    expect(httpMessageKind(httpErrorOf(denial(Infinity))!)).toBe('too_large');
    expect(httpMessageKind(httpErrorOf(denial(3000))!)).toBe('rate_limited');
    const overloaded = new ChainExhaustedError('chat', record, { kind: 'overloaded', message: 'x', retryAfterMs: Infinity, cause: undefined }, 'm');
    expect(httpMessageKind(httpErrorOf(overloaded)!)).toBe('overloaded');
  });

  it('maps single failures by kind', () => {
    const failed = (kind: ConstructorParameters<typeof RequestFailedError>[2]['kind']) =>
      httpErrorOf(new RequestFailedError('ERR_LLMR_X', 'internal detail', { kind, message: 'm', cause: undefined }, record, 'user message'))?.status;
    expect(failed('rate_limited')).toBe(429);
    expect(failed('policy_rejected')).toBe(422);
    expect(failed('invalid_request')).toBe(400);
    expect(failed('context_length')).toBe(400);
    expect(failed('cancelled')).toBe(499);
    expect(failed('network')).toBe(502);
    expect(failed('auth')).toBe(502);
  });

  it('knows our own limiter and the scheduler', () => {
    const own = new RateLimitExceededError({ ruleId: 'user-rpm', metric: 'requests', scope: { user: 'u1' }, retryAfterMs: 1500 });
    expect(httpErrorOf(own)).toEqual({ status: 429, kind: 'rate_limited', code: 'ERR_LLMR_LIMIT_EXCEEDED', retryAfterMs: 1500 });
    const full = Object.assign(new ResilienceError('full', { kind: 'rate_limited', code: 'ERR_LLMR_QUEUE_REJECTED' }), { reason: 'queue-full' });
    expect(httpErrorOf(full)?.status).toBe(503);
    expect(httpErrorOf(new ResilienceError('down', { kind: 'cancelled', code: 'ERR_LLMR_SHUT_DOWN' }))?.status).toBe(503);
  });

  it('leaves other errors to the app and never exposes the internal message', () => {
    expect(httpErrorOf(new Error('boom'))).toBeUndefined();
    expect(httpErrorOf({ kind: 'overloaded', code: 'E_OTHER' })).toBeUndefined();
    expect(httpErrorOf(null)).toBeUndefined();
    expect(httpErrorOf('overloaded')).toBeUndefined();
    const e = httpErrorOf(new ResilienceError('openai key sk-123 failed', { kind: 'auth', code: 'ERR_LLMR_X' }));
    expect(JSON.stringify(e)).not.toContain('sk-123');
  });
});
