import type { Response } from 'express';
import { ManualClock, MemoryLimiterStore } from '@llm-resilience/core';
import { InboundLimits } from './InboundLimits';
import { setRateLimitHeaders, setReservationHeaders, setRetryAfter, tightest } from './rateLimitHeaders';
import type { InboundLimitStatus } from './types';

/** A stand-in for Express's response: only the header methods these helpers touch. */
function headerSink(): { res: Response; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  const res = {
    headersSent: false,
    setHeader(name: string, value: string) {
      headers[name.toLowerCase()] = value;
      return res;
    },
  };
  return { res: res as unknown as Response, headers };
}

const rpm: InboundLimitStatus = { id: 'user-rpm', metric: 'requests', limit: 20, windowMs: 60_000, remaining: 19, resetMs: 3000, key: 'inbound:user-rpm|user=u1' };
const tpm: InboundLimitStatus = { id: 'team-tpm', metric: 'totalTokens', limit: 1000, windowMs: 3_600_000, remaining: 10.7, resetMs: 1_800_000, key: 'inbound:team-tpm|team=t1' };

describe('tightest', () => {
  it('picks the lowest remaining share, the later reset on a tie', () => {
    expect(tightest([rpm, tpm])?.id).toBe('team-tpm');
    expect(tightest([{ ...rpm, remaining: 10 }, { ...tpm, remaining: 500 }])?.id).toBe('team-tpm');
    expect(tightest([])).toBeUndefined();
  });
});

describe('setRateLimitHeaders', () => {
  it('draft-6: separate limit/remaining/reset of the tightest rule and every policy', () => {
    const { res, headers } = headerSink();
    setRateLimitHeaders(res, 'draft-6', false, [rpm]);
    expect(headers).toEqual({ 'ratelimit-policy': '20;w=60', 'ratelimit-limit': '20', 'ratelimit-remaining': '19', 'ratelimit-reset': '3' });
  });

  it('draft-7: one combined RateLimit header, remaining floored', () => {
    const { res, headers } = headerSink();
    setRateLimitHeaders(res, 'draft-7', false, [rpm, tpm]);
    expect(headers).toEqual({ 'ratelimit-policy': '20;w=60, 1000;w=3600', ratelimit: 'limit=1000, remaining=10, reset=1800' });
  });

  it('draft-8: one named item per rule with a partition key that hides the user id', () => {
    const { res, headers } = headerSink();
    setRateLimitHeaders(res, 'draft-8', false, [rpm, { ...tpm, metric: 'concurrency', id: 'in "flight"', windowMs: 0, resetMs: 0 }]);
    expect(headers.ratelimit).toBe('"user-rpm";r=19;t=3, "in \\"flight\\"";r=10;t=0');
    expect(headers['ratelimit-policy']).toMatch(/^"user-rpm";q=20;w=60;pk=:[A-Za-z0-9+/=]{12}:, "in \\"flight\\"";q=1000;qu="concurrent-requests";pk=:[A-Za-z0-9+/=]{12}:$/);
    expect(headers['ratelimit-policy']).not.toContain('u1');
  });

  it('legacy headers come from the tightest rule, with an epoch reset', () => {
    const { res, headers } = headerSink();
    const before = Math.ceil((Date.now() + 3000) / 1000);
    setRateLimitHeaders(res, false, true, [rpm]);
    expect(headers['x-ratelimit-limit']).toBe('20');
    expect(headers['x-ratelimit-remaining']).toBe('19');
    expect(Number(headers['x-ratelimit-reset'])).toBeGreaterThanOrEqual(before);
    expect(headers.ratelimit).toBeUndefined();
  });

  it('leaves cost rules out (fractions of a dollar are no header quota) and does nothing once sent', () => {
    const { res, headers } = headerSink();
    setRateLimitHeaders(res, 'draft-7', false, [{ ...rpm, metric: 'cost', limit: 5, remaining: 0.5 }]);
    expect(headers).toEqual({});
    const sent = headerSink();
    (sent.res as { headersSent: boolean }).headersSent = true;
    setRateLimitHeaders(sent.res, 'draft-7', true, [rpm]);
    expect(sent.headers).toEqual({});
  });
});

describe('setRetryAfter', () => {
  it('rounds up to whole seconds, at least 1, and skips unknown or infinite waits', () => {
    const a = headerSink();
    setRetryAfter(a.res, 1200);
    expect(a.headers['retry-after']).toBe('2');
    const b = headerSink();
    setRetryAfter(b.res, 10);
    expect(b.headers['retry-after']).toBe('1');
    const c = headerSink();
    setRetryAfter(c.res, Infinity);
    setRetryAfter(c.res, undefined);
    expect(c.headers).toEqual({});
  });
});

describe('setReservationHeaders', () => {
  it('sets exactly what setRateLimitHeaders sets from the statuses, for every draft, with and without legacy headers', () => {
    const clock = new ManualClock(1_000_000);
    const inbound = new InboundLimits(
      [
        { id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 20, window: '1m' },
        { id: 'team-tpm', scope: ['team'], metric: 'totalTokens', limit: 1000, window: '1h' },
        { id: 'team-spend', scope: ['team'], metric: 'cost', limit: 5, window: '1d' },
      ],
      new MemoryLimiterStore({ clock }),
      clock,
    );
    for (const used of [0, 300, 600]) {
      if (used > 0) {
        const r = inbound.reserve({ user: 'u1', team: 't1' }, { inputTokens: used, outputTokens: 0, costUsd: 1 });
        if (!('ok' in r) || !r.ok) throw new Error('the setup reservation was denied');
      }
      const d = inbound.reserve({ user: 'u2', team: 't1' }, { inputTokens: 10, outputTokens: 0, costUsd: 0.5 });
      if (!('ok' in d) || !d.ok) throw new Error('denied');
      for (const draft of ['draft-6', 'draft-7', 'draft-8', false] as const) {
        for (const legacy of [false, true]) {
          const fast = headerSink();
          const reference = headerSink();
          setReservationHeaders(fast.res, draft, legacy, d, inbound);
          setRateLimitHeaders(reference.res, draft, legacy, inbound.statusOf(d));
          expect({ used, draft, legacy, headers: fast.headers }).toEqual({ used, draft, legacy, headers: reference.headers });
        }
      }
    }
  });

  it('names a rule by the id the user gave it', () => {
    const clock = new ManualClock(0);
    const inbound = new InboundLimits([{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 20, window: '1m' }], new MemoryLimiterStore({ clock }), clock);
    const d = inbound.reserve({ user: 'u1' }, { inputTokens: 1, outputTokens: 1, costUsd: 0 });
    if (!('ok' in d) || !d.ok) throw new Error('denied');
    expect(inbound.viewOf(d.ruleAt(0))).toMatchObject({ id: 'user-rpm', policy: '20;w=60', rateLimitPrefix: 'limit=20, remaining=', shown: true });
    expect(inbound.statusOf(d)).toEqual([{ id: 'user-rpm', metric: 'requests', limit: 20, windowMs: 60_000, remaining: 19, resetMs: 3000, key: 'inbound%3Auser-rpm|user=u1' }]);
    expect(() => d.ruleAt(1)).toThrow(RangeError);
  });
});
