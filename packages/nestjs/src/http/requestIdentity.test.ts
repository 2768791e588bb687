import { defaultIdentity } from './requestIdentity';

describe('defaultIdentity', () => {
  it('reads Passport-style users, else the client IP', () => {
    expect(defaultIdentity({ user: { id: 42, team: 'support', tenantId: 'acme' }, ip: '10.0.0.1' })).toEqual({ user: '42', team: 'support', tenant: 'acme' });
    expect(defaultIdentity({ user: { sub: 'auth0|x' } })).toEqual({ user: 'auth0|x' });
    expect(defaultIdentity({ user: { tenant: 'acme' }, ip: '10.0.0.1' })).toEqual({ tenant: 'acme', user: '10.0.0.1' });
    expect(defaultIdentity({ ip: '10.0.0.7' })).toEqual({ user: '10.0.0.7' });
    expect(defaultIdentity({})).toBeUndefined();
    expect(defaultIdentity(undefined)).toBeUndefined();
  });
});
