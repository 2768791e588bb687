import type { Request } from 'express';
import { ExpressConfigError } from '../ExpressConfigError';
import { checkedAuthResult, clientKeyOf, identityLookup } from './gatewayAuth';

const req = (headers: Record<string, string>) => ({ headers }) as unknown as Request;

describe('clientKeyOf', () => {
  it('reads a Bearer token, else x-api-key', () => {
    expect(clientKeyOf(req({ authorization: 'Bearer sk-1' }))).toBe('sk-1');
    expect(clientKeyOf(req({ authorization: 'bearer   sk-2 ' }))).toBe('sk-2');
    expect(clientKeyOf(req({ 'x-api-key': 'sk-3' }))).toBe('sk-3');
    expect(clientKeyOf(req({ authorization: 'Basic abc' }))).toBeUndefined();
    expect(clientKeyOf(req({}))).toBeUndefined();
  });
});

describe('identityLookup', () => {
  it('maps keys to identities without matching prototype keys', async () => {
    const lookup = identityLookup({ 'sk-1': { user: 'alice' } });
    expect(await lookup('sk-1', req({}))).toEqual({ user: 'alice' });
    expect(await lookup('constructor', req({}))).toBeUndefined();
    expect(await lookup('__proto__', req({}))).toBeUndefined();
  });

  it('uses a function as is', async () => {
    const lookup = identityLookup(async (key) => (key === 'ok' ? { team: 't' } : undefined));
    expect(await lookup('ok', req({}))).toEqual({ team: 't' });
    expect(await lookup('no', req({}))).toBeUndefined();
  });
});

describe('checkedAuthResult', () => {
  it('passes identities of strings through, and falsy results as unknown keys', () => {
    const identity = { user: 'alice', team: 'support' };
    expect(checkedAuthResult(identity)).toBe(identity);
    expect(checkedAuthResult({})).toEqual({});
    for (const none of [undefined, null, false, '']) expect(checkedAuthResult(none)).toBeUndefined();
  });

  it('throws ExpressConfigError ERR_LLMR_EXPRESS_INVALID_OPTION for anything else, showing types only', () => {
    const cases: Array<[unknown, string]> = [
      [{ user: 42 }, 'returned an identity whose user is a number;'],
      [{ user: 'alice', tenant: { id: 'acme' } }, 'returned an identity whose tenant is an object;'],
      ['alice', 'returned a string;'],
      [[{ user: 'alice' }], 'returned an array;'],
    ];
    for (const [value, says] of cases) {
      let caught: unknown;
      try {
        checkedAuthResult(value);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(ExpressConfigError);
      expect(caught).toMatchObject({ code: 'ERR_LLMR_EXPRESS_INVALID_OPTION' });
      expect((caught as Error).message).toContain(`openAIGateway() auth(key, req) ${says}`);
      expect((caught as Error).message).not.toMatch(/alice|acme|42/);
    }
  });
});
