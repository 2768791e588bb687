import { chargedBucketsOf, requestIdentityOf, shareRequestIdentity, sharedRequestIdentity } from './requestState';

describe('requestState', () => {
  it('shares the identity resolver of a request, the last one shared winning', async () => {
    const req = {};
    expect(requestIdentityOf(req)).toBeUndefined();
    shareRequestIdentity(req, async () => ({ user: 'first' }));
    shareRequestIdentity(req, async () => ({ user: 'second' }));
    await expect(requestIdentityOf(req)!()).resolves.toEqual({ user: 'second' });
    expect(requestIdentityOf({})).toBeUndefined();
  });

  it('remembers the getIdentity function behind the shared resolver', () => {
    const req = {};
    const getIdentity = async () => ({ user: 'u1' });
    const resolve = async () => ({ user: 'u1' });
    shareRequestIdentity(req, resolve, getIdentity);
    expect(sharedRequestIdentity(req)).toEqual({ resolve, from: getIdentity });
    expect(sharedRequestIdentity({})).toBeUndefined();
  });

  it('keeps the charged buckets of each request apart', () => {
    const a = {};
    chargedBucketsOf(a)!.set('nest-inbound:per-user', 'nest-inbound:per-user|user=u1');
    expect(chargedBucketsOf(a)!.get('nest-inbound:per-user')).toBe('nest-inbound:per-user|user=u1');
    expect(chargedBucketsOf({})!.size).toBe(0);
  });

  it('has no state for a request that is not an object', () => {
    shareRequestIdentity(undefined, async () => undefined);
    expect(requestIdentityOf(undefined)).toBeUndefined();
    expect(sharedRequestIdentity(null)).toBeUndefined();
    expect(chargedBucketsOf('req')).toBeUndefined();
  });
});
