import { limitKey } from './limitKey';
import type { LimitContext } from './LimitRule';
import { ScopeKeyCache } from './ScopeKeyCache';

describe('ScopeKeyCache', () => {
  it('returns the keys limitKey builds, for every rule of the scope', () => {
    const cache = new ScopeKeyCache(['team', 'model'], ['team-tpm', 'team|rpm']);
    const contexts: LimitContext[] = [
      { team: 't1', model: 'gpt-4o' },
      { team: 't1|model=x', model: 'y' },
      { team: 'x'.repeat(300), model: 'm:{1}' },
    ];
    for (const ctx of contexts) {
      expect(cache.lookup(ctx)?.keys).toEqual([
        limitKey({ id: 'team-tpm', scope: ['team', 'model'] }, ctx),
        limitKey({ id: 'team|rpm', scope: ['team', 'model'] }, ctx),
      ]);
    }
  });

  it('returns the same string objects for the same values, and undefined when a value is missing', () => {
    const cache = new ScopeKeyCache(['user'], ['rpm']);
    const a = cache.lookup({ user: 'u1' });
    expect(cache.lookup({ user: 'u1' })).toBe(a);
    expect(cache.lookup({ user: 'u1' })?.keys[0]).toBe(a?.keys[0]);
    expect(a?.handles).toEqual([undefined]);
    expect(cache.lookup({ team: 't' })).toBeUndefined();
    expect(cache.lookup({ user: '' })).toBeUndefined();
    expect(new ScopeKeyCache([], ['global']).lookup({})?.keys).toEqual(['global']);
  });

  it('starts over when full, and still answers correctly', () => {
    const cache = new ScopeKeyCache(['user'], ['rpm'], 3);
    const first = cache.lookup({ user: 'u0' });
    for (let i = 1; i <= 3; i++) cache.lookup({ user: `u${i}` });
    const again = cache.lookup({ user: 'u0' });
    expect(again).toEqual(first);
    expect(again).not.toBe(first);
  });
});
