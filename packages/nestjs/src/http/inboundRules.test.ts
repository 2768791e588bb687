import { NestConfigError } from '../NestConfigError';
import { inboundRuleId, toInboundLimitRules } from './inboundRules';

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
