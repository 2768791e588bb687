import { Fifo } from './Fifo';

describe('Fifo', () => {
  it('returns elements in insertion order', () => {
    const q = new Fifo<number>();
    q.push(1);
    q.push(2);
    expect(q.peek()).toBe(1);
    expect(q.shift()).toBe(1);
    q.push(3);
    expect(q.toArray()).toEqual([2, 3]);
    expect(q.shift()).toBe(2);
    expect(q.shift()).toBe(3);
    expect(q.shift()).toBeUndefined();
    expect(q.peek()).toBeUndefined();
    expect(q.size).toBe(0);
  });

  it('keeps order across compactions of a long queue', () => {
    const q = new Fifo<number>();
    const out: number[] = [];
    for (let i = 0; i < 5_000; i++) {
      q.push(i);
      if (i % 3 !== 0) out.push(q.shift()!);
    }
    while (q.size > 0) out.push(q.shift()!);
    expect(out).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
  });
});
