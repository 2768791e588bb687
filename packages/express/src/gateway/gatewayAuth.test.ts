import type { Request } from 'express';
import { clientKeyOf, identityLookup } from './gatewayAuth';

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
