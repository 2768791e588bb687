import { SubsetCache } from './SubsetCache';

describe('SubsetCache', () => {
  it('builds the value of each subset once', () => {
    const built: string[][] = [];
    const cache = new SubsetCache(['a', 'b', 'c'], (subset) => {
      built.push(subset);
      return subset.join('');
    });
    expect(cache.without([0])).toBe('bc');
    expect(cache.without([0])).toBe('bc');
    expect(cache.without([0, 2])).toBe('b');
    expect(cache.without([])).toBe('abc');
    expect(built).toEqual([['b', 'c'], ['b'], ['a', 'b', 'c']]);
    expect(cache.size).toBe(3);
  });

  it('keys the subsets of long lists by their indices', () => {
    const items = Array.from({ length: 40 }, (_, i) => i);
    let builds = 0;
    const cache = new SubsetCache(items, (subset) => {
      builds++;
      return subset.length;
    });
    expect(cache.without([35])).toBe(39);
    expect(cache.without([35])).toBe(39);
    expect(cache.without([3, 35])).toBe(38);
    expect(builds).toBe(2);
  });

  it('keeps at most max subsets, building the others each time', () => {
    let builds = 0;
    const cache = new SubsetCache(['a', 'b', 'c'], (subset) => {
      builds++;
      return subset.join('');
    }, 2);
    cache.without([0]);
    cache.without([1]);
    expect(cache.without([2])).toBe('ab');
    expect(cache.without([2])).toBe('ab');
    expect(cache.without([0])).toBe('bc');
    expect(builds).toBe(4);
    expect(cache.size).toBe(2);
  });
});
