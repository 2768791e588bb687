import { closestName } from './closestName';

describe('closestName', () => {
  const names = ['fallbacks', 'targets', 'maxOutputTokens', 'maxConcurrency', 'innerRetries'];

  it('finds the name a typo, a wrong case or a shortened name stands for', () => {
    expect(closestName('fallback', names)).toBe('fallbacks');
    expect(closestName('Targets', names)).toBe('targets');
    expect(closestName('maxOutput', names)).toBe('maxOutputTokens');
    expect(closestName('maxConcurency', names)).toBe('maxConcurrency');
  });

  it('suggests nothing for a name that is not close to any', () => {
    expect(closestName('retries', names)).toBeUndefined();
    expect(closestName('x', names)).toBeUndefined();
    expect(closestName('fallback', [])).toBeUndefined();
  });
});
