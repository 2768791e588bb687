import { ManualClock } from '@llm-resilience/core';
import { LocalFallbackLimiter, LocalMark } from './LocalFallbackLimiter';

const rpm = { key: 'k', kind: 'rate' as const, limit: 100, windowMs: 60_000, amount: 1 };

describe('LocalFallbackLimiter', () => {
  it('enforces the fraction of a rate limit and of its burst', async () => {
    const clock = new ManualClock(0);
    const local = new LocalFallbackLimiter(0.25, clock);
    for (let i = 0; i < 25; i++) expect(local.reserve([rpm]).ok).toBe(true);
    const denied = local.reserve([rpm]);
    expect(denied).toMatchObject({ ok: false, index: 0, retryAfterMs: 2400 }); // 25/min -> one per 2.4 s
    await clock.advance(2400);
    expect(local.reserve([rpm]).ok).toBe(true);
    expect(local.peek([rpm])[0]).toEqual({ remaining: 0, resetMs: 60_000 });
  });

  it('keeps at least one unit of capacity at the scaled rate', async () => {
    const clock = new ManualClock(0);
    const local = new LocalFallbackLimiter(0.25, clock);
    const small = { ...rpm, limit: 2 };
    expect(local.reserve([small]).ok).toBe(true);
    expect(local.reserve([small])).toMatchObject({ ok: false, retryAfterMs: 120_000 });
  });

  it('scales concurrency limits and applies adjustments on the scaled limits', () => {
    const local = new LocalFallbackLimiter(0.5);
    const slot = { key: 'c', kind: 'concurrency' as const, limit: 4, windowMs: 0, amount: 1 };
    expect(local.reserve([slot]).ok).toBe(true);
    expect(local.reserve([slot]).ok).toBe(true);
    expect(local.reserve([slot])).toMatchObject({ ok: false, retryAfterMs: 250 });
    local.adjust([{ ...slot, delta: -1 }]);
    expect(local.reserve([slot]).ok).toBe(true);
  });

  it('scales per-window totals (budgets) exactly, with extra charges and refunds', () => {
    const local = new LocalFallbackLimiter(0.25);
    // $2 a day fleet-wide: $0.50 locally (no "at least one unit" for money).
    const spend = { key: 'budget|tenant=acme|w=1', kind: 'concurrency' as const, limit: 2, windowMs: 86_400_000, amount: 0.3 };
    expect(local.reserve([spend]).ok).toBe(true);
    expect(local.reserve([spend])).toMatchObject({ ok: false, index: 0 });
    local.adjust([{ ...spend, delta: 0.1 }]); // the call cost more than reserved
    expect(local.peek([spend])[0]!.remaining).toBeCloseTo(0.1, 12);
    local.adjust([{ ...spend, delta: -1 }]);
    expect(local.peek([spend])).toEqual([{ remaining: 0.5, resetMs: 0 }]);
  });

  it('caps late refunds of its own reservations, and leaves refunds with a Redis mark uncapped', async () => {
    const clock = new ManualClock(0);
    const local = new LocalFallbackLimiter(1, clock);
    const tpm = { key: 't', kind: 'rate' as const, limit: 10, windowMs: 1000, amount: 10 };
    const a = local.reserve([tpm]);
    expect(a.ok && a.marks).toEqual([new LocalMark([1000, 1000])]);
    await clock.advance(1000);
    expect(local.reserve([tpm]).ok).toBe(true);
    local.adjust([{ ...tpm, delta: -10, mark: a.ok ? a.marks?.[0] : undefined }]); // a's interval is over
    expect(local.peek([tpm])).toEqual([{ remaining: 0, resetMs: 1000 }]);
    // A number is a Redis mark (a reservation made on Redis): not the local store's, so not a cap.
    local.adjust([{ ...tpm, delta: -4, mark: 500 }]); // as a local mark it would give nothing back
    expect(local.peek([tpm])).toEqual([{ remaining: 4, resetMs: 600 }]);
    expect(local.usage([tpm])).toEqual([6]);
  });

  it('passes limits through unchanged with fraction 1', () => {
    const local = new LocalFallbackLimiter(1);
    for (let i = 0; i < 100; i++) expect(local.reserve([rpm]).ok).toBe(true);
    expect(local.reserve([rpm]).ok).toBe(false);
    local.close();
  });
});
