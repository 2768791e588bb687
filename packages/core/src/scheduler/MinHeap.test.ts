import fc from 'fast-check';
import { MinHeap } from './MinHeap';

describe('MinHeap', () => {
  it('pops in ascending order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), (xs) => {
        const h = new MinHeap<number>((a, b) => a < b);
        for (const x of xs) h.push(x);
        expect(h.size).toBe(xs.length);
        const out: number[] = [];
        while (h.size > 0) out.push(h.pop()!);
        expect(out).toEqual([...xs].sort((a, b) => a - b));
        expect(h.pop()).toBeUndefined();
      }),
    );
  });

  it('keeps heap order after retain', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1_000 })), (xs) => {
        const h = new MinHeap<number>((a, b) => a < b);
        for (const x of xs) h.push(x);
        h.retain((x) => x % 2 === 0);
        const out: number[] = [];
        while (h.size > 0) out.push(h.pop()!);
        expect(out).toEqual(xs.filter((x) => x % 2 === 0).sort((a, b) => a - b));
      }),
    );
  });

  it('peeks without removing', () => {
    const h = new MinHeap<number>((a, b) => a < b);
    expect(h.peek()).toBeUndefined();
    h.push(5);
    h.push(2);
    expect(h.peek()).toBe(2);
    expect(h.size).toBe(2);
  });
});
