import type { LimitAdjustment } from '@llm-resilience/core';
import { LeaseMark } from './LeaseMark';
import { isLeaseRelease, ReleaseQueue } from './ReleaseQueue';

const release = (n: number): LimitAdjustment => ({ key: `k${n}`, kind: 'concurrency', limit: 4, windowMs: 0, delta: -1, mark: new LeaseMark(`1.${n}|1`) });
const keys = (batch: { adjustment: LimitAdjustment }[]) => batch.map((e) => e.adjustment.key);

describe('isLeaseRelease', () => {
  it('is true only for the release of an in-flight slot that carries its lease', () => {
    expect(isLeaseRelease(release(1))).toBe(true);
    expect(isLeaseRelease({ ...release(1), mark: undefined })).toBe(false);
    expect(isLeaseRelease({ ...release(1), mark: '1.1|1' })).toBe(false);
    expect(isLeaseRelease({ ...release(1), delta: 1 })).toBe(false);
    expect(isLeaseRelease({ ...release(1), windowMs: 86_400_000 })).toBe(false); // a budget total
    expect(isLeaseRelease({ key: 'r', kind: 'rate', limit: 4, windowMs: 1000, delta: -1, mark: new LeaseMark('1.1|1') })).toBe(false);
  });
});

describe('ReleaseQueue', () => {
  it('hands releases out oldest first, a chunk at a time, and forgets those whose lease has expired', () => {
    const q = new ReleaseQueue(1000, 10);
    expect(q.add([release(1), release(2)], 0)).toBe(0);
    expect(q.add([release(3)], 500)).toBe(0);
    expect(q.size).toBe(3);
    expect(keys(q.take(999, 1))).toEqual(['k1']);
    // At 1000 the releases set aside at 0 are as old as a lease: their leases are gone on Redis.
    expect(keys(q.take(1000, 10))).toEqual(['k3']);
    expect(q.size).toBe(0);
    expect(q.take(1000, 10)).toEqual([]);
  });

  it('reports how many releases it drops because their lease has expired (onExpired)', () => {
    const expired: number[] = [];
    const q = new ReleaseQueue(1000, 10, (count) => expired.push(count));
    q.add([release(1), release(2)], 0);
    q.add([release(3)], 500);
    expect(keys(q.take(999, 10))).toEqual(['k1', 'k2', 'k3']);
    expect(expired).toEqual([]); // nothing expired: nothing reported

    q.add([release(4), release(5)], 1000);
    q.add([release(6)], 1500);
    expect(keys(q.take(2000, 10))).toEqual(['k6']); // k4 and k5 are as old as a lease
    expect(expired).toEqual([2]);
    q.add([release(7)], 2000);
    expect(q.take(3000, 10)).toEqual([]); // only an expired one was left
    expect(expired).toEqual([2, 1]);
    expect(q.size).toBe(0);
  });

  it('puts a failed chunk back ahead of newer releases, and counts what does not fit', () => {
    const q = new ReleaseQueue(60_000, 3);
    q.add([release(1), release(2)], 0);
    const batch = q.take(10, 2);
    q.add([release(3)], 20);
    expect(q.putBack(batch)).toBe(0);
    expect(keys(q.take(30, 10))).toEqual(['k1', 'k2', 'k3']);

    expect(q.add([release(4), release(5), release(6), release(7)], 40)).toBe(1); // k4 pushed out
    const again = q.take(50, 2); // k5, k6
    q.add([release(8), release(9)], 60); // k7, k8, k9
    expect(q.putBack(again)).toBe(2); // the oldest two of five go
    expect(keys(q.take(70, 10))).toEqual(['k7', 'k8', 'k9']);
  });

  it('clear empties it and says how many it held', () => {
    const q = new ReleaseQueue(60_000, 10);
    q.add([release(1), release(2)], 0);
    expect(q.clear()).toBe(2);
    expect(q.size).toBe(0);
  });
});
