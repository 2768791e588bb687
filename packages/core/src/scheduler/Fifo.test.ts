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

  it('retain keeps the matching elements in order, after a shifted prefix too', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 10; i++) q.push(i);
    q.shift();
    q.retain((n) => n % 2 === 0);
    expect(q.toArray()).toEqual([2, 4, 6, 8]);
    expect(q.size).toBe(4);
    q.push(10);
    expect(q.shift()).toBe(2);
    q.retain(() => false);
    expect(q.size).toBe(0);
    expect(q.peek()).toBeUndefined();
  });
});
