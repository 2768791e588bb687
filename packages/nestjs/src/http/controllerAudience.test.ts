import 'reflect-metadata';
import { createResilience, userMessageFor, type Policy, type Resilience } from '@llm-resilience/core';
import type { FakeProvider } from '@llm-resilience/testing';
import { Body, Controller, Inject, Post, type INestApplication } from '@nestjs/common';
import { UseInterceptors } from '@nestjs/common';
import type OpenAI from 'openai';
import request from 'supertest';
import { RateLimited, ResilienceInterceptor } from '../index';
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
