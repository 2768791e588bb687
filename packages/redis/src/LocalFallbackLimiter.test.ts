import { ManualClock } from '@llm-resilience/core';
import { LocalFallbackLimiter } from './LocalFallbackLimiter';

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

  it('passes limits through unchanged with fraction 1', () => {
    const local = new LocalFallbackLimiter(1);
    for (let i = 0; i < 100; i++) expect(local.reserve([rpm]).ok).toBe(true);
    expect(local.reserve([rpm]).ok).toBe(false);
    local.close();
  });
});
