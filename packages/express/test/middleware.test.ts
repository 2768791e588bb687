import { request as httpRequest } from 'node:http';
import express, { type Request } from 'express';
import request from 'supertest';
import { ManualClock, MemoryLimiterStore, type LimitAdjustment, type LimitCharge, type LimiterStore, type ReserveResult } from '@llm-resilience/core';
import { replyTag } from '@llm-resilience/testing';
import { ClientDisconnectedError, ExpressConfigError, RequestResilience, resilience, resilienceErrorHandler, type ResilienceMiddlewareOptions } from '../src';
import { INBOUND_LIMIT_CUSTOMER_MESSAGE } from '../src/messages';
import { deferred, fetchChatCall, listen, nextRecord, testEngine, useFakeProvider } from './support';

const provider = useFakeProvider();

const chatCall = (prompt: string) => fetchChatCall(provider.baseURL, prompt);

const byHeader = (req: Request) => ({ user: req.get('x-user') ?? undefined, team: req.get('x-team') ?? undefined });

function app(options: Partial<ResilienceMiddlewareOptions> & Pick<ResilienceMiddlewareOptions, 'engine'>) {
  const a = express();
  a.use(express.json());
  a.use(resilience({ identity: byHeader, validations: false, ...options }));
  a.get('/ping', (req, res) => {
    res.json({ ok: true, limits: req.resilience.limits });
  });
  a.post('/chat', async (req, res) => {
    const prompt = String((req.body as { prompt?: unknown }).prompt ?? 'hello');
    const route = String((req.body as { route?: unknown }).route ?? 'support_reply');
    const { value, record } = await req.resilience.execute(route, chatCall(prompt), { input: { prompt }, maxOutputTokens: 50 });
    res.json({ reply: value.choices?.[0]?.message.content, model: record.final_model, usage: req.resilience.usage() });
  });
  a.use(resilienceErrorHandler());
  return a;
}

describe('inbound limits', () => {
  const rpm = [{ id: 'user-rpm', scope: ['user' as const], metric: 'requests' as const, limit: 2, window: '1m' as const }];

  it('exposes req.resilience.limits also when the RateLimit headers are turned off', async () => {
    const clock = new ManualClock(1_000_000);
    const engine = testEngine({}, { clock, store: new MemoryLimiterStore({ clock }) });
    const res = await request(app({ engine, limits: rpm, standardHeaders: false })).get('/ping').set('x-user', 'u1').expect(200);
    expect(res.headers.ratelimit).toBeUndefined();
    expect(res.headers['ratelimit-policy']).toBeUndefined();
    expect(res.body.limits).toEqual([expect.objectContaining({ id: 'user-rpm', remaining: 1, limit: 2, resetMs: 30_000 })]);
  });

  it('req.resilience.limits is the state right after admission, even when read after later requests', async () => {
    const clock = new ManualClock(1_000_000);
    const engine = testEngine({}, { clock, store: new MemoryLimiterStore({ clock }) });
    const a = app({ engine, limits: rpm, standardHeaders: false });
    const admitted = deferred();
    const gate = deferred();
    a.get('/wait', async (req, res) => {
      admitted.resolve();
      await gate.promise;
      res.json({ limits: req.resilience.limits });
    });
    const waiting = request(a).get('/wait').set('x-user', 'u1').then((r) => r);
    await admitted.promise;
    const second = await request(a).get('/ping').set('x-user', 'u1').expect(200);
    expect(second.body.limits).toEqual([expect.objectContaining({ id: 'user-rpm', remaining: 0 })]);
    gate.resolve();
    const first = await waiting;
    expect(first.status).toBe(200);
    expect(first.body.limits).toEqual([expect.objectContaining({ id: 'user-rpm', remaining: 1, limit: 2 })]);
  });

  it('answers 429 with Retry-After, draft-7 RateLimit headers and the customer message', async () => {
    const clock = new ManualClock(1_000_000);
    const engine = testEngine({}, { clock, store: new MemoryLimiterStore({ clock }) });
    const a = app({ engine, limits: rpm });
    const first = await request(a).get('/ping').set('x-user', 'u1').expect(200);
    expect(first.headers['ratelimit-policy']).toBe('2;w=60');
    expect(first.headers.ratelimit).toMatch(/^limit=2, remaining=1, reset=\d+$/);
    expect(first.body.limits).toEqual([expect.objectContaining({ id: 'user-rpm', remaining: 1, limit: 2 })]);
    await request(a).get('/ping').set('x-user', 'u1').expect(200);
    const denied = await request(a).get('/ping').set('x-user', 'u1').expect(429);
    expect(denied.headers['retry-after']).toBe('30');
    expect(denied.headers.ratelimit).toBe('limit=2, remaining=0, reset=30');
    expect(denied.body).toEqual({
      error: {
        type: 'rate_limited',
        code: 'ERR_LLMR_LIMIT_EXCEEDED',
        message: 'You are sending requests too quickly. Please wait a moment and try again.',
        retry_after_ms: 30_000,
      },
    });
    expect(JSON.stringify(denied.body)).not.toContain('u1');
    // Other users have their own bucket; the limited one passes again once a slot refilled.
    await request(a).get('/ping').set('x-user', 'u2').expect(200);
    await clock.advance(30_000);
    await request(a).get('/ping').set('x-user', 'u1').expect(200);
  });

  it('speaks draft-6, draft-8 and the legacy headers when asked', async () => {
    const engine = testEngine();
    const six = await request(app({ engine, limits: rpm, standardHeaders: 'draft-6', legacyHeaders: true })).get('/ping').set('x-user', 'd6').expect(200);
    expect(six.headers).toMatchObject({ 'ratelimit-limit': '2', 'ratelimit-remaining': '1', 'ratelimit-policy': '2;w=60', 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '1' });
    expect(six.headers['ratelimit-reset']).toMatch(/^\d+$/);
    const eight = await request(app({ engine, limits: rpm, standardHeaders: 'draft-8' })).get('/ping').set('x-user', 'd8').expect(200);
    expect(eight.headers.ratelimit).toMatch(/^"user-rpm";r=1;t=\d+$/);
    expect(eight.headers['ratelimit-policy']).toMatch(/^"user-rpm";q=2;w=60;pk=:[^:]+:$/);
    const none = await request(app({ engine, limits: rpm, standardHeaders: false })).get('/ping').set('x-user', 'none').expect(200);
    expect(none.headers.ratelimit).toBeUndefined();
    expect(none.headers['ratelimit-policy']).toBeUndefined();
  });

  it('tells the team which rule and lets onLimited answer instead', async () => {
    const clock = new ManualClock(0);
    const engine = testEngine({}, { clock, store: new MemoryLimiterStore({ clock }) });
    const limits = [{ id: 'user-rpm', scope: ['user' as const], metric: 'requests' as const, limit: 1, window: '1m' as const }];
    const internal = app({ engine, limits, audience: 'internal' });
    await request(internal).get('/ping').set('x-user', 'team-a').expect(200);
    const denied = await request(internal).get('/ping').set('x-user', 'team-a').expect(429);
    expect(denied.body.error.message).toBe("Inbound limit 'user-rpm' is exhausted; retry in 60 s (Retry-After).");

    const custom = app({
      engine,
      limits: [{ id: 'other', scope: ['user'], metric: 'requests', limit: 1, window: '1m' }],
      onLimited: (_req, res, _next, info) => void res.status(503).json({ slowDown: info.ruleId, retryIn: info.retryAfterMs }),
    });
    await request(custom).get('/ping').set('x-user', 'c').expect(200);
    const r = await request(custom).get('/ping').set('x-user', 'c').expect(503);
    expect(r.body).toEqual({ slowDown: 'other', retryIn: 60_000 });
    expect(r.headers['retry-after']).toBe('60');
  });

  it('gives customers the calm message when an audience function returns undefined or an unknown value', async () => {
    const clock = new ManualClock(0);
    const engine = testEngine({}, { clock, store: new MemoryLimiterStore({ clock }) });
    const limits = [{ id: 'user-rpm', scope: ['user' as const], metric: 'requests' as const, limit: 1, window: '1m' as const }];
    const bad = (value: unknown) => app({ engine, limits, audience: () => value as 'customer' });
    for (const [user, value] of [['u-undefined', undefined], ['u-typo', 'everyone'], ['u-null', null]] as const) {
      const a = bad(value);
      await request(a).get('/ping').set('x-user', user).expect(200);
      const denied = await request(a).get('/ping').set('x-user', user).expect(429);
      expect(denied.body.error.message).toBe(INBOUND_LIMIT_CUSTOMER_MESSAGE);
      expect(JSON.stringify(denied.body)).not.toContain('user-rpm');
    }
    // The documented default: the route's audience (internal for 'ops'), as if no audience were given.
    const ops = app({ engine, limits, route: 'ops', audience: () => undefined as unknown as 'customer' });
    await request(ops).get('/ping').set('x-user', 'u-ops').expect(200);
    const internal = await request(ops).get('/ping').set('x-user', 'u-ops').expect(429);
    expect(internal.body.error.message).toContain("Inbound limit 'user-rpm'");
  });

  it('charges token budgets with the real usage of the calls made during the request', async () => {
    const engine = testEngine();
    const a = app({ engine, limits: [{ id: 'team-tokens', scope: ['team'], metric: 'totalTokens', limit: 30, window: '1h' }] });
    const first = await request(a).post('/chat').set('x-user', 'u1').set('x-team', 'budget').send({ prompt: 'hello there' }).expect(200);
    expect(first.body.reply.startsWith(replyTag('fast-a', 'hello there'))).toBe(true);
    const used = first.body.usage.inputTokens + first.body.usage.outputTokens;
    expect(used).toBe(provider.fake.counters.tokensIn + provider.fake.counters.tokensOut);
    expect(used).toBeGreaterThan(0);
    // The budget was settled to real usage when the response ended: it shows in the next answer.
    const second = await request(a).get('/ping').set('x-team', 'budget').expect(200);
    expect(Math.floor(second.body.limits[0].remaining)).toBe(30 - used - 2);
    // Spend the rest, then the team is over budget.
    await request(a).post('/chat').set('x-team', 'budget').send({ prompt: 'hello again' });
    const denied = await request(a).get('/ping').set('x-team', 'budget').expect(429);
    expect(denied.body.error.code).toBe('ERR_LLMR_LIMIT_EXCEEDED');
  });

  it('frees concurrency slots when the response ends', async () => {
    const engine = testEngine();
    const started = deferred();
    const release = deferred();
    const a = express();
    a.use(resilience({ engine, identity: byHeader, validations: false, limits: [{ id: 'inflight', scope: ['user'], metric: 'concurrency', limit: 1 }] }));
    a.get('/slow', async (_req, res) => {
      started.resolve();
      await release.promise;
      res.send('done');
    });
    a.get('/fast', (_req, res) => void res.send('ok'));
    const { url, close } = await listen(a);
    try {
      const slow = fetch(`${url}/slow`, { headers: { 'x-user': 'c1' } });
      await started.promise;
      const second = await fetch(`${url}/fast`, { headers: { 'x-user': 'c1' } });
      expect(second.status).toBe(429);
      expect(second.headers.get('ratelimit-policy')).toBe('1');
      release.resolve();
      expect(await (await slow).text()).toBe('done');
      const third = await fetch(`${url}/fast`, { headers: { 'x-user': 'c1' } });
      expect(third.status).toBe(200);
    } finally {
      await close();
    }
  });
});

describe('RateLimit headers of a rule whose burst is above its limit', () => {
  it('name limit per window as the quota and never show more remaining than it, in every draft', async () => {
    const clock = new ManualClock(1_000_000);
    const engine = testEngine({}, { clock, store: new MemoryLimiterStore({ clock }) });
    const burst = [{ id: 'user-rpm', scope: ['user' as const], metric: 'requests' as const, limit: 2, window: '1m' as const, burst: 10 }];
    const draft7 = await request(app({ engine, limits: burst })).get('/ping').set('x-user', 'b1').expect(200);
    // The bucket holds 9 more, but the policy promises 2 a minute: limit=2, remaining=9 would contradict it.
    expect(draft7.headers['ratelimit-policy']).toBe('2;w=60');
    expect(draft7.headers.ratelimit).toMatch(/^limit=2, remaining=2, reset=\d+$/);
    expect(draft7.body.limits[0]).toMatchObject({ limit: 2, remaining: 2 });
    const draft6 = await request(app({ engine, limits: burst, standardHeaders: 'draft-6', legacyHeaders: true })).get('/ping').set('x-user', 'b2').expect(200);
    expect([draft6.headers['ratelimit-limit'], draft6.headers['ratelimit-remaining']]).toEqual(['2', '2']);
    expect([draft6.headers['x-ratelimit-limit'], draft6.headers['x-ratelimit-remaining']]).toEqual(['2', '2']);
    const draft8 = await request(app({ engine, limits: burst, standardHeaders: 'draft-8' })).get('/ping').set('x-user', 'b3').expect(200);
    expect(draft8.headers.ratelimit).toMatch(/^"user-rpm";r=2;t=\d+$/);
    expect(draft8.headers['ratelimit-policy']).toMatch(/^"user-rpm";q=2;w=60;/);
  });

  it('still lets the burst through, and counts remaining down once the bucket is below the limit', async () => {
    const clock = new ManualClock(1_000_000);
    const engine = testEngine({}, { clock, store: new MemoryLimiterStore({ clock }) });
    const a = app({ engine, limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 2, window: '1m', burst: 4 }] });
    const remaining: string[] = [];
    for (let i = 0; i < 4; i++) remaining.push(/remaining=(\d+)/.exec((await request(a).get('/ping').set('x-user', 'b4').expect(200)).headers.ratelimit!)![1]!);
    expect(remaining).toEqual(['2', '2', '1', '0']);
    await request(a).get('/ping').set('x-user', 'b4').expect(429);
  });
});

describe('the default identity (req.ip)', () => {
  const ipRpm = [{ id: 'ip-rpm', scope: ['user' as const], metric: 'requests' as const, limit: 1, window: '1m' as const }];
  function behindProxy() {
    const a = express();
    a.set('trust proxy', 1);
    a.use(resilience({ engine: testEngine(), validations: false, limits: ipRpm }));
    a.get('/ping', (_req, res) => void res.send('ok'));
    return a;
  }

  it('keys an IPv6 client by its /64, so rotating addresses inside it does not escape a per-IP limit', async () => {
    const a = behindProxy();
    await request(a).get('/ping').set('x-forwarded-for', '2001:db8:1:2::1').expect(200);
    await request(a).get('/ping').set('x-forwarded-for', '2001:db8:1:2:ffff:ffff:ffff:ffff').expect(429);
    // Another /64 is another client.
    await request(a).get('/ping').set('x-forwarded-for', '2001:db8:1:3::1').expect(200);
  });

  it('keys IPv4 and IPv4-mapped IPv6 clients by their own address', async () => {
    const a = behindProxy();
    await request(a).get('/ping').set('x-forwarded-for', '203.0.113.7').expect(200);
    await request(a).get('/ping').set('x-forwarded-for', '203.0.113.8').expect(200);
    await request(a).get('/ping').set('x-forwarded-for', '::ffff:203.0.113.9').expect(200);
    await request(a).get('/ping').set('x-forwarded-for', '::ffff:203.0.113.10').expect(200);
    await request(a).get('/ping').set('x-forwarded-for', '203.0.113.7').expect(429);
  });

  it('can be replaced by an identity function that keys every address on its own', async () => {
    const a = express();
    a.set('trust proxy', 1);
    a.use(resilience({ engine: testEngine(), validations: false, identity: (req) => ({ user: req.ip }), limits: ipRpm }));
    a.get('/ping', (_req, res) => void res.send('ok'));
    await request(a).get('/ping').set('x-forwarded-for', '2001:db8:1:2::1').expect(200);
    await request(a).get('/ping').set('x-forwarded-for', '2001:db8:1:2::2').expect(200);
  });
});

describe('identity, priority and requestId results', () => {
  it('fails a request whose identity(req) returns a non-string field, instead of counting every caller in one bucket', async () => {
    const engine = testEngine();
    const a = express();
    a.use(resilience({ engine, identity: (req) => ({ user: { id: req.get('x-user') } as never }), validations: false, limits: [{ id: 'rpm', scope: ['user'], metric: 'requests', limit: 1, window: '1m' }] }));
    a.get('/x', (_req, res) => void res.send('ok'));
    const errors: unknown[] = [];
    a.use((err: unknown, _req: Request, res: express.Response, _next: express.NextFunction) => {
      errors.push(err);
      res.status(500).send('server error');
    });
    const { url, close } = await listen(a);
    try {
      const first = await fetch(`${url}/x`, { headers: { 'x-user': 'alice' } });
      const second = await fetch(`${url}/x`, { headers: { 'x-user': 'bob' } });
      expect([first.status, second.status]).toEqual([500, 500]);
      expect((errors[0] as { code: string }).code).toBe('ERR_LLMR_EXPRESS_INVALID_OPTION');
      expect((errors[0] as Error).message).toContain('identity(req) returned an identity whose user is an object');
      expect((errors[0] as Error).message).not.toContain('alice');
    } finally {
      await close();
    }
  });

  it.each([
    ['priority', { priority: () => 42 }, 'priority(req) returned a number'],
    ['requestId', { requestId: () => 42 }, 'requestId(req) returned a number'],
  ] as const)('fails a request whose %s(req) returns a non-string with a 500 (server fault), not the engine\'s 400', async (_name, options, message) => {
    const a = express();
    a.use(resilience({ engine: testEngine(), validations: false, ...(options as unknown as Partial<ResilienceMiddlewareOptions>) }));
    let executed = 0;
    a.get('/x', async (req, res, next) => {
      try {
        executed++;
        const r = await req.resilience.execute('solo', async () => ({ v: 1 }));
        res.json(r.value);
      } catch (err) {
        next(err);
      }
    });
    a.use(resilienceErrorHandler());
    const errors: unknown[] = [];
    a.use((err: unknown, _req: Request, res: express.Response, _next: express.NextFunction) => {
      errors.push(err);
      res.status(500).send('server error');
    });
    const { url, close } = await listen(a);
    try {
      expect((await fetch(`${url}/x`)).status).toBe(500);
      expect(executed).toBe(0);
      expect(errors[0]).toBeInstanceOf(ExpressConfigError);
      expect((errors[0] as ExpressConfigError).code).toBe('ERR_LLMR_EXPRESS_INVALID_OPTION');
      expect((errors[0] as Error).message).toContain(`resilience(): ${message}`);
    } finally {
      await close();
    }
  });
});

describe('inbound limits on an asynchronous store', () => {
  /** The memory store answering `reserve` only when `gate` opens, as Redis answers after a round trip. */
  class GatedStore implements LimiterStore {
    gate: Promise<void> | undefined;
    /** Resolved when a reservation waits at the gate. */
    readonly waiting = deferred();
    private readonly inner = new MemoryLimiterStore();
    reserve(charges: readonly LimitCharge[]): Promise<ReserveResult> {
      if (this.gate !== undefined) this.waiting.resolve();
      return (this.gate ?? Promise.resolve()).then(() => this.inner.reserve(charges));
    }
    adjust(adjustments: readonly LimitAdjustment[]): Promise<void> {
      return Promise.resolve(this.inner.adjust(adjustments));
    }
  }

  it('gives a concurrency slot back when the client left before the store answered, and runs no handler', async () => {
    const store = new GatedStore();
    const engine = testEngine({}, { store });
    const closed = deferred();
    let handled = 0;
    const a = express();
    a.use((_req, res, next) => {
      res.once('close', () => closed.resolve());
      next();
    });
    a.use(resilience({ engine, identity: byHeader, validations: false, limits: [{ id: 'inflight', scope: ['user'], metric: 'concurrency', limit: 1 }] }));
    a.get('/x', (_req, res) => {
      handled++;
      res.send('ok');
    });
    const { url, close } = await listen(a);
    try {
      const open = deferred();
      store.gate = open.promise;
      const gone = new AbortController();
      const first = fetch(`${url}/x`, { headers: { 'x-user': 'c1' }, signal: gone.signal }).catch((e: unknown) => e);
      // The request is waiting for the store; the client gives up, and the server sees the close.
      await store.waiting.promise;
      gone.abort();
      await first;
      await closed.promise;
      store.gate = undefined;
      open.resolve();
      await new Promise((r) => setImmediate(r));
      const next = await fetch(`${url}/x`, { headers: { 'x-user': 'c1' } });
      expect(next.status).toBe(200);
      expect(handled).toBe(1);
    } finally {
      await close();
    }
  });
});

describe('req.resilience on Express requests', () => {
  it('is bound per request without adding a property to the request object, in sub-apps too', async () => {
    const engine = testEngine();
    const a = express();
    a.get('/before', (req, res) => {
      res.json({ bound: req.resilience !== undefined });
    });
    const sub = express();
    sub.use(resilience({ engine, identity: byHeader, validations: false }));
    sub.get('/inside', (req, res) => {
      res.json({ user: req.resilience.identity?.user, own: Object.prototype.hasOwnProperty.call(req, 'resilience'), listed: Object.keys(req).includes('resilience') });
    });
    a.use('/sub', sub);
    // Handled by the parent app after the sub-app passed the request on (Express restored the parent's prototype).
    a.get('/sub/after', (req, res) => {
      res.json({ user: req.resilience?.identity?.user, isContext: req.resilience instanceof RequestResilience });
    });
    await request(a).get('/sub/inside').set('x-user', 'ann').expect(200, { user: 'ann', own: false, listed: false });
    await request(a).get('/sub/inside').set('x-user', 'bob').expect(200, { user: 'bob', own: false, listed: false });
    await request(a).get('/sub/after').set('x-user', 'cy').expect(200, { user: 'cy', isContext: true });
    await request(a).get('/before').set('x-user', 'ann').expect(200, { bound: false });
  });

  it('can be replaced by application code, and survives res.locals being copied', async () => {
    const engine = testEngine();
    const a = express();
    a.use(resilience({ engine, identity: byHeader, validations: false }));
    a.get('/copied', (req, res) => {
      res.locals = { ...res.locals, page: 'copied' };
      res.json({ user: req.resilience.identity?.user });
    });
    a.get('/replaced', (req, res) => {
      const original = req.resilience;
      req.resilience = undefined as unknown as RequestResilience;
      const cleared = req.resilience === undefined;
      req.resilience = original;
      res.json({ cleared, user: req.resilience.identity?.user });
    });
    await request(a).get('/copied').set('x-user', 'dee').expect(200, { user: 'dee' });
    await request(a).get('/replaced').set('x-user', 'eve').expect(200, { cleared: true, user: 'eve' });
  });
});

describe('req.resilience.execute', () => {
  it('runs with the request identity and priority and records the call', async () => {
    const engine = testEngine();
    const a = express();
    a.use(express.json());
    a.use(resilience({ engine, identity: byHeader, priority: () => 'batch', requestId: (req) => req.get('x-request-id'), validations: false }));
    a.post('/chat', async (req, res) => {
      const r = await req.resilience.execute('support_reply', chatCall('who am i'));
      res.json({ records: req.resilience.records.length, id: r.record.request_id });
    });
    const recorded = nextRecord(engine);
    const r = await request(a).post('/chat').set('x-user', 'alice').set('x-team', 'support').set('x-request-id', 'req-42').send({}).expect(200);
    const record = await recorded;
    expect(record).toMatchObject({ user_id: 'alice', team_id: 'support', priority: 'batch', request_id: 'req-42', outcome: 'success', final_target: 'fast-a' });
    expect(r.body).toEqual({ records: 1, id: 'req-42' });
  });

  it('aborts the provider call when the client disconnects', async () => {
    const engine = testEngine();
    provider.fake.setFaults([{ model: 'fast-a', kind: 'hang' }]);
    const callStarted = deferred();
    const aborted = deferred<unknown>();
    const fetchFailed = deferred<unknown>();
    const a = express();
    a.use(resilience({ engine, identity: byHeader, validations: false }));
    a.get('/chat', async (req, res, next) => {
      try {
        await req.resilience.execute('solo', async (target, ctx) => {
          ctx.signal.addEventListener('abort', () => aborted.resolve(ctx.signal.reason));
          const pending = chatCall('please hang')(target, ctx);
          callStarted.resolve();
          return pending.catch((err: unknown) => {
            fetchFailed.resolve(err);
            throw err;
          });
        });
        res.send('unexpected');
      } catch (err) {
        next(err);
      }
    });
    a.use(resilienceErrorHandler());
    const recorded = nextRecord(engine);
    const { url, close } = await listen(a);
    try {
      const client = httpRequest(`${url}/chat`, { headers: { 'x-user': 'leaver' } });
      client.on('error', () => undefined);
      client.end();
      await callStarted.promise;
      // Wait until the fake provider holds the request (its hang fault fired), then hang up.
      while ((provider.fake.counters.faults.hang ?? 0) === 0) await new Promise((r) => setImmediate(r));
      client.destroy();
      const reason = await aborted.promise;
      expect(reason).toBeInstanceOf(ClientDisconnectedError);
      // fetch rejects with the signal's reason: the upstream request was torn down.
      expect(await fetchFailed.promise).toBe(reason);
      const record = await recorded;
      expect(record).toMatchObject({ outcome: 'failure', error_kind: 'cancelled', user_id: 'leaver' });
    } finally {
      await close();
    }
  });

  it('never gives two calls of one request the same request id, with resilience() on the app and on a router', async () => {
    const engine = testEngine();
    const idOf = (req: Request) => req.get('x-request-id');
    const a = express();
    a.use(resilience({ engine, identity: byHeader, validations: false, requestId: idOf }));
    // An app-level step (a moderation pre-check) through the app's req.resilience.
    a.use(async (req, _res, next) => {
      await req.resilience.execute('solo', async () => ({ choices: [{ message: { content: 'ok' } }] }));
      next();
    });
    const router = express.Router();
    router.use(resilience({ engine, identity: byHeader, validations: false, route: 'ops', requestId: idOf }));
    router.get('/answer', async (req, res) => {
      await req.resilience.execute('ops', async () => ({ choices: [{ message: { content: 'ok' } }] }));
      res.json({ ids: req.resilience.records.map((r) => r.request_id) });
    });
    a.use('/api', router);
    const { url, close } = await listen(a);
    try {
      const res = await fetch(`${url}/api/answer`, { headers: { 'x-user': 'u1', 'x-request-id': 'req-42' } });
      expect(await res.json()).toEqual({ ids: ['req-42', 'req-42.2'] });
    } finally {
      await close();
    }
  });
});

describe('resilienceErrorHandler', () => {
  it('does not pass a cancellation on to the next error handler when the client left a stream it had started', async () => {
    const engine = testEngine();
    const callStarted = deferred();
    const handled = deferred<unknown>();
    const passedOn: unknown[] = [];
    const a = express();
    a.use(resilience({ engine, identity: byHeader, validations: false }));
    a.get('/sse', async (req, res) => {
      res.status(200).setHeader('content-type', 'text/event-stream');
      res.write('data: {"step":1}\n\n');
      // The next step of the reply: a model call that honours its signal.
      await req.resilience.execute('solo', (_t, ctx) => {
        callStarted.resolve();
        return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      });
      res.end('data: [DONE]\n\n');
    });
    a.use(resilienceErrorHandler({ onError: (err) => handled.resolve(err) }));
    a.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      passedOn.push(err);
      res.end();
    });
    const { url, close } = await listen(a);
    try {
      const ac = new AbortController();
      const res = await fetch(`${url}/sse`, { headers: { 'x-user': 'sse-leaver' }, signal: ac.signal });
      await res.body!.getReader().read();
      await callStarted.promise;
      ac.abort();
      expect(await handled.promise).toMatchObject({ kind: 'cancelled' });
      await new Promise((r) => setImmediate(r));
      // A client leaving a stream is routine ("nothing when the client's socket is gone"), not a server error.
      expect(passedOn).toEqual([]);
    } finally {
      await close();
    }
  });

  it('answers an exhausted chain with 503 and the customer message, never provider details', async () => {
    const engine = testEngine();
    provider.fake.setFaults([{ kind: 'overloaded_503' }]);
    const r = await request(app({ engine })).post('/chat').set('x-user', 'u9').send({ prompt: 'x' }).expect(503);
    expect(r.body.error).toMatchObject({ type: 'overloaded', code: 'ERR_LLMR_CHAIN_EXHAUSTED', message: "This request is taking longer than usual. We're trying another model now." });
    expect(r.body.error.request_id).toMatch(/\S/);
    const text = JSON.stringify(r.body);
    for (const secret of ['fast-a', 'fast-b', 'primary', 'backup', 'upstream-secret-key', 'HTTP 503']) expect(text).not.toContain(secret);
  });

  it('uses the route audience: internal routes get the direct wording', async () => {
    const engine = testEngine();
    provider.fake.setFaults([{ kind: 'overloaded_503' }]);
    const r = await request(app({ engine })).post('/chat').send({ prompt: 'x', route: 'ops' }).expect(503);
    expect(r.body.error.message).toBe('The model provider is overloaded or having an outage. Trying a fallback model; if none can serve, retry in a minute.');
  });

  it('falls back to the called route’s audience when an audience function gives no valid answer', async () => {
    const engine = testEngine();
    provider.fake.setFaults([{ kind: 'overloaded_503' }]);
    const a = app({ engine, audience: () => 'everyone' as 'customer' });
    const customer = await request(a).post('/chat').send({ prompt: 'x' }).expect(503);
    expect(customer.body.error.message).toBe("This request is taking longer than usual. We're trying another model now.");
    const ops = await request(a).post('/chat').send({ prompt: 'x', route: 'ops' }).expect(503);
    expect(ops.body.error.message).toContain('The model provider is overloaded');
  });

  it('passes a misconfiguration met on a request (ExpressConfigError) on to the app: a 500, never a 400 blaming the client', async () => {
    const engine = testEngine();
    const a = express();
    // A common slip: the whole user object instead of its id.
    a.use(resilience({ engine, identity: (req) => ({ user: { id: req.get('x-user') } as never }), validations: false }));
    a.get('/chat', (_req, res) => void res.send('ok'));
    const handled: unknown[] = [];
    a.use(resilienceErrorHandler({ onError: (err) => void handled.push(err) }));
    const passedOn: unknown[] = [];
    a.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      passedOn.push(err);
      res.status(500).send('server error');
    });
    const { url, close } = await listen(a);
    try {
      const res = await fetch(`${url}/chat`, { headers: { 'x-user': 'alice' } });
      expect({ status: res.status, body: await res.text() }).toEqual({ status: 500, body: 'server error' });
      expect(handled).toEqual([]);
      expect(passedOn).toHaveLength(1);
      expect(passedOn[0]).toBeInstanceOf(ExpressConfigError);
      expect(passedOn[0]).toMatchObject({ code: 'ERR_LLMR_EXPRESS_INVALID_OPTION' });
    } finally {
      await close();
    }
  });

  it('leaves such an error to Express when nothing follows it: 500', async () => {
    const a = express();
    a.use(resilience({ engine: testEngine(), identity: () => ({ team: 7 as never }), validations: false }));
    a.get('/chat', (_req, res) => void res.send('ok'));
    a.use(resilienceErrorHandler());
    const { url, close } = await listen(a);
    try {
      expect((await fetch(`${url}/chat`)).status).toBe(500);
    } finally {
      await close();
    }
  });

  it('maps a policy rejection to 422 and passes foreign errors on', async () => {
    const engine = testEngine();
    provider.fake.setFaults([{ kind: 'content_filter', model: 'fast-a' }]);
    const r = await request(app({ engine })).post('/chat').send({ prompt: 'x', route: 'solo' }).expect(422);
    expect(r.body.error.type).toBe('policy_rejected');
    const a = express();
    a.get('/boom', () => {
      throw new Error('not ours');
    });
    a.use(resilienceErrorHandler());
    a.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(500).send(`app handled: ${err.message}`));
    const boom = await request(a).get('/boom').expect(500);
    expect(boom.text).toBe('app handled: not ours');
  });
});
