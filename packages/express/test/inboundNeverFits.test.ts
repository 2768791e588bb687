import express, { type Request } from 'express';
import request from 'supertest';
import { ManualClock, MemoryLimiterStore, type Resilience } from '@llm-resilience/core';
import { resilience, resilienceErrorHandler, sendLimited, type InboundLimitRule, type ResilienceMiddlewareOptions } from '../src';
import { INBOUND_LIMIT_CUSTOMER_MESSAGE } from '../src/messages';
import { deferred, testEngine } from './support';

/** The customer wording of a request no wait lets through (the core's `too_large`). */
const TOO_LARGE_CUSTOMER = 'This request is too long for us to process. Please shorten it and try again.';

const tokens: InboundLimitRule[] = [{ id: 'user-tokens', scope: ['user'], metric: 'totalTokens', limit: 1_000, window: '1m' }];

/** An app whose inbound estimate is the request's `max_tokens` (as input, plus 1 output token). */
function app(engine: Resilience, options: Partial<ResilienceMiddlewareOptions> = {}) {
  const handled: string[] = [];
  const a = express();
  a.use(express.json());
  a.use(
    resilience({
      engine,
      identity: (req: Request) => ({ user: req.get('x-user') ?? undefined }),
      estimate: (req: Request) => ({ inputTokens: Number((req.body as { max_tokens?: unknown }).max_tokens ?? 1), outputTokens: 1 }),
      validations: false,
      limits: tokens,
      ...options,
    }),
  );
  a.post('/chat', (req, res) => {
    handled.push(String(req.get('x-user')));
    res.json({ ok: true });
  });
  a.use(resilienceErrorHandler());
  return { app: a, handled };
}

function engineAt(t = 1_000_000): { engine: Resilience; clock: ManualClock } {
  const clock = new ManualClock(t);
  return { engine: testEngine({}, { clock, store: new MemoryLimiterStore({ clock }) }), clock };
}

describe('inbound limits a request can never pass', () => {
  it('answers 413 without Retry-After, worded as too large, when a token rule is smaller than the request', async () => {
    const { engine } = engineAt();
    const { app: a, handled } = app(engine);
    const denied = await request(a).post('/chat').set('x-user', 'u1').send({ max_tokens: 5_000 });
    expect(denied.status).toBe(413);
    expect(denied.headers['retry-after']).toBeUndefined();
    expect(denied.body).toEqual({ error: { type: 'rate_limited', code: 'ERR_LLMR_LIMIT_EXCEEDED', message: TOO_LARGE_CUSTOMER } });
    expect(JSON.stringify(denied.body)).not.toMatch(/wait|user-tokens|u1/);
    expect(handled).toEqual([]);
    // Nothing was charged: a request that fits passes at once.
    await request(a).post('/chat').set('x-user', 'u1').send({ max_tokens: 900 }).expect(200);
    expect(handled).toEqual(['u1']);
  });

  it('answers with the status, body and wording the error handler gives the same denial', async () => {
    const { engine } = engineAt();
    const viaHandler = app(engine, { onLimited: (_req, _res, next, info) => next(info.error) }).app;
    const fromHandler = await request(viaHandler).post('/chat').set('x-user', 'h').send({ max_tokens: 5_000 });
    const fromMiddleware = await request(app(engine).app).post('/chat').set('x-user', 'm').send({ max_tokens: 5_000 });
    expect(fromHandler.status).toBe(413);
    expect(fromMiddleware.status).toBe(fromHandler.status);
    expect(fromMiddleware.body).toEqual(fromHandler.body);
    expect(fromHandler.headers['retry-after']).toBeUndefined();
  });

  it('answers 413 for a request-count rule smaller than one request', async () => {
    const { engine } = engineAt();
    const { app: a, handled } = app(engine, { limits: [{ id: 'half-rpm', scope: ['user'], metric: 'requests', limit: 0.5, window: '1m' }] });
    const denied = await request(a).post('/chat').set('x-user', 'u1').send({});
    expect(denied.status).toBe(413);
    expect(denied.headers['retry-after']).toBeUndefined();
    expect(denied.body.error).toEqual({ type: 'rate_limited', code: 'ERR_LLMR_LIMIT_EXCEEDED', message: TOO_LARGE_CUSTOMER });
    expect(handled).toEqual([]);
  });

  it('tells the team which rule can never let the request through, and not to wait', async () => {
    const { engine } = engineAt();
    const { app: a } = app(engine, { audience: 'internal', limitMessages: { customer: 'Slow down.', internal: 'Slow down, team.' } });
    const denied = await request(a).post('/chat').set('x-user', 'u1').send({ max_tokens: 5_000 });
    expect(denied.status).toBe(413);
    expect(denied.body.error.message).toBe(
      "Inbound limit 'user-tokens' denies this request at any time: it asks for more than the rule's capacity. Raise the rule's burst or lower the estimate.",
    );
    expect(denied.body.error).not.toHaveProperty('retry_after_ms');
  });

  it('sendLimited called from a custom onLimited answers 413 too', async () => {
    const { engine } = engineAt();
    const seen: number[] = [];
    const { app: a } = app(engine, {
      onLimited: (req, res, next, info) => {
        seen.push(info.retryAfterMs);
        sendLimited(req, res, next, info);
      },
    });
    const denied = await request(a).post('/chat').set('x-user', 'u1').send({ max_tokens: 5_000 });
    expect(seen).toEqual([Infinity]);
    expect(denied.status).toBe(413);
    expect(denied.body.error.message).toBe(TOO_LARGE_CUSTOMER);
  });

  it('still answers 429 with Retry-After and the wait message when the request fits after a wait', async () => {
    const { engine, clock } = engineAt();
    const { app: a, handled } = app(engine);
    // The first request holds its 600-token reservation while its handler runs (it is settled when the response ends).
    const admitted = deferred();
    const gate = deferred();
    a.post('/hold', async (_req, res) => {
      admitted.resolve();
      await gate.promise;
      res.json({ ok: true });
    });
    const holding = request(a).post('/hold').set('x-user', 'u1').send({ max_tokens: 599 }).then((r) => r);
    await admitted.promise;
    const denied = await request(a).post('/chat').set('x-user', 'u1').send({ max_tokens: 599 });
    expect(denied.status).toBe(429);
    expect(denied.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(denied.body).toEqual({
      error: { type: 'rate_limited', code: 'ERR_LLMR_LIMIT_EXCEEDED', message: INBOUND_LIMIT_CUSTOMER_MESSAGE, retry_after_ms: expect.any(Number) },
    });
    expect(denied.body.error.retry_after_ms).toBeGreaterThan(0);
    expect(Number(denied.headers['retry-after'])).toBe(Math.ceil(denied.body.error.retry_after_ms / 1000));
    expect(handled).toEqual([]);
    // After the wait it names, the same request passes (the first one still holds its reservation).
    await clock.advance(denied.body.error.retry_after_ms);
    await request(a).post('/chat').set('x-user', 'u1').send({ max_tokens: 599 }).expect(200);
    expect(handled).toEqual(['u1']);
    gate.resolve();
    expect((await holding).status).toBe(200);
  });
});
