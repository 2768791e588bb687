import { ManualClock } from '@llm-resilience/core';
import { LeaseMark } from './LeaseMark';
import { LocalFallbackLimiter, LocalMark } from './LocalFallbackLimiter';

const rpm = { key: 'k', kind: 'rate' as const, limit: 100, windowMs: 60_000, amount: 1 };

function limiter(fraction: number, clock?: ManualClock): LocalFallbackLimiter {
  return new LocalFallbackLimiter(fraction, clock);
}

describe('LocalFallbackLimiter', () => {
  it('enforces the fraction of a rate limit and of its burst', async () => {
    const clock = new ManualClock(0);
    const local = limiter(0.25, clock);
    for (let i = 0; i < 25; i++) expect(local.reserve([rpm]).ok).toBe(true);
    const denied = local.reserve([rpm]);
    expect(denied).toMatchObject({ ok: false, index: 0, retryAfterMs: 2400 }); // 25/min -> one per 2.4 s
    await clock.advance(2400);
    expect(local.reserve([rpm]).ok).toBe(true);
    expect(local.peek([rpm])[0]).toEqual({ remaining: 0, resetMs: 60_000 });
  });

  it('keeps at least one unit of capacity at the scaled rate', async () => {
    const clock = new ManualClock(0);
    const local = limiter(0.25, clock);
    const small = { ...rpm, limit: 2 };
    expect(local.reserve([small]).ok).toBe(true);
    expect(local.reserve([small])).toMatchObject({ ok: false, retryAfterMs: 120_000 });
  });

  it('scales concurrency limits and applies adjustments on the scaled limits', () => {
    const local = limiter(0.5);
    const slot = { key: 'c', kind: 'concurrency' as const, limit: 4, windowMs: 0, amount: 1 };
    expect(local.reserve([slot]).ok).toBe(true);
    expect(local.reserve([slot]).ok).toBe(true);
    expect(local.reserve([slot])).toMatchObject({ ok: false, retryAfterMs: 250 });
    local.adjust([{ ...slot, delta: -1 }]);
    expect(local.reserve([slot]).ok).toBe(true);
  });

  it('scales per-window totals (budgets) exactly, with extra charges and refunds', () => {
    const local = limiter(0.25);
    // $2 a day fleet-wide: $0.50 locally (no "at least one unit" for money).
    const spend = { key: 'budget|tenant=acme|w=1', kind: 'concurrency' as const, limit: 2, windowMs: 86_400_000, amount: 0.3 };
    expect(local.reserve([spend]).ok).toBe(true);
    expect(local.reserve([spend])).toMatchObject({ ok: false, index: 0 });
    local.adjust([{ ...spend, delta: 0.1 }]); // the call cost more than reserved
    expect(local.peek([spend])[0]!.remaining).toBeCloseTo(0.1, 12);
    local.adjust([{ ...spend, delta: -1 }]);
    expect(local.peek([spend])).toEqual([{ remaining: 0.5, resetMs: 0 }]);
  });

  it('admits an amount above the local share but within the real burst when the bucket is full, then waits for the debt', async () => {
    const clock = new ManualClock(0);
    const local = limiter(0.25, clock);
    // 90k tokens a minute, 22.5k locally (one per 2.667 ms); a 30k call fits the real limit only.
    const tpm = { key: 'tpm', kind: 'rate' as const, limit: 90_000, windowMs: 60_000, amount: 30_000 };
    expect(local.reserve([tpm]).ok).toBe(true); // nothing held locally: admitted, 7.5k in debt
    expect(local.peek([tpm])).toEqual([{ remaining: 0, resetMs: 80_000 }]);
    // Then even one token waits until the debt is paid back (finite), not forever.
    expect(local.reserve([{ ...tpm, amount: 1 }])).toMatchObject({ ok: false, index: 0, retryAfterMs: 20_003 }); // 7.5k + 1 tokens at 2.667 ms
    // The next 30k waits until the bucket is full again: the local rate holds over time.
    expect(local.reserve([tpm])).toMatchObject({ ok: false, index: 0, retryAfterMs: 80_000 });
    await clock.advance(80_000);
    const again = local.reserve([tpm]);
    expect(again.ok).toBe(true);
    // Its refund (with its mark) gives back all it holds, debt included, and no more.
    local.adjust([{ ...tpm, delta: -30_000, mark: again.ok ? again.marks?.[0] : undefined }]);
    expect(local.usage([tpm])).toEqual([0]);
    // Above the real burst it can never pass, on Redis either.
    await clock.advance(80_000);
    expect(local.reserve([{ ...tpm, amount: 90_001 }])).toMatchObject({ ok: false, index: 0, retryAfterMs: Infinity });
  });

  it('admits more slots or spend than the local share, within the real limit, only when nothing is held locally', () => {
    const local = limiter(0.25, new ManualClock(0));
    const slots = { key: 'slots', kind: 'concurrency' as const, limit: 8, windowMs: 0, amount: 3 }; // 2 locally
    expect(local.reserve([slots]).ok).toBe(true);
    expect(local.reserve([{ ...slots, amount: 1 }])).toMatchObject({ ok: false, retryAfterMs: 250 });
    local.adjust([{ ...slots, delta: -3 }]);
    expect(local.reserve([slots]).ok).toBe(true);
    expect(local.reserve([{ ...slots, amount: 9 }])).toMatchObject({ ok: false, retryAfterMs: Infinity });

    // $50 a day, $12.50 locally: a $20 call is admitted on an untouched local total, then the day is spent.
    const day = 86_400_000;
    const spend = { key: 'budget|w=0', kind: 'concurrency' as const, limit: 50, windowMs: day, amount: 20 };
    expect(local.reserve([spend]).ok).toBe(true);
    expect(local.reserve([{ ...spend, amount: 0.01 }])).toMatchObject({ ok: false, retryAfterMs: day });
    expect(local.reserve([{ ...spend, key: 'budget|w=1', amount: 50.01 }])).toMatchObject({ ok: false, retryAfterMs: Infinity });
  });

  it('counts charges on one key together, and admits a reservation only if every key allows it', () => {
    const local = limiter(0.25, new ManualClock(0));
    const tpm = { key: 'tpm', kind: 'rate' as const, limit: 1000, windowMs: 60_000, amount: 600 };
    const requests = { ...rpm, amount: 1 };
    // Each tpm charge fits the real burst alone; together (1200) they never can (a charge on that key is named).
    expect(local.reserve([requests, tpm, tpm])).toMatchObject({ ok: false, index: 1, retryAfterMs: Infinity });
    expect(local.usage([requests, tpm])).toEqual([0, 0]); // all or nothing
    // 2 × 400 = 800: above the local share (250), within the real burst, on an untouched bucket.
    expect(local.reserve([requests, { ...tpm, amount: 400 }, { ...tpm, amount: 400 }]).ok).toBe(true);
    expect(local.usage([requests, tpm])).toEqual([1, 800]);
    // A burst above the limit is the real capacity.
    expect(local.reserve([{ ...tpm, key: 'tpm2', burst: 2000, amount: 1500 }]).ok).toBe(true);
  });

  it('caps late refunds of its own reservations', async () => {
    const clock = new ManualClock(0);
    const local = limiter(1, clock);
    const tpm = { key: 't', kind: 'rate' as const, limit: 10, windowMs: 1000, amount: 10 };
    const a = local.reserve([tpm]);
    expect(a.ok && a.marks).toEqual([new LocalMark([1000, 1000])]);
    await clock.advance(1000);
    expect(local.reserve([tpm]).ok).toBe(true);
    local.adjust([{ ...tpm, delta: -10, mark: a.ok ? a.marks?.[0] : undefined }]); // a's interval is over
    expect(local.peek([tpm])).toEqual([{ remaining: 0, resetMs: 1000 }]);
  });

  it("never gives back what a reservation made on Redis holds there, and counts its extra charges", () => {
    const local = limiter(0.5, new ManualClock(0));
    const tpm = { key: 't', kind: 'rate' as const, limit: 1000, windowMs: 3_600_000, amount: 500 };
    const slot = { key: 's', kind: 'concurrency' as const, limit: 2, windowMs: 0, amount: 1 };
    const spend = { key: 'b|w=1', kind: 'concurrency' as const, limit: 2, windowMs: 86_400_000, amount: 1 };
    expect(local.reserve([tpm, slot, spend]).ok).toBe(true); // the whole local share of each
    // Refunds and releases with Redis marks (a number, a lease): the local fallback never held them.
    local.adjust([
      { ...tpm, delta: -400, mark: 1_700_000_000_000 },
      { ...slot, delta: -1, mark: new LeaseMark('1700000000000.ab|1') },
      { ...spend, delta: -1, mark: 0 },
    ]);
    expect(local.usage([tpm, slot, spend])).toEqual([500, 1, 1]);
    expect(local.reserve([{ ...tpm, amount: 1 }])).toMatchObject({ ok: false });
    expect(local.reserve([slot])).toMatchObject({ ok: false });
    // An extra charge of such a reservation is this process's usage: counted against its share.
    local.adjust([{ ...tpm, delta: 100, mark: 1_700_000_000_000 }]);
    expect(local.usage([tpm])).toEqual([600]);
    // Without a mark (the store's own callers), an adjustment applies as on the memory store.
    local.adjust([{ ...tpm, delta: -300 }]);
    expect(local.usage([tpm])).toEqual([300]);
  });

  it('passes limits through unchanged with fraction 1', () => {
    const local = limiter(1);
    for (let i = 0; i < 100; i++) expect(local.reserve([rpm]).ok).toBe(true);
    expect(local.reserve([rpm]).ok).toBe(false);
    local.close();
  });
});
