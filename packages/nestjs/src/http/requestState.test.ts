import { limitKey, type LimitRule } from '@llm-resilience/core';
import { chargedBucketsOf, chargedRunOf, matchHolds, recordChargedRun, requestIdentityOf, shareRequestIdentity, sharedRequestIdentity, type InboundRuleSet } from './requestState';

const rule = (id: string, scope: LimitRule['scope']): LimitRule => ({ id, scope, metric: 'requests', limit: 1, windowMs: 60_000, onFailure: 'keep' });

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

  it('records the runs that charged a request, and works out their buckets only when asked', () => {
    const perUser = rule('nest-inbound:per-user', ['user']);
    const perTenant = rule('nest-inbound:per-tenant', ['tenant']);
    const staging = rule('nest-inbound:staging', ['user']);
    const set: InboundRuleSet = { rules: [perUser, perTenant, staging], matches: [undefined, undefined, [['environment', 'staging']]] };
    const req = {};
    expect(chargedRunOf(req)).toBeUndefined();
    recordChargedRun(req, { user: 'u1', route: 'A.get' }, set);
    expect(chargedRunOf({})).toBeUndefined();
    // No tenant, no staging environment: only the user rule was charged.
    expect([...chargedBucketsOf(chargedRunOf(req)!)]).toEqual([['nest-inbound:per-user', limitKey(perUser, { user: 'u1' })]]);
    // A later run under another identity: its keys win, the earlier run's other buckets stay.
    recordChargedRun(req, { user: 'u2', environment: 'staging' }, { rules: [perUser, staging], matches: [undefined, [['environment', 'staging']]] });
    expect(chargedRunOf(req)!.previous?.ctx).toEqual({ user: 'u1', route: 'A.get' });
    expect(Object.fromEntries(chargedBucketsOf(chargedRunOf(req)!))).toEqual({
      'nest-inbound:per-user': limitKey(perUser, { user: 'u2' }),
      'nest-inbound:staging': limitKey(staging, { user: 'u2' }),
    });
  });

  it('tells whether a match holds', () => {
    expect(matchHolds(undefined, {})).toBe(true);
    expect(matchHolds([['environment', 'staging']], { environment: 'staging' })).toBe(true);
    expect(matchHolds([['environment', 'staging'], ['tenant', 'acme']], { environment: 'staging' })).toBe(false);
  });

  it('has no state for a request that is not an object', () => {
    shareRequestIdentity(undefined, async () => undefined);
    expect(requestIdentityOf(undefined)).toBeUndefined();
    expect(sharedRequestIdentity(null)).toBeUndefined();
    recordChargedRun('req', {}, { rules: [], matches: [] });
    expect(chargedRunOf('req')).toBeUndefined();
  });
});
