import { ManualClock, MemoryLimiterStore } from '@llm-resilience/core';
import { ExpressConfigError } from './ExpressConfigError';
import { DEFAULT_INBOUND_ESTIMATE, InboundLimits, toLimitRules } from './InboundLimits';
import { resilience } from './index';
import type { InboundLimitRule } from './types';
import { testEngine } from '../test/support';

function configError(rules: unknown): ExpressConfigError {
  try {
    toLimitRules(rules as InboundLimitRule[]);
  } catch (e) {
    return e as ExpressConfigError;
  }
  throw new Error('expected a configuration error');
}

describe('toLimitRules', () => {
  it('normalizes the policy syntax, prefixing ids so buckets never meet the policy’s', () => {
    expect(toLimitRules([{ scope: ['user'], metric: 'requests', limit: 20, window: '1m' }])).toEqual([
      { id: 'inbound:user:requests:1m', scope: ['user'], metric: 'requests', limit: 20, windowMs: 60_000, onFailure: 'requests' },
    ]);
    expect(toLimitRules([{ id: 'c', scope: [], metric: 'concurrency', limit: 2 }])[0]).toMatchObject({ id: 'inbound:c', windowMs: 0 });
  });

  it('rejects rules that cannot work, with a code and a path', () => {
    const provider = configError([{ scope: ['provider'], metric: 'requests', limit: 1, window: '1m' }]);
    expect(provider).toBeInstanceOf(ExpressConfigError);
    expect(provider.code).toBe('ERR_LLMR_EXPRESS_INVALID_LIMIT');
    expect(provider.message).toContain('limits[0].scope');
    expect(provider.message).toContain('docs/express.md#err_llmr_express_invalid_limit');
    expect(configError([{ scope: ['user'], metric: 'requests', limit: 1 }]).message).toContain('limits[0].window');
    expect(configError([{ scope: ['user'], metric: 'requests', limit: 1, window: '2d' }]).message).toContain('limits[0].window');
    expect(configError([{ scope: ['user'], metric: 'requests', limit: 0, window: '1m' }]).message).toContain('limits[0].limit');
    expect(configError([{ scope: ['user'], metric: 'words', limit: 1, window: '1m' }]).message).toContain('limits[0].metric');
    expect(configError([{ scope: ['user'], metric: 'requests', limit: 1, window: '1m', burst: -1 }]).message).toContain('limits[0].burst');
    const dup = configError([
      { id: 'a', scope: ['user'], metric: 'requests', limit: 1, window: '1m' },
      { id: 'a', scope: ['team'], metric: 'requests', limit: 1, window: '1m' },
    ]);
    expect(dup.message).toContain('limits[1].id');
  });

  it('refuses an unknown key, as the policy does, naming its path and the closest known key', () => {
    const brust = configError([{ id: 'rpm', scope: ['user'], metric: 'requests', limit: 2, window: '1m', brust: 10 }]);
    expect(brust).toBeInstanceOf(ExpressConfigError);
    expect(brust.code).toBe('ERR_LLMR_EXPRESS_INVALID_LIMIT');
    expect(brust.message).toContain("limits[0].brust: unexpected key (did you mean 'burst'?)");
    // A misspelt match would otherwise apply the rule to every caller.
    const mtach = configError([
      { scope: ['user'], metric: 'requests', limit: 5, window: '1m' },
      { scope: ['user'], metric: 'requests', limit: 1, window: '1m', mtach: { user: 'vip' } },
    ]);
    expect(mtach.message).toContain("limits[1].mtach: unexpected key (did you mean 'match'?)");
    expect(configError([{ scope: ['user'], metric: 'requests', limit: 1, window: '1m', colour: 'red' }]).message).toMatch(
      /limits\[0\]\.colour: unexpected key; known: id, scope, metric, limit, window, burst, match/,
    );
  });

  it('makes resilience() refuse a rule with an unknown key at start-up', () => {
    const create = () =>
      resilience({
        engine: testEngine(),
        validations: false,
        limits: [{ id: 'vip-only', scope: ['user'], metric: 'requests', limit: 1, window: '1m', mtach: { user: 'vip' } } as never],
      });
    expect(create).toThrow(ExpressConfigError);
    expect(create).toThrow(/limits\[0\]\.mtach/);
  });
});

describe('InboundLimits', () => {
  const clock = new ManualClock(0);
  const store = new MemoryLimiterStore({ clock });
  const limits = new InboundLimits(
    [
      { id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 2, window: '1m' },
      { id: 'team-tokens', scope: ['team'], metric: 'totalTokens', limit: 100, window: '1h' },
    ],
    store,
  );

  it('knows which rules must be settled and which dimensions they need', () => {
    expect(limits.needsSettle).toBe(true);
    expect(limits.dimensions).toEqual(['user', 'team']);
    expect(new InboundLimits([{ scope: ['user'], metric: 'requests', limit: 1, window: '1m' }], store).needsSettle).toBe(false);
  });

  it('reports every rule after a reservation and the denying rule after a denial', async () => {
    const first = await limits.reserve({ user: 'u1', team: 't1' }, DEFAULT_INBOUND_ESTIMATE);
    if (!first.ok) throw new Error('expected admission');
    expect(limits.statusOf(first)).toEqual([
      expect.objectContaining({ id: 'user-rpm', metric: 'requests', limit: 2, windowMs: 60_000, remaining: 1 }),
      expect.objectContaining({ id: 'team-tokens', metric: 'totalTokens', limit: 100, remaining: 98 }),
    ]);
    await first.settle({ inputTokens: 40, outputTokens: 30, costUsd: 0 });
    const second = await limits.reserve({ user: 'u1', team: 't1' }, DEFAULT_INBOUND_ESTIMATE);
    if (!second.ok) throw new Error('expected admission');
    expect(limits.statusOf(second)[1]!.remaining).toBe(28);
    const third = await limits.reserve({ user: 'u1', team: 't1' }, DEFAULT_INBOUND_ESTIMATE);
    if (third.ok) throw new Error('expected a denial');
    const status = limits.statusOfDenial(third);
    expect(status).toMatchObject({ id: 'user-rpm', remaining: 0, limit: 2 });
    expect(status.resetMs).toBe(third.retryAfterMs);
    expect(third.retryAfterMs).toBeGreaterThan(0);
    await clock.advance(third.retryAfterMs);
    const later = await limits.reserve({ user: 'u1', team: 't1' }, DEFAULT_INBOUND_ESTIMATE);
    expect(later.ok).toBe(true);
  });

  it('does not apply a rule whose dimension the request lacks', async () => {
    const d = await limits.reserve({ user: 'u2' }, DEFAULT_INBOUND_ESTIMATE);
    if (!d.ok) throw new Error('expected admission');
    expect(limits.statusOf(d).map((s) => s.id)).toEqual(['user-rpm']);
  });
});
