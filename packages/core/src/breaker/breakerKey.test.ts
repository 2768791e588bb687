import { breakerKey, parseBreakerKey } from './breakerKey';

describe('breakerKey', () => {
  it('round-trips target and provider keys, ids with ":" included', () => {
    expect(breakerKey('target', 'fast-a')).toBe('target:fast-a');
    expect(parseBreakerKey(breakerKey('provider', 'openai'))).toEqual({ scope: 'provider', id: 'openai' });
    expect(parseBreakerKey('target:openai/gpt-x:2025')).toEqual({ scope: 'target', id: 'openai/gpt-x:2025' });
  });

  it('rejects keys without a known scope or an id', () => {
    expect(parseBreakerKey('oops')).toBeUndefined();
    expect(parseBreakerKey('model:x')).toBeUndefined();
    expect(parseBreakerKey('target:')).toBeUndefined();
  });
});
