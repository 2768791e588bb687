import { ModelLimiter } from './limits';

const charge = (inputTokens: number, maxOutputTokens?: number) => ({ inputTokens, maxOutputTokens });

describe('ModelLimiter, window (OpenAI-like)', () => {
  it('refuses the request over RPM until the minute window ends, and counts refused requests', () => {
    const l = new ModelLimiter({ rpm: 2 }, 'openai', 0);
    const a = l.admit(charge(1), 0);
    const b = l.admit(charge(1), 10_000);
    expect(a.ok && b.ok).toBe(true);
    const c = l.admit(charge(1), 20_000);
    expect(c).toMatchObject({ ok: false, dimension: 'rpm', limit: 2, used: 2, requested: 1, retryAfterMs: 40_000, tooLarge: false });
    expect(l.snapshot(20_000).rpm).toEqual({ limit: 2, remaining: 0, resetMs: 40_000 });
    expect(l.admit(charge(1), 60_000).ok).toBe(true);
    expect(l.snapshot(60_000).rpm?.remaining).toBe(1);
  });

  it('charges input + max_tokens to TPM up front and never refunds', () => {
    const l = new ModelLimiter({ tpm: 100 }, 'openai', 0);
    const t = l.admit(charge(30, 50), 0);
    if (!t.ok) throw new Error('expected admission');
    expect(l.snapshot(0).tpm?.remaining).toBe(20);
    l.settle(t, 5, 1);
    expect(l.snapshot(1).tpm?.remaining).toBe(20);
    expect(l.admit(charge(30, 50), 2)).toMatchObject({ ok: false, dimension: 'tpm', requested: 80, used: 80 });
  });

  it('charges the real output when max_tokens was not given', () => {
    const l = new ModelLimiter({ tpm: 100 }, 'openai', 0);
    const t = l.admit(charge(10), 0);
    if (!t.ok) throw new Error('expected admission');
    l.settle(t, 25, 0);
    expect(l.snapshot(0).tpm?.remaining).toBe(65);
  });

  it('refuses a request without max_tokens while OTPM is used up, until the window ends', () => {
    const l = new ModelLimiter({ otpm: 20 }, 'openai', 0);
    const t = l.admit(charge(10), 0);
    if (!t.ok) throw new Error('expected admission');
    l.settle(t, 25, 1_000);
    expect(l.admit(charge(10), 2_000)).toMatchObject({ ok: false, dimension: 'otpm', limit: 20, used: 25, requested: 0, retryAfterMs: 58_000, tooLarge: false });
    expect(l.admit(charge(10), 60_000).ok).toBe(true);
  });

  it('says "too large" without a retry hint when one request exceeds the limit', () => {
    const l = new ModelLimiter({ tpm: 100 }, 'openai', 0);
    const r = l.admit(charge(90, 20), 0);
    expect(r).toMatchObject({ ok: false, dimension: 'tpm', tooLarge: true });
    expect(r.ok === false && r.retryAfterMs).toBeUndefined();
  });

  it('RPD is a day window', () => {
    const l = new ModelLimiter({ rpd: 1 }, 'openai', 0);
    expect(l.admit(charge(1), 0).ok).toBe(true);
    expect(l.admit(charge(1), 3_600_000)).toMatchObject({ ok: false, dimension: 'rpd', retryAfterMs: 86_400_000 - 3_600_000 });
    expect(l.admit(charge(1), 86_400_000).ok).toBe(true);
  });

  it('counts a request refused on another limit toward RPD', () => {
    const l = new ModelLimiter({ tpm: 100, rpd: 3 }, 'openai', 0);
    expect(l.admit(charge(90), 0).ok).toBe(true);
    expect(l.admit(charge(90), 1_000)).toMatchObject({ ok: false, dimension: 'tpm' });
    expect(l.snapshot(1_000).rpd?.remaining).toBe(1);
    expect(l.admit(charge(90), 60_000).ok).toBe(true);
    expect(l.admit(charge(90), 120_000)).toMatchObject({ ok: false, dimension: 'rpd' });
  });

  it('aligns windows to the epoch', () => {
    const l = new ModelLimiter({ rpm: 1 }, 'openai', 5_000);
    expect(l.admit(charge(1), 6_000).ok).toBe(true);
    expect(l.admit(charge(1), 64_999)).toMatchObject({ ok: false, retryAfterMs: 1 });
    expect(l.admit(charge(1), 65_000).ok).toBe(true);
  });
});

describe('ModelLimiter, bucket (Anthropic-like)', () => {
  it('replenishes continuously', () => {
    const l = new ModelLimiter({ rpm: 60 }, 'anthropic', 0);
    for (let i = 0; i < 60; i++) expect(l.admit(charge(1), 0).ok).toBe(true);
    expect(l.admit(charge(1), 0)).toMatchObject({ ok: false, dimension: 'rpm', retryAfterMs: 1000 });
    expect(l.admit(charge(1), 999).ok).toBe(false);
    expect(l.admit(charge(1), 1000).ok).toBe(true);
    expect(l.snapshot(1000).rpm).toEqual({ limit: 60, remaining: 0, resetMs: 60_000 });
  });

  it('does not count refused requests', () => {
    const l = new ModelLimiter({ rpm: 60 }, 'anthropic', 0);
    for (let i = 0; i < 60; i++) l.admit(charge(1), 0);
    for (let i = 0; i < 5; i++) expect(l.admit(charge(1), 0).ok).toBe(false);
    expect(l.admit(charge(1), 1000).ok).toBe(true);
  });

  it('does not count refused requests toward RPD, although RPD is a day window', () => {
    const l = new ModelLimiter({ otpm: 100, rpd: 2 }, 'anthropic', 0);
    expect(l.admit(charge(1, 100), 0).ok).toBe(true);
    for (let i = 0; i < 5; i++) expect(l.admit(charge(1, 100), 0)).toMatchObject({ ok: false, dimension: 'otpm' });
    expect(l.snapshot(0).rpd?.remaining).toBe(1);
    expect(l.admit(charge(1, 100), 60_000).ok).toBe(true);
    expect(l.admit(charge(1, 1), 120_000)).toMatchObject({ ok: false, dimension: 'rpd' });
  });

  it('reserves max_tokens in OTPM and refunds what was not used', () => {
    const l = new ModelLimiter({ itpm: 1000, otpm: 100 }, 'anthropic', 0);
    const t = l.admit(charge(10, 80), 0);
    if (!t.ok) throw new Error('expected admission');
    expect(l.snapshot(0).otpm?.remaining).toBe(20);
    expect(l.snapshot(0).itpm?.remaining).toBe(990);
    expect(l.admit(charge(10, 80), 0)).toMatchObject({ ok: false, dimension: 'otpm', requested: 80 });
    l.settle(t, 30, 0);
    expect(l.snapshot(0).otpm?.remaining).toBe(70);
  });

  it('keeps the whole max_tokens reservation of a failed request', () => {
    const l = new ModelLimiter({ tpm: 1000, otpm: 100 }, 'anthropic', 0);
    const t = l.admit(charge(10, 80), 0);
    if (!t.ok) throw new Error('expected admission');
    l.settle(t, 0, 0, 'failed');
    expect(l.snapshot(0).otpm?.remaining).toBe(20);
    expect(l.snapshot(0).tpm?.remaining).toBe(910);
    expect(l.admit(charge(10, 80), 0)).toMatchObject({ ok: false, dimension: 'otpm' });
  });

  it('refuses a request without max_tokens while the OTPM bucket is empty, until it refills', () => {
    const l = new ModelLimiter({ otpm: 60 }, 'anthropic', 0);
    const t = l.admit(charge(1), 0);
    if (!t.ok) throw new Error('expected admission');
    l.settle(t, 70, 0);
    expect(l.snapshot(0).otpm?.remaining).toBe(0);
    expect(l.admit(charge(1), 0)).toMatchObject({ ok: false, dimension: 'otpm', requested: 0, retryAfterMs: 11_000 });
    expect(l.admit(charge(1), 10_000).ok).toBe(false);
    expect(l.admit(charge(1), 11_000).ok).toBe(true);
  });

  it('admits a request sent at the retry time the previous refusal gave, however many refusals rolled the bucket', () => {
    const l = new ModelLimiter({ rpm: 3 }, 'anthropic', 0);
    for (let i = 0; i < 3; i++) expect(l.admit(charge(1), 0).ok).toBe(true);
    let refusal = l.admit(charge(1), 217);
    for (const t of [4_408, 7_490]) refusal = l.admit(charge(1), t);
    // 3 RPM refill one request every 20 s: back at t = 20 000, not one float rounding later
    expect(refusal).toMatchObject({ ok: false, dimension: 'rpm', used: 3, retryAfterMs: 12_510 });
    expect(l.snapshot(19_999).rpm).toMatchObject({ remaining: 0, resetMs: 40_001 });
    expect(l.snapshot(20_000).rpm).toEqual({ limit: 3, remaining: 1, resetMs: 40_000 });
    expect(l.admit(charge(1), 7_490 + 12_510).ok).toBe(true);
  });

  it('admits at every advertised retry time, whatever the rate and the moments of the refusals', () => {
    const cases = [
      { limits: { rpm: 3 }, req: charge(1) },
      { limits: { rpm: 7 }, req: charge(1) },
      { limits: { rpm: 60 }, req: charge(1) },
      { limits: { itpm: 1_000 }, req: charge(137) },
      { limits: { itpm: 2_000_000 }, req: charge(285_713) },
      { limits: { otpm: 30 }, req: charge(1, 7) },
      { limits: { tpm: 100_000 }, req: charge(333, 4_321) },
    ];
    for (const { limits, req } of cases) {
      const l = new ModelLimiter(limits, 'anthropic', 0);
      let t = 0;
      for (let round = 0; round < 50; round++) {
        let r = l.admit(req, t);
        while (r.ok) {
          l.settle(r, 7, t);
          r = l.admit(req, t);
        }
        // a few more refusals at odd moments before the refill, each rolling the bucket again
        for (let k = 0; k < round % 9 && !r.ok; k++) {
          t += (round * 7_919 + k * 104_729) % r.retryAfterMs!;
          r = l.admit(req, t);
        }
        if (r.ok) {
          l.settle(r, 7, t);
          continue;
        }
        expect(r.retryAfterMs).toBeGreaterThan(0);
        t += r.retryAfterMs!;
        const retried = l.admit(req, t);
        expect({ limits, round, t, ok: retried.ok }).toEqual({ limits, round, t, ok: true });
        if (retried.ok) l.settle(retried, 7, t);
      }
    }
  });

  it('can be chosen for an OpenAI model with algorithm: bucket', () => {
    const l = new ModelLimiter({ rpm: 60, algorithm: 'bucket' }, 'openai', 0);
    for (let i = 0; i < 60; i++) l.admit(charge(1), 0);
    expect(l.admit(charge(1), 1000).ok).toBe(true);
  });
});

describe('ModelLimiter, several limits refusing at once', () => {
  it('reports the limit the request alone exceeds (too large, no retry hint), even after one that is only used up', () => {
    const l = new ModelLimiter({ rpm: 1, tpm: 100 }, 'openai', 0);
    expect(l.admit(charge(1, 10), 0).ok).toBe(true);
    const r = l.admit(charge(1, 500), 1_000);
    expect(r).toMatchObject({ ok: false, dimension: 'tpm', limit: 100, requested: 501, tooLarge: true });
    expect(r.ok === false && 'retryAfterMs' in r).toBe(false);
  });

  it('reports the too-large limit on a bucket model too (OTPM below max_tokens, RPM empty)', () => {
    const l = new ModelLimiter({ rpm: 1, otpm: 100 }, 'anthropic', 0);
    expect(l.admit(charge(1, 10), 0).ok).toBe(true);
    const r = l.admit(charge(1, 500), 0);
    expect(r).toMatchObject({ ok: false, dimension: 'otpm', limit: 100, requested: 500, tooLarge: true });
    expect(r.ok === false && r.retryAfterMs).toBeUndefined();
  });

  it('reports the too-large limit when the concurrency limit refuses too', () => {
    const l = new ModelLimiter({ tpm: 100, concurrency: 1 }, 'openai', 0);
    expect(l.admit(charge(1, 10), 0).ok).toBe(true);
    const r = l.admit(charge(1, 500), 0);
    expect(r).toMatchObject({ ok: false, dimension: 'tpm', tooLarge: true });
    expect(r.ok === false && r.retryAfterMs).toBeUndefined();
  });

  it('otherwise reports the limit with the longest wait, whichever comes first', () => {
    // tpm used up until the minute ends (59 s); rpd until the day ends: rpd is reported.
    const l = new ModelLimiter({ rpd: 1, tpm: 100 }, 'openai', 0);
    expect(l.admit(charge(90), 0).ok).toBe(true);
    expect(l.admit(charge(90), 1_000)).toMatchObject({ ok: false, dimension: 'rpd', retryAfterMs: 86_400_000 - 1_000, tooLarge: false });
    // Buckets, both empty: rpm holds one request again in 1 s, tpm 300 tokens only in 30 s.
    const b = new ModelLimiter({ rpm: 60, tpm: 600 }, 'anthropic', 0);
    for (let i = 0; i < 60; i++) expect(b.admit(charge(10), 0).ok).toBe(true);
    expect(b.admit(charge(300), 0)).toMatchObject({ ok: false, dimension: 'tpm', requested: 300, retryAfterMs: 30_000, tooLarge: false });
    // Equal waits (one minute window for both): the first refusing limit stays.
    const w = new ModelLimiter({ rpm: 1, tpm: 100 }, 'openai', 0);
    expect(w.admit(charge(90), 0).ok).toBe(true);
    expect(w.admit(charge(90), 0)).toMatchObject({ ok: false, dimension: 'rpm', retryAfterMs: 60_000 });
    // Concurrency (a 1 s hint) gives way to a longer wait on a metered limit.
    const c = new ModelLimiter({ rpm: 1, concurrency: 1 }, 'openai', 0);
    expect(c.admit(charge(1), 0).ok).toBe(true);
    expect(c.admit(charge(1), 0)).toMatchObject({ ok: false, dimension: 'rpm', retryAfterMs: 60_000 });
  });
});

describe('ModelLimiter, concurrency', () => {
  it('refuses above the limit until a request settles', () => {
    const l = new ModelLimiter({ concurrency: 1 }, 'openai', 0);
    const t = l.admit(charge(1), 0);
    expect(l.admit(charge(1), 0)).toMatchObject({ ok: false, dimension: 'concurrency', limit: 1 });
    if (!t.ok) throw new Error('expected admission');
    l.settle(t, 1, 0);
    expect(l.admit(charge(1), 0).ok).toBe(true);
  });

  it('has no headers to send without metered limits', () => {
    expect(new ModelLimiter({ concurrency: 1 }, 'openai', 0).hasLimits).toBe(false);
    expect(new ModelLimiter(undefined, 'openai', 0).hasLimits).toBe(false);
  });
});
