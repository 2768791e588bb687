import { KeySlot } from './KeySlot';
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
      expect(cache.lookup(ctx)?.map((s) => s.key)).toEqual([
        limitKey({ id: 'team-tpm', scope: ['team', 'model'] }, ctx),
        limitKey({ id: 'team|rpm', scope: ['team', 'model'] }, ctx),
      ]);
    }
  });

  it('returns the same string objects for the same values, and undefined when a value is missing', () => {
    const cache = new ScopeKeyCache(['user'], ['rpm']);
    const a = cache.lookup({ user: 'u1' });
    expect(cache.lookup({ user: 'u1' })).toBe(a);
    expect(cache.lookup({ user: 'u1' })?.[0]?.key).toBe(a?.[0]?.key);
    expect(a?.map((s) => s.handle)).toEqual([undefined]);
    expect(cache.lookup({ team: 't' })).toBeUndefined();
    expect(cache.lookup({ user: '' })).toBeUndefined();
    expect(new ScopeKeyCache([], ['global']).lookup({})?.map((s) => s.key)).toEqual(['global']);
  });

  it('creates no trie nodes for contexts missing a later dimension, so memory stays bounded', () => {
    const cache = new ScopeKeyCache(['user', 'team'], ['rpm', 'tpm'], 1000);
    for (let i = 0; i < 10_000; i++) {
      expect(cache.lookup({ user: `u${i}` })).toBeUndefined(); // no team: the rule does not apply
      expect(cache.lookup({ user: `u${i}`, team: '' })).toBeUndefined();
    }
    expect(cache.nodeCount).toBe(1); // the root alone
    expect(cache.lookup({ user: 'u1', team: 't1' })?.map((s) => s.key)).toEqual(['rpm|user=u1|team=t1', 'tpm|user=u1|team=t1']);
    expect(cache.nodeCount).toBe(2);
    // A full population stays within its two generations of at most 500 entries each.
    for (let i = 0; i < 10_000; i++) cache.lookup({ user: `u${i}`, team: 't' });
    expect(cache.nodeCount).toBeLessThanOrEqual(2 + 2 * 500);
    expect(new ScopeKeyCache([], ['global']).nodeCount).toBe(0);
  });

  it('keeps at most maxEntries value combinations in two generations, and still answers correctly', () => {
    const cache = new ScopeKeyCache(['user'], ['rpm'], 4); // generations of 2
    const u0 = cache.lookup({ user: 'u0' });
    cache.lookup({ user: 'u1' }); // the first generation is full: u0, u1 are the previous one now
    expect(cache.lookup({ user: 'u0' })).toBe(u0); // found there and moved to the current one
    cache.lookup({ user: 'u2' }); // current full again: previous = { u0, u2 }, u1 is gone
    expect(cache.lookup({ user: 'u0' })).toBe(u0);
    const u1 = cache.lookup({ user: 'u1' });
    expect(u1?.map((s) => s.key)).toEqual(['rpm|user=u1']);
    cache.lookup({ user: 'u3' });
    cache.lookup({ user: 'u4' });
    cache.lookup({ user: 'u5' }); // u0 was last moved two generations ago
    const again = cache.lookup({ user: 'u0' });
    expect(again).toEqual([new KeySlot('rpm|user=u0')]);
    expect(again).not.toBe(u0);
  });

  it('moves an entry between generations with the handles the store gave it, for multi-level scopes too', () => {
    const cache = new ScopeKeyCache(['team', 'user'], ['a', 'b'], 2); // generations of 1
    const first = cache.lookup({ team: 't', user: 'u' })!;
    first[1]!.handle = 'cell';
    expect(cache.lookup({ team: 't', user: 'u' })).toBe(first);
    expect(cache.lookup({ team: 't', user: 'u' })?.map((s) => s.handle)).toEqual([undefined, 'cell']);
    expect(cache.lookup({ team: 't', user: 'v' })?.map((s) => s.key)).toEqual(['a|team=t|user=v', 'b|team=t|user=v']);
    expect(() => new ScopeKeyCache(['user'], ['rpm'], 1)).toThrow(/maxEntries/);
  });
});
