import { createRandom, hashText, sampleLogNormal } from './random';

describe('createRandom', () => {
  it('gives the same sequence for the same seed and a different one for another seed', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const c = createRandom(43);
    const seqA = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(seqA);
    expect(c()).not.toBe(seqA[0]);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('hashText', () => {
  it('is 8 hex digits and stable', () => {
    expect(hashText('hello')).toBe('4f9f2cab');
    expect(hashText('')).toMatch(/^[0-9a-f]{8}$/);
    expect(hashText('hello!')).not.toBe(hashText('hello'));
  });
});

describe('sampleLogNormal', () => {
  it('has the requested median and 95th percentile', () => {
    const rnd = createRandom(7);
    const xs = Array.from({ length: 20_000 }, () => sampleLogNormal(rnd, 100, 400)).sort((a, b) => a - b);
    expect(xs[10_000]!).toBeGreaterThan(90);
    expect(xs[10_000]!).toBeLessThan(110);
    expect(xs[19_000]!).toBeGreaterThan(360);
    expect(xs[19_000]!).toBeLessThan(440);
  });

  it('is constant when p95 equals p50', () => {
    expect(sampleLogNormal(createRandom(1), 50, 50)).toBe(50);
  });
});
