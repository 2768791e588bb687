import fc from 'fast-check';
import { escapeStoreKey, MAX_STORE_KEY_LENGTH, RedisKeyspace, type RedisKeyKind } from './RedisKeyspace';

describe('escapeStoreKey', () => {
  it('leaves ordinary keys alone', () => {
    expect(escapeStoreKey('user-rpm|user=u1')).toBe('user-rpm|user=u1');
  });

  it('percent-encodes braces, percent and hash so no key can touch the hash tag', () => {
    expect(escapeStoreKey('a}{b%#')).toBe('a%7D%7Bb%25%23');
    expect(escapeStoreKey('}{llmr}')).not.toMatch(/[{}]/);
  });

  it('is injective on tricky pairs', () => {
    const inputs = ['a{b', 'a%7Bb', 'a%257Bb', '#x', '%23x', 'x'.repeat(600), 'x'.repeat(601)];
    const out = inputs.map(escapeStoreKey);
    expect(new Set(out).size).toBe(inputs.length);
  });

  it('hashes very long keys to a bounded size', () => {
    const long = escapeStoreKey('u'.repeat(10_000));
    expect(long.startsWith('#')).toBe(true);
    expect(long.length).toBeLessThanOrEqual(MAX_STORE_KEY_LENGTH);
    expect(escapeStoreKey('u'.repeat(MAX_STORE_KEY_LENGTH))).toBe('u'.repeat(MAX_STORE_KEY_LENGTH));
  });
});

describe('RedisKeyspace', () => {
  it('puts the whole namespace in one hash tag by default', () => {
    const ks = new RedisKeyspace();
    expect(ks.key('r', 'k')).toBe('{llmr}:r:k');
    expect(ks.key('c', 'k}{x')).toBe('{llmr}:c:k%7D%7Bx');
  });

  it('can drop the hash tag and escapes the prefix too', () => {
    expect(new RedisKeyspace({ prefix: 'app', hashTag: false }).key('s', 'b')).toBe('app:s:b');
    expect(new RedisKeyspace({ prefix: 'a}b' }).key('r', 'k')).toBe('{a%7Db}:r:k');
  });

  it('builds a SCAN pattern that escapes glob characters', () => {
    expect(new RedisKeyspace({ prefix: 't*1' }).pattern()).toBe('{t\\*1}:*');
  });

  it('keeps the keys of the default hash tag as they were, a `:` in the prefix included', () => {
    expect(new RedisKeyspace({ prefix: 'app:eu' }).key('r', 'user:u1')).toBe('{app:eu}:r:user:u1');
    expect(new RedisKeyspace({ prefix: 'app:eu' }).pattern()).toBe('{app:eu}:*');
  });

  it('without the hash tag, percent-encodes `:` in the prefix so that no prefix reaches into the namespace of another', () => {
    const ks = (prefix: string) => new RedisKeyspace({ prefix, hashTag: false });
    expect(ks('P:r').key('r', 'x')).toBe('P%3Ar:r:x');
    expect(ks('P:r').pattern()).toBe('P%3Ar:*');
    expect(ks('50%:x').key('r', 'k')).toBe('50%25%3Ax:r:k');
    // Pairs that were one Redis key when `:` was left alone in the prefix (`P:r:r:x`, `P:r:a:r:x`, ...).
    const pairs: Array<[[string, string], [string, string]]> = [
      [['P', 'r:x'], ['P:r', 'x']],
      [['P', 'a:r:x'], ['P:r:a', 'x']],
      [['P:r', 'r:x'], ['P:r:r', 'x']],
      [['P', 'r:r:x'], ['P:r', 'r:x']],
      [['P', 'r:%3A'], ['P:r', '%3A']],
    ];
    for (const [[pa, ka], [pb, kb]] of pairs) {
      expect(ks(pa).key('r', ka)).not.toBe(ks(pb).key('r', kb));
      expect(ks(pb).key('r', kb).startsWith(ks(pa).base)).toBe(false);
      expect(ks(pa).key('r', ka).startsWith(ks(pb).base)).toBe(false);
    }
  });

  it('gives distinct (hash tag, prefix, kind, key) distinct Redis keys, and a namespace holds the keys of its own prefix only', () => {
    // Short strings over the characters that delimit or escape: collisions are likeliest there.
    const text = fc.string({ unit: fc.constantFrom('P', 'r', 'c', 'x', ':', '%', '3', 'A', '{', '}', '#'), minLength: 1, maxLength: 6 });
    const kind = fc.constantFrom<RedisKeyKind>('r', 'c', 'w');
    const slot = fc.record({ hashTag: fc.boolean(), prefix: text, kind, key: text });
    // Pairs whose parts join to the same `:`-separated string: `P:k1:[mid:]k2:K` read with the prefix `P`
    // and with the prefix `P:k1[:mid]`.
    const lookAlikes = fc
      .record({ hashTag: fc.boolean(), prefix: text, k1: kind, mid: fc.option(text), k2: kind, key: text })
      .map(({ hashTag, prefix, k1, mid, k2, key }) => {
        const midParts = mid === null ? [] : [mid];
        return [
          { hashTag, prefix, kind: k1, key: [...midParts, k2, key].join(':') },
          { hashTag, prefix: [prefix, k1, ...midParts].join(':'), kind: k2, key },
        ] as const;
      });
    fc.assert(
      fc.property(fc.oneof(fc.tuple(slot, slot), lookAlikes), ([a, b]) => {
        const ka = new RedisKeyspace({ prefix: a.prefix, hashTag: a.hashTag });
        const kb = new RedisKeyspace({ prefix: b.prefix, hashTag: b.hashTag });
        const same = a.hashTag === b.hashTag && a.prefix === b.prefix && a.kind === b.kind && a.key === b.key;
        expect(ka.key(a.kind, a.key) === kb.key(b.kind, b.key)).toBe(same);
        const sameNamespace = a.hashTag === b.hashTag && a.prefix === b.prefix;
        expect(kb.key(b.kind, b.key).startsWith(ka.base)).toBe(sameNamespace);
      }),
      { numRuns: 1000 },
    );
  });
});
