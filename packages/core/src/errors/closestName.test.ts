import { closestName } from './closestName';

describe('closestName', () => {
  it('suggests a name a few edits away, a swap of neighbours counting as one, case ignored', () => {
    expect(closestName('limts', ['limits', 'identity'])).toBe('limits');
    expect(closestName('rotue', ['route'])).toBe('route');
    expect(closestName('Identiy', ['identity', 'audience'])).toBe('identity');
  });

  it('suggests a name the given one starts (or is started by), from 4 characters', () => {
    expect(closestName('maxOutput', ['maxOutputTokens', 'fallbacks'])).toBe('maxOutputTokens');
    expect(closestName('fallbacksList', ['fallbacks'])).toBe('fallbacks');
  });

  it('suggests nothing when no name is close, or the given one is very long', () => {
    expect(closestName('colour', ['limits'])).toBeUndefined();
    expect(closestName('x'.repeat(41), ['x'.repeat(41)])).toBeUndefined();
    expect(closestName('limits', [])).toBeUndefined();
  });
});
