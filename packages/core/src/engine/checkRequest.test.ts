import { ResilienceError } from '../errors/ResilienceError';
import { checkRequest } from './checkRequest';
import type { ResilienceRequest } from './types';

function errorOf(request: unknown): ResilienceError {
  try {
    checkRequest(request as ResilienceRequest);
  } catch (e) {
    return e as ResilienceError;
  }
  throw new Error('checkRequest accepted it');
}

describe('checkRequest', () => {
  it('accepts a well-formed request', () => {
    expect(() => checkRequest({ route: 'chat', inputTokens: 0, maxOutputTokens: 300, deadline: Date.now() + 1000, identity: { user: 'u1', tenant: 'acme' } })).not.toThrow();
    expect(() => checkRequest({ route: 'chat' })).not.toThrow();
    expect(() => checkRequest({ route: 'chat', identity: null as never })).not.toThrow(); // no identity, like undefined
  });

  it.each([
    [{ inputTokens: Number.NaN }, 'request.inputTokens: expected a finite number >= 0, got NaN.'],
    [{ inputTokens: -500 }, 'request.inputTokens: expected a finite number >= 0, got -500.'],
    [{ inputTokens: '500' }, 'request.inputTokens: expected a finite number >= 0, got a string.'],
    [{ maxOutputTokens: Infinity }, 'request.maxOutputTokens: expected a finite number >= 0, got Infinity.'],
    [{ deadline: Number.NaN }, 'request.deadline: expected epoch milliseconds (a number), got NaN.'],
    [{ identity: 'u1' }, 'request.identity: expected an object of strings, got a string.'],
    [{ identity: { user: { id: 'u1', email: 'a@b.c' } } }, 'request.identity.user: expected a string, got object.'],
    [{ identity: { tenant: 42 } }, 'request.identity.tenant: expected a string, got 42.'],
  ])('refuses %j with a clear error naming the field', (fields, message) => {
    const e = errorOf({ route: 'chat', ...fields });
    expect(e).toBeInstanceOf(ResilienceError);
    expect(e.kind).toBe('invalid_request');
    expect(e.code).toBe('ERR_LLMR_INVALID_REQUEST');
    expect(e.message).toBe(message);
  });

  it('never quotes an identity object (it may be a user record)', () => {
    expect(errorOf({ route: 'chat', identity: { user: { email: 'jane@example.com' } } }).message).not.toContain('jane');
  });
});
