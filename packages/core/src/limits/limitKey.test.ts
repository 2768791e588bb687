import { escapeKeyValue, limitKey, MAX_KEY_VALUE_LENGTH } from './limitKey';
import type { LimitContext, LimitRule } from './LimitRule';

const rule: Pick<LimitRule, 'id' | 'scope'> = { id: 'team-tpm', scope: ['user', 'team'] };

describe('limitKey', () => {
  it('builds rule id and dimensions in scope order', () => {
    expect(limitKey(rule, { team: 't1', user: 'u1', route: 'ignored' })).toBe('team-tpm|user=u1|team=t1');
    expect(limitKey({ id: 'global', scope: [] }, { user: 'u1' })).toBe('global');
  });

  it('does not apply when a scope dimension is missing or empty', () => {
    expect(limitKey(rule, { user: 'u1' })).toBeUndefined();
    expect(limitKey(rule, { user: '', team: 't1' })).toBeUndefined();
  });

  it('percent-encodes separators, braces, colons, hash, percent and control characters', () => {
    expect(escapeKeyValue('a|b=c')).toBe('a%7Cb%3Dc');
    expect(escapeKeyValue('{slot}:x')).toBe('%7Bslot%7D%3Ax');
    expect(escapeKeyValue('100%#1')).toBe('100%25%231');
    expect(escapeKeyValue('a\nb\u0000\u007f')).toBe('a%0Ab%00%7F');
    expect(escapeKeyValue('ünïcødé 😀')).toBe('ünïcødé 😀');
  });

  it('gives distinct keys to ids crafted to collide', () => {
    const contexts: LimitContext[] = [
      { user: 'a', team: 'b' },
      { user: 'a|team=b', team: 'b' },
      { user: 'a', team: 'b|team=b' },
      { user: 'a|team', team: 'b' },
      { user: 'a%7Cteam', team: 'b' },
      { user: 'a%257C', team: 'b' },
      { user: 'a%7C', team: 'b' },
      { user: 'a|', team: 'b' },
      { user: 'a=', team: 'b' },
      { user: 'a:', team: 'b' },
      { user: 'a{', team: 'b' },
      { user: 'a}', team: 'b' },
      { user: '{a}', team: 'b' },
      { user: 'a\u0000', team: 'b' },
      { user: 'a\ud800', team: 'b' },
      { user: 'a\udc00', team: 'b' },
      { user: 'a\ufffd', team: 'b' },
      { user: 'a%u' + 'D800', team: 'b' },
    ];
    const keys = contexts.map((c) => limitKey(rule, c));
    expect(new Set(keys).size).toBe(contexts.length);
    for (const k of keys) expect(k!.split('|')).toHaveLength(3);
  });

  it('hashes long values into a bounded, stable form without collisions', () => {
    const long = 'x'.repeat(10_000);
    const longer = `${long}y`;
    const a = escapeKeyValue(long);
    expect(a).toMatch(/^#[A-Za-z0-9_-]{43}$/);
    expect(escapeKeyValue(long)).toBe(a);
    expect(escapeKeyValue(longer)).not.toBe(a);
    expect(escapeKeyValue('x'.repeat(MAX_KEY_VALUE_LENGTH))).toBe('x'.repeat(MAX_KEY_VALUE_LENGTH));
    // A short id cannot pose as the digest of a long one: '#' is always escaped.
    expect(escapeKeyValue(a)).not.toBe(a);
    // Escaping that grows a value past the limit also hashes (keys stay short).
    expect(escapeKeyValue('|'.repeat(50))).toMatch(/^#/);
    expect(escapeKeyValue('|'.repeat(50))).not.toBe(escapeKeyValue('='.repeat(50)));
  });

  it('escapes the rule id too', () => {
    expect(limitKey({ id: 'a|user=x', scope: ['user'] }, { user: 'u' })).toBe('a%7Cuser%3Dx|user=u');
  });
});
