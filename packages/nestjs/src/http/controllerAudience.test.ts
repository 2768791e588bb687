import 'reflect-metadata';
import { createResilience, definePolicy, userMessageFor, type Policy, type Resilience, type ResolvedTarget } from '@llm-resilience/core';
import type { FakeProvider } from '@llm-resilience/testing';
import { Body, Controller, Inject, Injectable, Post, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { UseInterceptors } from '@nestjs/common';
import type OpenAI from 'openai';
import request from 'supertest';
import { RateLimited, ResilienceInterceptor, ResilienceModule, Target } from '../index';
import { createApp, headerIdentity, type Platform } from '../../test/createApp';
import { startFake, testPolicy } from '../../test/fixtures';
import { SupportService } from '../../test/SupportService';

// A customer-facing controller declares `audience: 'customer'` (docs: "who reads failure messages")
// and calls a service method whose policy route is an internal one: the customer gets the customer
// wording, not the one the engine attached for the route's internal audience.
@UseInterceptors(ResilienceInterceptor)
@RateLimited({ audience: 'customer' })
@Controller('public')
class PublicController {
  constructor(@Inject(SupportService) private readonly support: SupportService) {}

  @Post('strict')
  async strict(@Body() body: { question: string }): Promise<{ answer: string }> {
    return { answer: await this.support.strict(body.question) };
  }
}

/** A fake provider for the suite and, per test, an app of `PublicController` over an engine of `policy()`. */
function publicApp(platform: Platform, policy: () => Policy) {
  const ctx = {} as { fake: FakeProvider; engine: Resilience; app: INestApplication };
  let openai: OpenAI;
  beforeAll(async () => {
    ({ fake: ctx.fake, openai } = await startFake());
  });
  afterAll(async () => {
    await ctx.fake.stop();
  });
  beforeEach(async () => {
    ctx.fake.reset();
    ctx.engine = createResilience(policy());
    ctx.app = await createApp(openai, { forRoot: { engine: ctx.engine, identity: headerIdentity } }, { controllers: [PublicController] }, platform);
  });
  afterEach(async () => {
    await ctx.app.close();
  });
  return ctx;
}

describe.each<Platform>(['express', 'fastify'])('controller audience: customer over an internal route (%s)', (platform) => {
  const ctx = publicApp(platform, () => testPolicy({ audience: 'internal' }));

  it('answers a customer controller with the customer wording, never the internal one', async () => {
    ctx.fake.setFaults([{ kind: 'overloaded_503' }]);
    const res = await request(ctx.app.getHttpServer()).post('/public/strict').set('x-user', 'c1').send({ question: 'hi' });
    expect(res.status).toBe(503);
    const internal = userMessageFor('overloaded', 'internal', ctx.engine.policy.messages);
    const customer = userMessageFor('overloaded', 'customer', ctx.engine.policy.messages);
    expect(res.body.message).not.toBe(internal);
    expect(res.body.message).toBe(customer);
  });
});

// The controller's audience words the answer with the route's own `messages` (merged per route by
// definePolicy, as the engine words its userMessage), not only the policy's.
describe("controller audience keeps the route's own messages", () => {
  const ROUTE_CUSTOMER = 'Our support assistant is busy; a human will follow up by email.';
  const ctx = publicApp('express', () => testPolicy({ audience: 'customer', supportMessages: { customer: ROUTE_CUSTOMER } }));

  it("answers with the route's customer wording, as the engine attached it", async () => {
    ctx.fake.setFaults([{ kind: 'overloaded_503' }]);
    const res = await request(ctx.app.getHttpServer()).post('/public/strict').set('x-user', 'c1').send({ question: 'hi' });
    expect(res.status).toBe(503);
    expect(userMessageFor('overloaded', 'customer', ctx.engine.policy.routes.support_reply!.messages)).toBe(ROUTE_CUSTOMER);
    expect(res.body.message).toBe(ROUTE_CUSTOMER);
  });
});

// A request that can never pass a policy limit (500 output tokens reserved against 100 a minute): the
// engine rejects it as rate_limited with retryAfterMs Infinity, answered 413 without Retry-After.
// Reworded for the controller's audience, it keeps the too-large wording: "wait a moment" would send
// the client into retrying a request no wait can let through.
function tooLargePolicy() {
  return definePolicy({
    targets: { a: { provider: 'openai', model: 'support-a' } },
    routes: { chat: { chain: ['a'], priority: 'live', audience: 'customer' } },
    limits: [{ id: 'user-out', scope: ['user'], metric: 'outputTokens', limit: 100, window: '1m' }],
  });
}

@Injectable()
class BigService {
  @RateLimited({ route: 'chat', key: () => 'u1', maxOutputTokens: 500 })
  async ask(@Target() target?: ResolvedTarget): Promise<string> {
    return `never called (${target?.model})`;
  }
}

@UseInterceptors(ResilienceInterceptor)
@RateLimited({ audience: 'customer' })
@Controller('big-customer')
class BigCustomerController {
  constructor(@Inject(BigService) private readonly svc: BigService) {}
  @Post()
  async ask(): Promise<{ answer: string }> {
    return { answer: await this.svc.ask() };
  }
}

@UseInterceptors(ResilienceInterceptor)
@RateLimited({ audience: 'internal' })
@Controller('big-internal')
class BigInternalController {
  constructor(@Inject(BigService) private readonly svc: BigService) {}
  @Post()
  async ask(): Promise<{ answer: string }> {
    return { answer: await this.svc.ask() };
  }
}

describe('controller audience: a request that can never pass a limit (413)', () => {
  let app: INestApplication;
  let engine: Resilience;
  beforeEach(async () => {
    engine = createResilience(tooLargePolicy());
    const moduleRef = await Test.createTestingModule({
      imports: [ResilienceModule.forRoot({ engine })],
      controllers: [BigCustomerController, BigInternalController],
      providers: [BigService],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
  });
  afterEach(async () => {
    await app.close();
  });

  it.each([
    ['customer', '/big-customer'],
    ['internal', '/big-internal'],
  ] as const)('words the 413 for a %s controller as too large, not "wait a moment"', async (audience, path) => {
    const res = await request(app.getHttpServer()).post(path).send({});
    expect(res.status).toBe(413);
    expect(res.headers['retry-after']).toBeUndefined();
    const tooLarge = userMessageFor('too_large', audience, engine.policy.messages);
    expect(tooLarge).not.toBe(userMessageFor('rate_limited', audience, engine.policy.messages));
    expect(res.body).toMatchObject({ statusCode: 413, error: 'rate_limited', message: tooLarge });
  });
});
