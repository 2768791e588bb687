import { escapeStoreKey, MAX_STORE_KEY_LENGTH, RedisKeyspace } from './RedisKeyspace';

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
});
