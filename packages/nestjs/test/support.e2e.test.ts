import 'reflect-metadata';
import { createResilience, type RequestRecord, type Resilience } from '@llm-resilience/core';
import type { FakeProvider } from '@llm-resilience/testing';
import type { INestApplication } from '@nestjs/common';
import type OpenAI from 'openai';
import request from 'supertest';
import { CANNED, SupportService } from './SupportService';
import { answeredBy, startFake, testPolicy } from './fixtures';
import { createApp, headerIdentity, type Platform } from './createApp';

// The same suite on both HTTP platforms Nest supports: headers, status codes, disconnects and bodies
// go through each platform's own request and response objects.
describe.each<Platform>(['express', 'fastify'])('on %s', (platform) => {
  let fake: FakeProvider;
  let openai: OpenAI;
  let engine: Resilience;
  let app: INestApplication;

  beforeAll(async () => {
    ({ fake, openai } = await startFake());
  });
  afterAll(async () => {
    await fake.stop();
  });
  beforeEach(async () => {
    fake.reset();
    fake.setFaults([]);
    engine = createResilience(testPolicy({ userRpm: 5 }));
    app = await createApp(openai, { forRoot: { engine, identity: headerIdentity } }, {}, platform);
  });
  afterEach(async () => {
    await app.close();
  });

  describe('decorated service methods over HTTP', () => {
    it(`serves this suite on ${platform}, with one copy of NestJS (11 or 12: the root jest config runs it on both)`, () => {
      expect(app.getHttpAdapter().getType()).toBe(platform);
      const major = (p: string) => (require(`@nestjs/${p}/package.json`) as { version: string }).version.split('.')[0];
      expect(['11', '12']).toContain(major('core'));
      for (const p of ['common', `platform-${platform}`]) expect(major(p)).toBe(major('core'));
    });

    it('answers from the first model of the chain', async () => {
      const res = await request(app.getHttpServer()).post('/support/reply').set('x-user', 'u-first').send({ question: 'Where is my order?' }).expect(201);
      expect(answeredBy(res.body.answer)).toBe('support-a');
    });

    it('walks the model chain when the first models are overloaded', async () => {
      fake.setFaults([
        { model: 'support-a', kind: 'overloaded_503' },
        { model: 'support-b', kind: 'overloaded_503' },
      ]);
      const res = await request(app.getHttpServer()).post('/support/reply').set('x-user', 'u-chain').send({ question: 'Refund?' }).expect(201);
      expect(answeredBy(res.body.answer)).toBe('support-c');
      expect(fake.counters.requestsByModel).toMatchObject({ 'support-a': 1, 'support-b': 1, 'support-c': 1 });
    });

    it('answers with the fallback method when every model is overloaded', async () => {
      fake.setFaults([{ kind: 'overloaded_503' }]);
      const res = await request(app.getHttpServer()).post('/support/reply').set('x-user', 'u-canned').send({ question: 'Hello?' }).expect(201);
      expect(res.body.answer).toBe(CANNED);
      const support = app.get(SupportService);
      expect(support.fallbackErrors).toHaveLength(1);
      expect(support.fallbackErrors[0]).toMatchObject({ code: 'ERR_LLMR_CHAIN_EXHAUSTED', kind: 'overloaded' });
    });
  });

  describe("the application's own HttpExceptions in decorated methods", () => {
    it('reach the client as thrown: no retry, no fallback, no alert, no breaker verdict', async () => {
      const records: RequestRecord[] = [];
      const alerts: unknown[] = [];
      engine.events.on('record', (r) => records.push(r));
      engine.events.on('alert', (a) => alerts.push(a));
      const support = app.get(SupportService);
      const server = app.getHttpServer();
      const missing = await request(server).post('/support/order').set('x-user', 'u-app').send({ orderId: 'missing' }).expect(404);
      expect(missing.body).toMatchObject({ statusCode: 404, message: 'No order missing.' });
      // A 403 of the application is not the provider refusing our API key (that would alert and open
      // the provider's breaker at once).
      const forbidden = await request(server).post('/support/order').set('x-user', 'u-app').send({ orderId: 'someone-else-1' }).expect(403);
      expect(forbidden.body.message).toBe('This order belongs to another customer.');
      expect(support.orderCalls).toBe(2); // once per request: nothing retried or sent down the chain
      expect(support.fallbackErrors).toEqual([]); // the fallback method is for the models' failures
      expect(alerts).toEqual([]);
      expect(records).toHaveLength(2);
      expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'invalid_request', error_code: 404, attempts: [{ target: 'a' }] });
      expect(records[1]).toMatchObject({ outcome: 'failure', error_kind: 'invalid_request', error_code: 403, attempts: [{ target: 'a' }] });
      expect(fake.counters.requests).toBe(0);
      // The models are still healthy: the next request goes to the first one.
      const ok = await request(server).post('/support/order').set('x-user', 'u-app').send({ orderId: 'u-app-1' }).expect(201);
      expect(answeredBy(ok.body.answer)).toBe('support-a');
    });

    it('do the same from an Observable method', async () => {
      const support = app.get(SupportService);
      const server = app.getHttpServer();
      const missing = await request(server).post('/support/order$').set('x-user', 'u-app$').send({ orderId: 'missing' }).expect(404);
      expect(missing.body).toMatchObject({ statusCode: 404, message: 'No order missing.' });
      expect(support.orderCalls).toBe(1);
      expect(support.fallbackErrors).toEqual([]);
      const ok = await request(server).post('/support/order$').set('x-user', 'u-app$').send({ orderId: 'u-app$-1' }).expect(201);
      expect(answeredBy(ok.body.answer)).toBe('support-a');
    });
  });

  describe('engine errors over HTTP (interceptor)', () => {
    it('maps an exhausted chain to 503 with the customer message, never provider or model names', async () => {
      fake.setFaults([{ kind: 'overloaded_503' }]);
      const res = await request(app.getHttpServer()).post('/support/strict').set('x-user', 'u-503').send({ question: 'Hi' }).expect(503);
      expect(res.body).toMatchObject({ statusCode: 503, error: 'overloaded', code: 'ERR_LLMR_CHAIN_EXHAUSTED' });
      expect(res.body.message).toBe(engine.policy.messages.customer);
      expect(res.body.requestId).toMatch(/^req_/);
      expect(JSON.stringify(res.body)).not.toMatch(/support-[abc]|openai/);
      expect(res.headers['x-should-retry']).toBeUndefined();
    });

    it('tells the official SDKs not to retry a chain exhausted on quota (x-should-retry: false)', async () => {
      fake.setFaults([{ kind: 'insufficient_quota' }]);
      const res = await request(app.getHttpServer()).post('/support/strict').set('x-user', 'u-quota').send({ question: 'Hi' }).expect(503);
      expect(res.body).toMatchObject({ statusCode: 503, error: 'quota_exhausted', code: 'ERR_LLMR_CHAIN_EXHAUSTED' });
      expect(res.headers['x-should-retry']).toBe('false');
    });

    it('maps a policy limit of the engine to 429 with Retry-After, using the identity of the request', async () => {
      await app.close();
      engine = createResilience(testPolicy({ userRpm: 1 }));
      app = await createApp(openai, { forRoot: { engine, identity: headerIdentity } }, {}, platform);
      await request(app.getHttpServer()).post('/support/strict').set('x-user', 'u-429').send({ question: 'one' }).expect(201);
      const res = await request(app.getHttpServer()).post('/support/strict').set('x-user', 'u-429').send({ question: 'two' }).expect(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(res.body).toMatchObject({ statusCode: 429, error: 'rate_limited' });
      expect(res.body.message).toBe(engine.policy.messages.customer);
      // Another user is not limited: the interceptor passed each request's own identity.
      await request(app.getHttpServer()).post('/support/strict').set('x-user', 'u-other').send({ question: 'three' }).expect(201);
      expect(fake.counters.requests).toBe(2);
    });
  });

  describe('client disconnects (interceptor)', () => {
    it('cancels the engine request and the model call when the client goes away', async () => {
      fake.setFaults([{ kind: 'hang' }]);
      const recorded = new Promise<RequestRecord>((resolve) => engine.events.on('record', resolve));
      await expect(
        request(app.getHttpServer()).post('/support/reply').set('x-user', 'u-gone').send({ question: 'hello?' }).timeout(300),
      ).rejects.toThrow(/Timeout/);
      const record = await recorded;
      expect(record).toMatchObject({ outcome: 'failure', error_kind: 'cancelled', user_id: 'u-gone' });
      expect(app.get(SupportService).fallbackErrors).toHaveLength(0);
    });
  });

  describe('inbound limits (guard)', () => {
    it('answers 429 with Retry-After and the customer message before the handler runs', async () => {
      const server = app.getHttpServer();
      for (let i = 0; i < 3; i++) await request(server).post('/support/reply').set('x-user', 'u-burst').send({ question: `q${i}` }).expect(201);
      const res = await request(server).post('/support/reply').set('x-user', 'u-burst').send({ question: 'q3' }).expect(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(res.body).toEqual({
        statusCode: 429,
        error: 'rate_limited',
        code: 'ERR_LLMR_NEST_INBOUND_LIMITED',
        message: 'You are sending requests too quickly. Please wait a moment and try again.',
      });
      expect(fake.counters.requests).toBe(3);
      await request(server).post('/support/reply').set('x-user', 'u-calm').send({ question: 'q' }).expect(201);
    });

    it('lets @SkipResilience() handlers through', async () => {
      for (let i = 0; i < 5; i++) await request(app.getHttpServer()).get('/support/health').set('x-user', 'u-health').expect(200, { ok: true });
    });
  });

  describe('Observable handlers and controller decorators', () => {
    it('runs an Observable service method through the chain', async () => {
      fake.setFaults([{ model: 'support-a', kind: 'overloaded_503' }]);
      const res = await request(app.getHttpServer()).post('/support/stream').set('x-user', 'u-obs').send({ question: 'stream it' }).expect(201);
      expect(answeredBy(res.body.answer)).toBe('support-b');
    });

    it('runs a decorated controller handler once per attempt with the target injected', async () => {
      fake.setFaults([{ model: 'support-a', kind: 'rate_limit_no_hint' }]);
      const res = await request(app.getHttpServer()).post('/support/direct').set('x-user', 'u-direct').send({ question: 'direct' }).expect(201);
      expect(res.body.model).toBe('support-b');
      expect(answeredBy(res.body.answer)).toBe('support-b');
    });

    it('runs a decorated Observable controller handler', async () => {
      fake.setFaults([
        { model: 'support-a', kind: 'overloaded_503' },
        { model: 'support-b', kind: 'overloaded_503' },
      ]);
      const res = await request(app.getHttpServer()).post('/support/direct$').set('x-user', 'u-direct$').send({ question: 'direct' }).expect(201);
      expect(res.body).toEqual({ model: 'support-c' });
    });
  });

  describe('one engine shared with other adapters', () => {
    it('a limit consumed through a decorated method is seen by a direct engine.execute', async () => {
      await app.close();
      engine = createResilience(testPolicy({ userRpm: 2 }));
      app = await createApp(openai, { forRoot: { engine, identity: headerIdentity } }, {}, platform);
      const support = app.get(SupportService);
      await support.strict('first'); // no identity: not counted per user
      await expect(support.reply('u-shared', 'one')).resolves.toMatch(/^\[support-a\]/);
      await expect(support.reply('u-shared', 'two')).resolves.toMatch(/^\[support-a\]/);
      const direct = engine.execute({ route: 'support_reply', identity: { user: 'u-shared' } }, async (t) => `called ${t.model}`);
      await expect(direct).rejects.toMatchObject({ kind: 'rate_limited' });
      // And the other way: another user's budget used directly is seen by the decorated method.
      await engine.execute({ route: 'support_reply', identity: { user: 'u-direct' } }, async () => 'x');
      await engine.execute({ route: 'support_reply', identity: { user: 'u-direct' } }, async () => 'y');
      await expect(support.reply('u-direct', 'three')).resolves.toBe(CANNED);
      expect(support.fallbackErrors.at(-1)).toMatchObject({ kind: 'rate_limited' });
    });
  });
});
