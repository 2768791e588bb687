import { countedKeysOf, requestIdentityOf, shareRequestIdentity } from './requestState';

describe('requestState', () => {
  it('shares the identity resolver of a request, the last one shared winning', async () => {
    const req = {};
    expect(requestIdentityOf(req)).toBeUndefined();
    shareRequestIdentity(req, async () => ({ user: 'first' }));
    shareRequestIdentity(req, async () => ({ user: 'second' }));
    await expect(requestIdentityOf(req)!()).resolves.toEqual({ user: 'second' });
    expect(requestIdentityOf({})).toBeUndefined();
  });

  it('keeps the counted keys of each request apart', () => {
    const a = {};
    countedKeysOf(a)!.add('k');
    expect(countedKeysOf(a)!.has('k')).toBe(true);
    expect(countedKeysOf({})!.has('k')).toBe(false);
  });

  it('has no state for a request that is not an object', () => {
    shareRequestIdentity(undefined, async () => undefined);
    expect(requestIdentityOf(undefined)).toBeUndefined();
    expect(countedKeysOf('req')).toBeUndefined();
  });
});
