import { unitRandom } from './unitRandom';

describe('unitRandom', () => {
  it('passes draws in [0, 1) through and replaces the others, and throws, by Math.random()', () => {
    expect(unitRandom(() => 0)()).toBe(0);
    expect(unitRandom(() => 0.25)()).toBe(0.25);
    for (const bad of [1, -0.5, NaN, 1e9, Infinity]) {
      const v = unitRandom(() => bad)();
      expect(v >= 0 && v < 1).toBe(true);
    }
    const v = unitRandom(() => {
      throw new Error('no entropy');
    })();
    expect(v >= 0 && v < 1).toBe(true);
  });
});
