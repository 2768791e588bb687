import 'reflect-metadata';
import { createResilience, userMessageFor, type Resilience } from '@llm-resilience/core';
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

describe.each<Platform>(['express', 'fastify'])('controller audience: customer over an internal route (%s)', (platform) => {
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
    engine = createResilience(testPolicy({ audience: 'internal' }));
    app = await createApp(openai, { forRoot: { engine, identity: headerIdentity } }, { controllers: [PublicController] }, platform);
  });
  afterEach(async () => {
    await app.close();
  });

  it('answers a customer controller with the customer wording, never the internal one', async () => {
    fake.setFaults([{ kind: 'overloaded_503' }]);
    const res = await request(app.getHttpServer()).post('/public/strict').set('x-user', 'c1').send({ question: 'hi' });
    expect(res.status).toBe(503);
    const internal = userMessageFor('overloaded', 'internal', engine.policy.messages);
    const customer = userMessageFor('overloaded', 'customer', engine.policy.messages);
    expect(res.body.message).not.toBe(internal);
    expect(res.body.message).toBe(customer);
  });
});
