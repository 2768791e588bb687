import { ManualClock } from '../clock';
import type { LimitCharge, LimitState, ReserveResult } from './LimiterStore';
import { BucketSpec } from './BucketSpec';
import { KeySlot } from './KeySlot';
import { CONCURRENCY_RETRY_MS, MemoryLimiterStore } from './MemoryLimiterStore';

/** 10 units per second: T = 100 ms per unit, τ = 1000 ms (burst 10) unless `burst` is given. */
function rate(key: string, amount: number, extra: Partial<LimitCharge> = {}): LimitCharge {
  return { key, kind: 'rate', limit: 10, windowMs: 1000, amount, ...extra };
}

function conc(key: string, amount = 1, limit = 2): LimitCharge {
  return { key, kind: 'concurrency', limit, windowMs: 0, amount };
}

function expectOk(r: ReserveResult, states: LimitState[]): void {
  expect(r.ok).toBe(true);
  expect(r.states).toEqual(states);
}

function setup(start = 0) {
  const clock = new ManualClock(start);
  const store = new MemoryLimiterStore({ clock });
  return { clock, store };
}

describe('MemoryLimiterStore — GCRA arithmetic', () => {
  it('admits, reports remaining/reset and denies with the exact wait', () => {
    const { clock, store } = setup();
    expectOk(store.reserve([rate('k', 1)]), [{ remaining: 9, resetMs: 100 }]);
    expectOk(store.reserve([rate('k', 9)]), [{ remaining: 0, resetMs: 1000 }]);
    // tat = 1000; one more unit: newTat = 1100, 100 ms beyond τ.
    expect(store.reserve([rate('k', 1)])).toMatchObject({ ok: false, index: 0, retryAfterMs: 100 });
    clock.set(50);
    expect(store.reserve([rate('k', 1)])).toMatchObject({ ok: false, retryAfterMs: 50 });
    clock.set(100);
    expectOk(store.reserve([rate('k', 1)]), [{ remaining: 0, resetMs: 1000 }]);
    // A 3-unit request at t=100 (tat=1100) must wait until 1100 + 300 − 1000 = 400.
    expect(store.reserve([rate('k', 3)])).toMatchObject({ ok: false, retryAfterMs: 300 });
  });

  it('uses burst as the capacity, and a smaller burst spreads the window', () => {
    const { clock, store } = setup();
    const c = (a: number) => rate('b', a, { burst: 5 });
    expectOk(store.reserve([c(5)]), [{ remaining: 0, resetMs: 500 }]);
    expect(store.reserve([c(1)])).toMatchObject({ ok: false, retryAfterMs: 100 });
    clock.set(500);
    expect(store.peek([c(1)])).toEqual([{ remaining: 5, resetMs: 0 }]);
  });

  it('returns Infinity when the amount exceeds the capacity, even on an empty bucket', () => {
    const { store } = setup();
    expect(store.reserve([rate('big', 11)])).toMatchObject({ ok: false, retryAfterMs: Infinity });
    expect(store.reserve([rate('big', 6, { burst: 5 })])).toMatchObject({ ok: false, retryAfterMs: Infinity });
    expect(store.reserve([rate('big', 10)]).ok).toBe(true);
  });

  it('never holds more than the capacity however long it idles', () => {
    const { clock, store } = setup();
    store.reserve([rate('k', 10)]);
    clock.set(1_000_000);
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 10, resetMs: 0 }]);
    expect(store.reserve([rate('k', 10)]).ok).toBe(true);
    expect(store.reserve([rate('k', 1)]).ok).toBe(false);
  });

  it('handles fractional amounts (cost in USD)', () => {
    const { clock, store } = setup();
    // $1 per hour: T = 3_600_000 ms per dollar.
    const usd = (a: number): LimitCharge => ({ key: 'usd', kind: 'rate', limit: 1, windowMs: 3_600_000, amount: a });
    expect(store.reserve([usd(0.75)]).ok).toBe(true);
    expect(store.reserve([usd(0.3)])).toMatchObject({ ok: false, retryAfterMs: 180_000 });
    clock.set(180_000);
    expect(store.reserve([usd(0.3)]).ok).toBe(true);
  });

  it('fills a bucket exactly even at epoch-sized times and non-integer T', () => {
    const { store } = setup(1_700_000_000_123);
    for (let i = 0; i < 90_000; i++) {
      const r = store.reserve([{ key: 'tpm', kind: 'rate', limit: 90_000, windowMs: 60_000, amount: 1 }]);
      if (!r.ok) throw new Error(`token ${i + 1} of 90000 denied`);
    }
    expect(store.reserve([{ key: 'tpm', kind: 'rate', limit: 90_000, windowMs: 60_000, amount: 1 }]).ok).toBe(false);
    for (let i = 0; i < 7; i++) {
      expect(store.reserve([{ key: 'seven', kind: 'rate', limit: 7, windowMs: 60_000, amount: 1 }]).ok).toBe(true);
    }
    expect(store.reserve([{ key: 'seven', kind: 'rate', limit: 7, windowMs: 60_000, amount: 1 }]).ok).toBe(false);
  });
});

describe('MemoryLimiterStore — no double burst at window edges', () => {
  it('admits nothing right after a full burst, however the burst was timed', () => {
    const { clock, store } = setup();
    clock.set(999); // the end of a fixed window would reset here; GCRA does not
    expect(store.reserve([rate('k', 10)]).ok).toBe(true);
    clock.set(1000);
    expect(store.reserve([rate('k', 1)])).toMatchObject({ ok: false, retryAfterMs: 99 });
  });

  it('admits at most burst + rate × W in every window W for a greedy client', () => {
    const { clock, store } = setup();
    const admitted: number[] = [];
    for (let t = 0; t <= 5000; t++) {
      clock.set(t);
      while (store.reserve([rate('k', 1)]).ok) admitted.push(t);
    }
    const W = 1000;
    let worst = 0;
    for (let s = 0; s <= 5000 - W; s++) {
      const inWindow = admitted.filter((t) => t >= s && t <= s + W).length;
      worst = Math.max(worst, inWindow);
      if (s >= 1000) expect(inWindow).toBeLessThanOrEqual(11); // steady state: one per 100 ms
    }
    expect(worst).toBe(20); // [0, 1000]: the burst of 10 plus 10 replenished
    expect(admitted.length).toBe(10 + 50);
  });
});

describe('MemoryLimiterStore — adjustments', () => {
  it('refunds, but never beyond full capacity', () => {
    const { store } = setup();
    store.reserve([rate('k', 10)]);
    store.adjust([{ ...rate('k', 0), delta: -4 }]);
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 4, resetMs: 600 }]);
    store.adjust([{ ...rate('k', 0), delta: -1000 }]);
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 10, resetMs: 0 }]);
    expect(store.reserve([rate('k', 10)]).ok).toBe(true);
    expect(store.reserve([rate('k', 1)]).ok).toBe(false);
  });

  it('extra charges create debt that later reservations wait for', () => {
    const { clock, store } = setup();
    store.reserve([rate('k', 5)]);
    store.adjust([{ ...rate('k', 0), delta: 20 }]); // tat = 2500
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 0, resetMs: 2500 }]);
    expect(store.reserve([rate('k', 1)])).toMatchObject({ ok: false, retryAfterMs: 1600 });
    clock.set(1600);
    expect(store.reserve([rate('k', 1)]).ok).toBe(true);
  });

  it('a refund on a key that refilled meanwhile leaves it at full capacity, and skips delta 0', () => {
    const { clock, store } = setup();
    store.reserve([rate('k', 10)]); // tat = 1000
    clock.set(800);
    store.adjust([{ ...rate('k', 0), delta: 0 }]);
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 8, resetMs: 200 }]);
    store.adjust([{ ...rate('k', 0), delta: -5 }]); // tat 500, before now: full, and the key is dropped
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 10, resetMs: 0 }]);
    expect(store.size).toBe(0);
    expect(store.reserve([rate('k', 10)]).ok).toBe(true);
    expect(store.reserve([rate('k', 1)]).ok).toBe(false);
  });

  it('caps a marked refund at the unexpired part of the reservation, so a late refund cannot restore capacity twice', () => {
    const { clock, store } = setup();
    const refund = (delta: number, mark: unknown) => store.adjust([{ ...rate('k', 0), delta, mark }]);
    const a = store.reserve([rate('k', 10)]); // tat 1000: a holds [0, 1000]
    expect(a.ok && a.marks).toEqual([[1000, 1000]]); // [tat after + refunds so far, reserved at + span]
    clock.set(1000); // a's interval has expired: time gave its capacity back already
    const b = store.reserve([rate('k', 10)]); // tat 2000
    expect(b.ok && b.marks).toEqual([[2000, 2000]]);
    refund(-10, a.ok && a.marks?.[0]);
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 0, resetMs: 1000 }]); // nothing given back
    expect(store.reserve([rate('k', 10)]).ok).toBe(false);
    clock.set(1600);
    refund(-10, b.ok && b.marks?.[0]); // b still holds 400 ms of its interval: 4 units
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 10, resetMs: 0 }]);
    expect(store.size).toBe(0); // back at full capacity: dropped

    // Without a mark (or with one that is not this store's), a refund is not capped, as before.
    clock.set(3000);
    store.reserve([rate('u', 10)]);
    clock.set(3500);
    store.adjust([{ ...rate('u', 0), delta: -3 }]);
    refund(-1, 'not a mark');
    expect(store.peek([rate('k', 1), rate('u', 1)])).toEqual([
      { remaining: 10, resetMs: 0 },
      { remaining: 8, resetMs: 200 },
    ]);
  });

  it('gives everything back when reservations refund at once, in any order', () => {
    const amounts = [3, 3, 4];
    const play = (order: number[]) => {
      const { clock, store } = setup();
      clock.set(50);
      const marks = amounts.map((a) => {
        const r = store.reserve([rate('k', a)]);
        return r.ok ? r.marks?.[0] : undefined;
      });
      expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 0, resetMs: 1000 }]);
      for (const i of order) store.adjust([{ ...rate('k', 0), delta: -amounts[i]!, mark: marks[i] }]);
      return store.peek([rate('k', 1)])[0];
    };
    // Each refund shifts the later reservations' intervals earlier; their caps account for it.
    expect(play([0, 1, 2])).toEqual({ remaining: 10, resetMs: 0 });
    // A refund of a later reservation shrinks the first bound of earlier ones although it did not move
    // them; the second (no interval ends before its reservation time + its span) still holds.
    expect(play([2, 1, 0])).toEqual({ remaining: 10, resetMs: 0 });
    expect(play([1, 2, 0])).toEqual({ remaining: 10, resetMs: 0 });
  });

  it('applies a marked refund at the next clock read, capped by what the reservation holds then', () => {
    const { clock, store } = setup();
    const a = store.reserve([rate('k', 5)]); // a holds [0, 500]
    store.reserve([rate('k', 5)]); // b holds [500, 1000]: tat 1000
    clock.set(100);
    store.adjust([{ ...rate('k', 0), delta: -5, mark: a.ok && a.marks?.[0] }]); // no clock read here
    clock.set(300);
    // Applied now, at 300: a holds 200 ms more, so 200 ms come back (at 100 it would have been 400).
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 5, resetMs: 500 }]);

    // Several pending refunds apply in the order they came, before an extra charge in the same call.
    const { clock: c2, store: s2 } = setup();
    const x = s2.reserve([rate('k', 4)]); // holds [0, 400]
    const y = s2.reserve([rate('k', 4)]); // holds [400, 800]
    c2.set(200);
    s2.adjust([
      { ...rate('k', 0), delta: -2, mark: x.ok && x.marks?.[0] }, // 200 ms back: tat 600
      { ...rate('k', 0), delta: -2, mark: y.ok && y.marks?.[0] }, // 200 ms back: tat 400
      { ...rate('k', 0), delta: 3 }, // reads the clock: the refunds first, then tat 400 + 300
    ]);
    expect(s2.peek([rate('k', 1)])).toEqual([{ remaining: 5, resetMs: 500 }]);

    // `size` applies them too (a key given back in full is dropped); `close` forgets them.
    const { store: s3 } = setup();
    const z = s3.reserve([rate('k', 3)]);
    s3.adjust([{ ...rate('k', 0), delta: -3, mark: z.ok && z.marks?.[0] }]);
    expect(s3.size).toBe(0);
    const w = s3.reserve([rate('k', 3)]);
    s3.adjust([{ ...rate('k', 0), delta: -3, mark: w.ok && w.marks?.[0] }]);
    s3.close();
    expect(s3.size).toBe(0);
    expect(s3.peek([rate('k', 1)])).toEqual([{ remaining: 10, resetMs: 0 }]);
  });

  it('an extra charge on an idle key starts from now', () => {
    const { clock, store } = setup();
    store.reserve([rate('k', 10)]);
    clock.set(5000);
    store.adjust([{ ...rate('k', 0), delta: 3 }]);
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 7, resetMs: 300 }]);
  });
});

describe('MemoryLimiterStore — handles', () => {
  it('hands out a handle per charged key, and uses it only while the key lives and only in its own store', () => {
    const { clock, store } = setup();
    const first = rate('k', 4);
    store.reserve([first]);
    const stale = first.handle;
    expect(stale).toBeDefined();
    // Refunded back to full: the key is dropped, so the handle stops counting.
    store.adjust([{ ...rate('k', 0), delta: -4, handle: stale }]);
    expect(store.size).toBe(0);
    const second = rate('k', 10, { handle: stale });
    expect(store.reserve([second]).ok).toBe(true);
    expect(second.handle).not.toBe(stale);
    // The key's state is the new cell's, whichever handle a charge carries.
    expect(store.reserve([rate('k', 1, { handle: stale })])).toMatchObject({ ok: false, retryAfterMs: 100 });
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 0, resetMs: 1000 }]);
    // Another store ignores this one's handles.
    const other = new MemoryLimiterStore({ clock });
    expect(other.reserve([rate('k', 10, { handle: second.handle })]).ok).toBe(true);
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 0, resetMs: 1000 }]);
    // A charge with a handle still prints.
    expect(JSON.parse(JSON.stringify(second))).toMatchObject({ key: 'k', amount: 10 });
  });

  it('a handle from before a sweep or close is not used', () => {
    const { clock, store } = setup();
    const c = rate('k', 10);
    store.reserve([c]);
    clock.set(5000);
    store.sweep();
    expect(store.size).toBe(0);
    expect(store.reserve([rate('k', 10, { handle: c.handle })]).ok).toBe(true);
    const again = rate('k', 1);
    expect(store.reserve([again]).ok).toBe(false);
    store.close();
    expect(store.reserve([rate('k', 10, { handle: c.handle })]).ok).toBe(true);
  });
});

describe('MemoryLimiterStore — batch calls (the limiter\'s path)', () => {
  const spec = new BucketSpec('rate', 10, 1000, 10); // as rate(): T = 100 ms, τ = 1000 ms
  const slotSpec = new BucketSpec('concurrency', 2, 0, 2);

  it('makes a new key\'s slot its state, points other slots of the key at it, and starts afresh once the key is dropped', () => {
    const { clock, store } = setup();
    const slots = [new KeySlot('a'), new KeySlot('s')];
    expect(store.reserveBatch(2, [spec, slotSpec], slots, Float64Array.of(4, 1))).toBe(-1);
    // The charge-object path hands out the slot itself as the key's handle.
    const probe = rate('a', 0);
    expect(store.reserve([probe]).ok).toBe(true);
    expect(probe.handle).toBe(slots[0]);
    // Another slot of the same key (a rebuilt key-cache entry) gets that cell as its handle.
    const again = new KeySlot('a');
    expect(store.reserveBatch(1, [spec], [again], Float64Array.of(0))).toBe(-1);
    expect(again.handle).toBe(slots[0]);
    expect(store.reserveBatch(2, [spec, slotSpec], slots, Float64Array.of(5, 1))).toBe(-1);
    // The same keys through the charge-object path see the batch's state.
    expect(store.peek([rate('a', 0), conc('s')])).toEqual([
      { remaining: 1, resetMs: 900 },
      { remaining: 0, resetMs: 0 },
    ]);
    // Denied: nothing applied, and the charge that binds longest is reported with its wait.
    expect(store.reserveBatch(2, [spec, slotSpec], slots, Float64Array.of(3, 1))).toBe(1);
    expect(store.deniedWait).toBe(CONCURRENCY_RETRY_MS);
    expect(store.reserveBatch(1, [spec], slots, Float64Array.of(3))).toBe(0);
    expect(store.deniedWait).toBe(200);
    // Settling through adjustBatch: a refund, a slot given back; a delta of 0 is skipped.
    store.adjustBatch(2, [spec, slotSpec], slots, Float64Array.of(-9, -1));
    store.adjustBatch(2, [spec, slotSpec], slots, Float64Array.of(0, -1));
    expect(store.size).toBe(0); // both keys back to full: dropped
    // The slot's key was dropped: the next call finds no state and starts afresh.
    clock.set(10);
    expect(store.reserveBatch(1, [spec], slots, Float64Array.of(10))).toBe(-1);
    expect(store.peek([rate('a', 0)])).toEqual([{ remaining: 0, resetMs: 1000 }]);
    expect(store.reserveBatch(1, [spec], [again], Float64Array.of(1))).toBe(0); // the same key, full
  });

  it('keeps two stores apart when one slot is used with both', () => {
    const { clock, store } = setup();
    const slot = new KeySlot('a');
    expect(store.reserveBatch(1, [spec], [slot], Float64Array.of(10))).toBe(-1); // slot: this store's cell, full
    const other = new MemoryLimiterStore({ clock });
    expect(other.reserveBatch(1, [spec], [slot], Float64Array.of(3))).toBe(-1); // the other store: a cell of its own
    expect(other.peek([rate('a', 0)])).toEqual([{ remaining: 7, resetMs: 300 }]);
    expect(store.peek([rate('a', 0)])).toEqual([{ remaining: 0, resetMs: 1000 }]);
    expect(store.reserveBatch(1, [spec], [slot], Float64Array.of(1))).toBe(0);
    expect(other.reserveBatch(1, [spec], [slot], Float64Array.of(7))).toBe(-1);
    expect(other.reserveBatch(1, [spec], [slot], Float64Array.of(1))).toBe(0);
    // Charges that carry handles from either store still print.
    const probe = rate('a', 0);
    other.reserve([probe]);
    expect(JSON.parse(JSON.stringify(probe))).toMatchObject({ key: 'a', amount: 0 });
  });

  it('accumulates repeated charges on one key when told where each repeat\'s predecessor is', () => {
    const { store } = setup();
    const slots = [new KeySlot('k'), new KeySlot('k')];
    expect(store.reserveBatch(2, [spec, spec], slots, Float64Array.of(6, 5), Int32Array.of(-1, 0))).toBe(1);
    expect(store.deniedWait).toBe(Infinity); // 11 units can never fit a bucket of 10
    expect(store.reserveBatch(2, [spec, spec], slots, Float64Array.of(6, 4), Int32Array.of(-1, 0))).toBe(-1);
    expect(slots[1]!.handle).toBe(slots[0]); // the first slot became the key's cell
    expect(store.peek([rate('k', 0)])).toEqual([{ remaining: 0, resetMs: 1000 }]);
  });
});

describe('MemoryLimiterStore — atomicity', () => {
  it('a denied second charge leaves the first untouched', () => {
    const { store } = setup();
    store.reserve([rate('b', 10)]);
    const r = store.reserve([rate('a', 3), rate('b', 1)]);
    expect(r).toMatchObject({ ok: false, index: 1, retryAfterMs: 100 });
    expect(store.peek([rate('a', 1)])).toEqual([{ remaining: 10, resetMs: 0 }]);
  });

  it('accumulates several charges on the same key before deciding', () => {
    const { store } = setup();
    expect(store.reserve([rate('k', 6), rate('k', 6)])).toMatchObject({ ok: false, retryAfterMs: Infinity });
    expect(store.peek([rate('k', 1)])).toEqual([{ remaining: 10, resetMs: 0 }]);
    store.reserve([rate('k', 5)]);
    expect(store.reserve([rate('k', 3), rate('k', 3)])).toMatchObject({ ok: false, index: 1, retryAfterMs: 100 });
    expectOk(store.reserve([rate('k', 2), rate('k', 3)]), [
      { remaining: 3, resetMs: 700 },
      { remaining: 0, resetMs: 1000 },
    ]);
  });

  it('finds the same key whether a charge carries its handle, a stale one or none', () => {
    const { store } = setup();
    const first = rate('k', 4);
    store.reserve([first]); // first.handle is now the key's cell
    const stale = rate('k', 1, { handle: { v: 0, owner: 0 } });
    // 4 used + 3 + 3 + 1 = 11 > 10: all three later charges are on the one key.
    expect(store.reserve([rate('k', 3, { handle: first.handle }), rate('k', 3), stale])).toMatchObject({ ok: false, index: 2 });
    expectOk(store.reserve([rate('k', 3, { handle: first.handle }), rate('k', 3)]), [
      { remaining: 3, resetMs: 700 },
      { remaining: 0, resetMs: 1000 },
    ]);
    // Two charges on one new key (no state yet, no handles) accumulate too; a concurrency key of
    // the same name is another counter.
    expect(store.reserve([rate('n', 6), rate('n', 6)])).toMatchObject({ ok: false, retryAfterMs: Infinity });
    expect(store.reserve([rate('n', 6), conc('n', 1, 1)]).ok).toBe(true);
  });

  it('reports the charge with the longest wait', () => {
    const { store } = setup();
    store.reserve([rate('a', 10), rate('b', 10)]);
    store.adjust([{ ...rate('b', 0), delta: 4 }]);
    const r = store.reserve([rate('a', 1), rate('b', 1), rate('c', 1)]);
    expect(r).toMatchObject({ ok: false, index: 1, retryAfterMs: 500 });
    expect(!r.ok && r.states).toEqual([
      { remaining: 0, resetMs: 1000 },
      { remaining: 0, resetMs: 1400 },
      { remaining: 10, resetMs: 0 },
    ]);
  });

  it('mixes rate and concurrency charges all-or-nothing', () => {
    const { store } = setup();
    store.reserve([conc('c', 2)]);
    expect(store.reserve([rate('r', 1), conc('c')])).toMatchObject({ ok: false, index: 1, retryAfterMs: CONCURRENCY_RETRY_MS });
    expect(store.peek([rate('r', 1)])).toEqual([{ remaining: 10, resetMs: 0 }]);
  });
});

describe('MemoryLimiterStore — concurrency', () => {
  it('admits up to the limit and frees slots on release', () => {
    const { store } = setup();
    expectOk(store.reserve([conc('c')]), [{ remaining: 1, resetMs: 0 }]);
    expectOk(store.reserve([conc('c')]), [{ remaining: 0, resetMs: 0 }]);
    expect(store.reserve([conc('c')])).toMatchObject({ ok: false, retryAfterMs: CONCURRENCY_RETRY_MS });
    store.adjust([{ ...conc('c'), delta: -1 }]);
    expect(store.reserve([conc('c')]).ok).toBe(true);
  });

  it('never goes below zero and says Infinity when the amount exceeds the limit', () => {
    const { store } = setup();
    store.adjust([{ ...conc('c'), delta: -5 }]);
    expect(store.peek([conc('c')])).toEqual([{ remaining: 2, resetMs: 0 }]);
    expect(store.reserve([conc('c', 3)])).toMatchObject({ ok: false, retryAfterMs: Infinity });
    expect(store.reserve([conc('c'), conc('c'), conc('c')])).toMatchObject({ ok: false, index: 2, retryAfterMs: Infinity });
  });
});

describe('MemoryLimiterStore — garbage collection', () => {
  it('sweep() deletes idle keys only', () => {
    const { clock, store } = setup();
    store.reserve([rate('short', 1)]); // idle after 100 ms
    store.reserve([rate('long', 10)]); // idle after 1000 ms
    store.reserve([conc('slot')]);
    clock.set(500);
    store.sweep();
    expect(store.size).toBe(2);
    store.adjust([{ ...conc('slot'), delta: -1 }]);
    expect(store.size).toBe(1);
    clock.set(1000);
    store.sweep();
    expect(store.size).toBe(0);
  });

  it('keeps memory bounded by live keys when many one-off keys pass through', () => {
    const clock = new ManualClock(0);
    const store = new MemoryLimiterStore({ clock, sweepEvery: 100, idleGraceMs: 1000 });
    let largest = 0;
    for (let i = 0; i < 20_000; i++) {
      clock.set(i * 10);
      store.reserve([rate(`user-${i}`, 1)]); // each key is idle 100 ms later, collectable 1000 ms after that
      largest = Math.max(largest, store.size);
    }
    // Live (not yet collectable) keys: those of the last 1100 ms = 110; sweeps run at twice the live size.
    expect(largest).toBeLessThanOrEqual(2 * 110 + 1);
  });

  it('automatic sweeps spare keys idle for less than idleGraceMs; sweep() does not', () => {
    const clock = new ManualClock(0);
    const store = new MemoryLimiterStore({ clock, sweepEvery: 16, idleGraceMs: 5000 });
    store.reserve([rate('old', 1)]); // idle from t=100
    clock.set(6000);
    store.reserve([rate('recent', 1)]); // idle from t=6100
    clock.set(8000);
    // The 15th new key makes 17 > 16 keys: automatic sweep of keys idle since t <= 3000 ('old' only).
    for (let i = 0; i < 16; i++) store.reserve([rate(`k${i}`, 1)]);
    expect(store.size).toBe(1 + 16);
    store.sweep(); // no grace: 'recent' is idle, the k's are still refilling
    expect(store.size).toBe(16);
  });

  it('sweeps after sweepIntervalMs so memory drops back after a spike', () => {
    const clock = new ManualClock(0);
    const store = new MemoryLimiterStore({ clock, sweepEvery: 1_000_000, sweepIntervalMs: 60_000 });
    for (let i = 0; i < 500; i++) store.reserve([rate(`u${i}`, 1)]);
    expect(store.size).toBe(500);
    clock.set(60_000);
    store.reserve([rate('late', 1)]);
    expect(store.size).toBe(1);
  });

  it('a swept key behaves exactly like a fresh one', () => {
    const { clock, store } = setup();
    store.reserve([rate('k', 10)]);
    clock.set(1000);
    store.sweep();
    expect(store.size).toBe(0);
    expectOk(store.reserve([rate('k', 10)]), [{ remaining: 0, resetMs: 1000 }]);
  });
});

describe('MemoryLimiterStore — usage', () => {
  it('reports what each key holds exactly, where peek floors remaining to whole units', () => {
    const { clock, store } = setup();
    const cost: LimitCharge = { key: 'cost', kind: 'rate', limit: 1, windowMs: 3_600_000, amount: 0.3 };
    const budget: LimitCharge = { key: 'b|w=0', kind: 'concurrency', limit: 5, windowMs: 86_400_000, amount: 0.25 };
    store.reserve([cost, rate('k', 4), budget, conc('c')]);
    clock.set(50); // half a unit of 'k' is back
    expect(store.usage([cost, rate('k', 0), budget, conc('c'), rate('fresh', 0)])).toEqual([0.3 - 50 / 3_600_000, 3.5, 0.25, 1, 0]);
    expect(store.peek([cost, rate('k', 0)]).map((s) => s.remaining)).toEqual([0, 6]);
    store.adjust([{ ...rate('k', 0), delta: 10 }]); // debt: more than the capacity is held
    expect(store.usage([rate('k', 0)])).toEqual([13.5]);
  });
});

describe('MemoryLimiterStore — peek', () => {
  it('reports state without charging', () => {
    const { store } = setup();
    store.reserve([rate('k', 4), conc('c')]);
    expect(store.peek([rate('k', 100), conc('c', 5)])).toEqual([
      { remaining: 6, resetMs: 400 },
      { remaining: 1, resetMs: 0 },
    ]);
    expect(store.peek([rate('k', 100)])).toEqual([{ remaining: 6, resetMs: 400 }]);
  });
});

describe('MemoryLimiterStore — per-window counters (budgets)', () => {
  it('drops a window total once its window is over, and not before', async () => {
    const clock = new ManualClock(0);
    const store = new MemoryLimiterStore({ clock, idleGraceMs: 0 });
    const day = 86_400_000;
    const charge = { key: 'budget|tenant=acme|w=0', kind: 'concurrency' as const, limit: 5, windowMs: day, amount: 2 };
    expect(store.reserve([charge]).ok).toBe(true);
    store.adjust([{ key: charge.key, kind: 'concurrency', limit: 5, windowMs: day, delta: 0.5 }]);
    await clock.advance(day - 1);
    store.sweep();
    expect(store.peek([charge])[0]!.remaining).toBe(2.5);
    await clock.advance(1);
    store.sweep();
    expect(store.size).toBe(0);
  });

  it('a full window total waits for the end of its window, and so binds longer than a rate key or a slot', () => {
    const hour = 3_600_000;
    const { clock, store } = setup(10 * hour); // windows are aligned to the epoch: this one ends at 11 h
    const budget = (amount: number): LimitCharge => ({ key: 'budget|w=10', kind: 'concurrency', limit: 1, windowMs: hour, amount });
    expect(store.reserve([budget(1), rate('r', 10), conc('c', 2)]).ok).toBe(true);
    clock.set(10 * hour + 1000);
    expect(store.reserve([rate('r', 10), conc('c'), budget(0.5)])).toMatchObject({ ok: false, index: 2, retryAfterMs: hour - 1000 });
    expect(store.reserve([budget(0.5), conc('c')])).toMatchObject({ ok: false, index: 0, retryAfterMs: hour - 1000 });
    expect(store.reserve([budget(2)])).toMatchObject({ ok: false, index: 0, retryAfterMs: Infinity });
    clock.set(11 * hour - 0.25);
    expect(store.reserve([budget(0.5)])).toMatchObject({ ok: false, retryAfterMs: 1 }); // at least 1 ms
  });

  it('keeps in-flight counters (no window) until released', async () => {
    const clock = new ManualClock(0);
    const store = new MemoryLimiterStore({ clock, idleGraceMs: 0 });
    const slot = { key: 'inflight|model=m', kind: 'concurrency' as const, limit: 2, windowMs: 0, amount: 1 };
    store.reserve([slot]);
    await clock.advance(10 * 86_400_000);
    store.sweep();
    expect(store.peek([slot])[0]!.remaining).toBe(1);
  });
});
