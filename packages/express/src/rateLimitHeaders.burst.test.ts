import express, { type Request } from 'express';
import request from 'supertest';
import { ManualClock, MemoryLimiterStore } from '@llm-resilience/core';
import { resilience, type ResilienceMiddlewareOptions } from './index';
import { testEngine } from '../test/support';

const byHeader = (req: Request) => ({ user: req.get('x-user') ?? undefined });

function app(options: Partial<ResilienceMiddlewareOptions> & Pick<ResilienceMiddlewareOptions, 'engine'>) {
  const a = express();
  a.use(resilience({ identity: byHeader, validations: false, ...options }));
  a.get('/ping', (req, res) => void res.json({ limits: req.resilience.limits }));
  return a;
}

// limit 2 per minute, burst 10: T = 30 s. After 4 requests the bucket holds 6: the headers show
// remaining=2 (the full quota, capped at limit) and a reset of 0, not the 120 s until the whole
// burst is back, which no "2;w=60" quota could mean.
describe('RateLimit headers of a burst rule', () => {
  const burst = [{ id: 'user-rpm', scope: ['user' as const], metric: 'requests' as const, limit: 2, window: '1m' as const, burst: 10 }];

  it('draft-7: reset never exceeds the window the policy names, and is 0 while the full quota remains', async () => {
    const clock = new ManualClock(1_000_000);
    const engine = testEngine({}, { clock, store: new MemoryLimiterStore({ clock }) });
    const a = app({ engine, limits: burst });
    let last!: request.Response;
    for (let i = 0; i < 4; i++) last = await request(a).get('/ping').set('x-user', 'r1').expect(200);
    expect(last.headers['ratelimit-policy']).toBe('2;w=60');
    const m = /^limit=2, remaining=(\d+), reset=(\d+)$/.exec(last.headers.ratelimit!)!;
    expect(m[1]).toBe('2');
    expect(Number(m[2])).toBeLessThanOrEqual(60);
    expect(Number(m[2])).toBe(0);
  });

  it('draft-8 and req.resilience.limits: resetMs consistent with the capped remaining', async () => {
    const clock = new ManualClock(1_000_000);
    const engine = testEngine({}, { clock, store: new MemoryLimiterStore({ clock }) });
    const a = app({ engine, limits: burst, standardHeaders: 'draft-8' });
    let last!: request.Response;
    for (let i = 0; i < 4; i++) last = await request(a).get('/ping').set('x-user', 'r2').expect(200);
    const m = /^"user-rpm";r=(\d+);t=(\d+)$/.exec(last.headers.ratelimit!)!;
    expect(m[1]).toBe('2');
    expect(Number(m[2])).toBeLessThanOrEqual(60);
    expect(last.body.limits[0].remaining).toBe(2);
    expect(last.body.limits[0].resetMs).toBeLessThanOrEqual(60_000);
  });
});
