import { checkIdentity, checkKey, identityProblem } from './identityCheck';
import { NestConfigError } from './NestConfigError';

describe('identityProblem', () => {
  it('accepts undefined and objects whose dimensions are strings or absent', () => {
    expect(identityProblem(undefined)).toBeUndefined();
    expect(identityProblem({})).toBeUndefined();
    expect(identityProblem({ user: 'u1', team: 't', tenant: 'acme', environment: 'prod' })).toBeUndefined();
    expect(identityProblem({ user: 'u1', ip: '10.0.0.1' })).toBeUndefined(); // other keys are not the engine's
  });

  it('describes everything else by type, never by value', () => {
    expect(identityProblem('u1')).toBe('a string');
    expect(identityProblem(42)).toBe('a number');
    expect(identityProblem(null)).toBeUndefined(); // no identity, like undefined
    expect(identityProblem(['u1'])).toBe('an array');
    expect(identityProblem(10n)).toBe('a bigint');
    expect(identityProblem(Promise.resolve({ user: 'u1' }))).toBe('a Promise (the function must return the identity itself)');
    expect(identityProblem({ user: { id: 'u1' } })).toBe('an object whose user is an object');
    expect(identityProblem({ user: 'u1', team: 7 })).toBe('an object whose team is a number');
    expect(identityProblem({ tenant: null })).toBe('an object whose tenant is null');
    expect(identityProblem({ environment: 1n })).toBe('an object whose environment is a bigint');
  });
});

describe('checkIdentity and checkKey', () => {
  it('return valid values unchanged', () => {
    const who = { user: 'u1' };
    expect(checkIdentity(who, 'test')).toBe(who);
    expect(checkIdentity(undefined, 'test')).toBeUndefined();
    expect(checkKey('u1', 'test')).toBe('u1');
    expect(checkKey(undefined, 'test')).toBeUndefined();
  });

  it('throw ERR_LLMR_NEST_INVALID_IDENTITY naming the source and the type, without the value', () => {
    let caught: unknown;
    try {
      checkIdentity({ user: { id: 'secret-user' } }, 'Chat.ask: @RateLimited identity(...args)');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(NestConfigError);
    expect(caught).toMatchObject({ code: 'ERR_LLMR_NEST_INVALID_IDENTITY', help: 'docs/nestjs.md#err_llmr_nest_invalid_identity' });
    expect((caught as Error).message).toBe(
      'Chat.ask: @RateLimited identity(...args) returned an object whose user is an object; expected undefined or an identity object whose ' +
        'user, team, tenant and environment are strings (or absent), such as { user: String(req.user.id) }. ' +
        'The request fails as a server error rather than count callers in a shared limit bucket. See docs/nestjs.md#err_llmr_nest_invalid_identity.',
    );
    expect(() => checkIdentity('secret-user', 'ctx: identity', 'is')).toThrow(/^ctx: identity is a string; expected undefined or an identity object/);
    expect(() => checkKey(42, 'Chat.ask: @RateLimited key(...args)')).toThrow(
      /^Chat\.ask: @RateLimited key\(\.\.\.args\) returned a number; expected a string \(the user the call is counted for\) or undefined, such as String\(userId\)\./,
    );
    expect(() => checkKey(Promise.resolve('u1'), 'k')).toThrow(/returned a Promise \(the function must return the key itself\)/);
  });
});
