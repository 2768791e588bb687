import type { LimitRule } from '@llm-resilience/core';
import { NestConfigError } from '../NestConfigError';
import { defaultInboundRuleId, definitionSignature, inboundRuleId, overridingDeclarationOf, overridingRuleId, toInboundLimitRules } from './inboundRules';
import type { InboundLimitRule } from '../types';

describe('toInboundLimitRules', () => {
  it('turns inbound rules into prefixed request-count rules', () => {
    expect(
      toInboundLimitRules(
        [
          { scope: ['user'], limit: 20, window: '1m' },
          { id: 'tenant-burst', scope: ['tenant', 'route'], limit: 5, window: 1000, burst: 10, match: { environment: 'prod' } },
        ],
        'Test',
      ),
    ).toEqual([
      { id: 'nest-inbound:user:requests:1m', scope: ['user'], metric: 'requests', limit: 20, windowMs: 60_000, onFailure: 'keep' },
      {
        id: 'nest-inbound:tenant-burst',
        scope: ['tenant', 'route'],
        metric: 'requests',
        limit: 5,
        windowMs: 1000,
        burst: 10,
        match: { environment: 'prod' },
        onFailure: 'keep',
      },
    ]);
    expect(inboundRuleId('nest-inbound:tenant-burst')).toBe('tenant-burst');
    expect(inboundRuleId('user-rpm')).toBe('user-rpm');
  });

  it('names the default id after the owner that declared the rule, so each declaration has its own bucket', () => {
    const rule: InboundLimitRule = { scope: ['user'], limit: 2, window: '1m' };
    expect(toInboundLimitRules([rule], 'ExpensiveController: @RateLimited', 'ExpensiveController')[0]?.id).toBe('nest-inbound:ExpensiveController:user:requests:1m');
    expect(toInboundLimitRules([rule], 'CheapController.get: @RateLimited', 'CheapController.get')[0]?.id).toBe('nest-inbound:CheapController.get:user:requests:1m');
    // An explicit id is kept as written, whatever the owner: rules that share it share a bucket.
    expect(toInboundLimitRules([{ ...rule, id: 'per-user' }], 'CheapController: @RateLimited', 'CheapController')[0]?.id).toBe('nest-inbound:per-user');
    expect(defaultInboundRuleId({ scope: [], window: 1000 })).toBe('global:requests:1000');
    expect(defaultInboundRuleId({ scope: ['tenant', 'route'], window: '1h' }, 'ReportController')).toBe('ReportController:tenant+route:requests:1h');
  });

  it.each([
    [[{ scope: ['model'], limit: 1, window: '1m' }], /scope: 'model' is not known/],
    [[{ scope: ['user'], limit: 0, window: '1m' }], /\[0\]\.limit: expected a positive number, got 0/],
    [[{ scope: ['user'], limit: 1, window: '1y' }], /\[0\]\.window: expected a window/],
    [[{ scope: ['user'], limit: 1, window: '500ms' }], /\[0\]\.window/],
    [[{ scope: ['user'], limit: 1, window: '1m', burst: -2 }], /\[0\]\.burst/],
    [[{ id: 'x', scope: [], limit: 1, window: '1m' }, { id: 'x', scope: [], limit: 1, window: '1m' }], /\[1\]\.id: expected a unique id/],
    ['nope', /expected an array of rules/],
  ])('rejects %j', (rules, message) => {
    const run = () => toInboundLimitRules(rules as never, 'SupportController: @RateLimited');
    expect(run).toThrow(NestConfigError);
    expect(run).toThrow(message);
    expect(run).toThrow(/^SupportController: @RateLimited limits/);
  });
});

describe('toInboundLimitRules rejects at start-up what would silently never work', () => {
  const base = { scope: ['user'], limit: 5, window: '1m' };
  it.each<[string, object, string]>([
    ['a concurrency metric (would count requests)', { metric: 'concurrency' }, "[0].metric: expected 'requests' (or no metric), got 'concurrency': ResilienceGuard counts requests only. Inbound concurrency"],
    ['a token metric', { metric: 'totalTokens' }, "[0].metric: expected 'requests' (or no metric), got 'totalTokens'"],
    ['a limit below 1 without a burst (every request 429)', { limit: 0.5 }, '[0].limit: expected a number >= 1 without a burst (the bucket holds `limit` requests and must hold at least one), got 0.5. For fewer than one request per window, add burst: 1.'],
    ['a burst below 1', { burst: 0.1 }, '[0].burst: expected a number >= 1 (the most requests let through at once), got 0.1.'],
    ['a match that is a string', { match: 'staging' }, "[0].match: expected an object of dimensions to values, such as { environment: 'staging' }, got a string."],
    ['a match value that is not a string', { match: { environment: 5 } }, '[0].match.environment: expected a string, got a number.'],
    ['a misspelt match dimension', { match: { enviroment: 'staging' } }, "[0].match.enviroment: not a dimension (did you mean 'environment'?); match can use user, team, tenant, environment, route."],
    ['an id that is a number', { id: 5 }, '[0].id: expected a non-empty string, got 5.'],
    ['an empty id', { id: '' }, "[0].id: expected a non-empty string, got ''."],
    ['an unknown field', { limt: 5 }, "[0].limt: not an option (did you mean 'limit'?); known: id, scope, metric, limit, window, burst, match (the fields of an inbound rule)."],
    ['a BigInt limit', { limit: 10n }, '[0].limit: expected a positive number, got a bigint.'],
    ['a BigInt window', { window: 10n }, "[0].window: expected a window between '1s' and '1d' (ms or '30s', '1m', '1h', '1d'), got a bigint."],
    ['a symbol in the scope', { scope: [Symbol('user')] }, '[0].scope: a symbol is not known before the handler runs'],
  ])('%s', (_name, change, message) => {
    const run = () => toInboundLimitRules([{ ...base, ...change } as never], 'ResilienceModule.forRoot');
    expect(run).toThrow(NestConfigError);
    expect(run).toThrow(expect.objectContaining({ code: 'ERR_LLMR_NEST_INVALID_LIMIT' }));
    expect(run).toThrow(`ResilienceModule.forRoot limits${message}`);
  });

  it('accepts metric requests, a fractional limit with a burst of 1 or more, and a match of known dimensions', () => {
    expect(
      toInboundLimitRules([{ scope: ['user'], metric: 'requests', limit: 0.5, burst: 1, window: '1d', match: { environment: 'staging', route: 'chat' } }], 'Test'),
    ).toEqual([
      {
        id: 'nest-inbound:user:requests:1d',
        scope: ['user'],
        metric: 'requests',
        limit: 0.5,
        burst: 1,
        windowMs: 86_400_000,
        match: { environment: 'staging', route: 'chat' },
        onFailure: 'keep',
      },
    ]);
  });
});

describe('store ids of overriding rules', () => {
  const perUser = { scope: ['user'], limit: 600, windowMs: 60_000 } satisfies Partial<LimitRule>;

  it('name the declaration and the definition before the id, and read back the id as written', () => {
    const storeId = overridingRuleId('per-user', 'ExportController.bulk', perUser);
    expect(storeId).toBe('nest-inbound@ExportController.bulk~user,600/60000ms:per-user');
    expect(inboundRuleId(storeId)).toBe('per-user');
    expect(overridingDeclarationOf(storeId)).toBe('ExportController.bulk');
    expect(overridingDeclarationOf('nest-inbound:per-user')).toBeUndefined();
    expect(overridingDeclarationOf('nest-inbound@no-colon')).toBeUndefined();
  });

  it('keep any written id exactly (a colon or an @ in it), and never meet a written id', () => {
    for (const id of ['a:b', 'team@acme', 'ExportController.bulk:per-user', '%3A', 'x~y', '']) {
      const storeId = overridingRuleId(id, 'ExportController.bulk', perUser);
      expect(inboundRuleId(storeId)).toBe(id);
      // Written ids are stored as nest-inbound:<id>.
      expect(storeId.startsWith('nest-inbound:')).toBe(false);
    }
  });

  it('escape a colon, a tilde (and %) in the declaration, so the declaration and the id after it read back', () => {
    const storeId = overridingRuleId('per-user', 'Odd:Con~troller%.get', perUser);
    expect(storeId).toBe('nest-inbound@Odd%3ACon%7Etroller%25.get~user,600/60000ms:per-user');
    expect(inboundRuleId(storeId)).toBe('per-user');
    expect(overridingDeclarationOf(storeId)).toBe('Odd:Con~troller%.get');
  });

  it('are the same for one definition however it was written, and differ for two', () => {
    const [written] = toInboundLimitRules([{ id: 'per-user', scope: ['user'], limit: 600, window: '1m', burst: 600, match: {} }], 'A');
    expect(overridingRuleId('per-user', 'A', written!)).toBe(overridingRuleId('per-user', 'A', perUser));
    const ids = [
      perUser,
      { ...perUser, scope: ['team'] },
      { ...perUser, scope: ['user', 'route'] },
      { ...perUser, scope: ['route', 'user'] },
      { ...perUser, scope: [] },
      { ...perUser, limit: 60 },
      { ...perUser, windowMs: 3_600_000 },
      { ...perUser, burst: 10 },
      { ...perUser, match: { environment: 'staging' } },
      { ...perUser, match: { environment: 'staging,user=u1' } },
      { ...perUser, match: { environment: 'staging', user: 'u1' } },
    ].map((definition) => overridingRuleId('per-user', 'A', definition as LimitRule));
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('definitionSignature', () => {
  it('is a compact text of scope, limit per window, burst and match', () => {
    expect(definitionSignature({ scope: [], limit: 100, windowMs: 1000 })).toBe('global,100/1000ms');
    expect(definitionSignature({ scope: ['user', 'route'], limit: 5, windowMs: 60_000, burst: 2, match: { tenant: 'acme', environment: 'staging' } })).toBe(
      'user+route,5/60000ms,burst2,environment=staging,tenant=acme',
    );
  });

  it('encodes match values, so the text has no colon and reads one way', () => {
    const text = definitionSignature({ scope: ['user'], limit: 1, windowMs: 1000, match: { environment: 'a:b,c=d %' } });
    expect(text).toBe('user,1/1000ms,environment=a%3Ab%2Cc%3Dd%20%25');
    expect(text).not.toContain(':');
  });
});
