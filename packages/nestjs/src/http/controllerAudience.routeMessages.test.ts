import 'reflect-metadata';
import { createResilience, definePolicy, userMessageFor, type Resilience } from '@llm-resilience/core';
import type { FakeProvider } from '@llm-resilience/testing';
import { Body, Controller, Inject, Post, UseInterceptors, type INestApplication } from '@nestjs/common';
import type OpenAI from 'openai';
import request from 'supertest';
import { RateLimited, ResilienceInterceptor } from '../index';
import { createApp, headerIdentity } from '../../test/createApp';
import { startFake } from '../../test/fixtures';
import { SupportService } from '../../test/SupportService';

// A controller's @RateLimited({ audience }) words the answer with the route's own `messages` (merged
// per route by definePolicy, as the engine words its userMessage), not only the policy's.
const ROUTE_CUSTOMER = 'Our support assistant is busy; a human will follow up by email.';

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

describe('controller audience keeps the route\'s own messages', () => {
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
    engine = createResilience(
      definePolicy({
        targets: {
          a: { provider: 'openai', model: 'support-a' },
          b: { provider: 'openai', model: 'support-b' },
          c: { provider: 'openai', model: 'support-c' },
        },
        routes: {
          support_reply: {
            chain: ['a', 'b', 'c'],
            priority: 'live',
            audience: 'customer',
            messages: { customer: ROUTE_CUSTOMER },
            retry: { perKind: { overloaded: 0, rate_limited: 0, timeout: 0, network: 0, unknown: 0 }, backoff: { strategy: 'constant', delay: 1 } },
          },
        },
        breaker: { consecutiveFailures: 1000, minimumCalls: 1000 },
      }),
    );
    app = await createApp(openai, { forRoot: { engine, identity: headerIdentity } }, { controllers: [PublicController] }, 'express');
  });
  afterEach(async () => {
    await app.close();
  });

  it('answers with the route\'s customer wording, as the engine attached it', async () => {
    fake.setFaults([{ kind: 'overloaded_503' }]);
    const res = await request(app.getHttpServer()).post('/public/strict').set('x-user', 'c1').send({ question: 'hi' });
    expect(res.status).toBe(503);
    expect(userMessageFor('overloaded', 'customer', engine.policy.routes.support_reply!.messages)).toBe(ROUTE_CUSTOMER);
    expect(res.body.message).toBe(ROUTE_CUSTOMER);
  });
});
