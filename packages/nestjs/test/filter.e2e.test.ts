import 'reflect-metadata';
import { createResilience, type AttemptContext, type Resilience, type ResolvedTarget } from '@llm-resilience/core';
import type { FakeProvider } from '@llm-resilience/testing';
import { Body, Controller, Inject, Post, type INestApplication } from '@nestjs/common';
import { APP_FILTER, HttpAdapterHost } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type OpenAI from 'openai';
import request from 'supertest';
import { AttemptCtx, RateLimited, ResilienceExceptionFilter, ResilienceModule, Target } from '../src';
import { startFake, testPolicy } from './fixtures';
import { OPENAI } from './SupportService';
import type { Platform } from './createApp';

/** A controller with no guard and no interceptor: only the exception filter maps the engine's errors. */
@Controller('plain')
class PlainController {
  constructor(@Inject(OPENAI) private readonly openai: OpenAI) {}

  @RateLimited({ route: 'single', key: (body: { user?: string }) => body.user })
  @Post()
  async ask(@Body() body: { user?: string; question: string }, @Target() target?: ResolvedTarget, @AttemptCtx() ctx?: AttemptContext): Promise<{ answer: string }> {
    const r = await this.openai.chat.completions.create(
      { model: target!.model, messages: [{ role: 'user', content: body.question }] },
      { signal: ctx!.signal },
    );
    return { answer: r.choices[0]?.message.content ?? '' };
  }

  @Post('boom')
  boom(): never {
    throw new Error('not ours');
  }
}

let fake: FakeProvider;
let openai: OpenAI;

beforeAll(async () => {
  ({ fake, openai } = await startFake());
});
afterAll(async () => {
  await fake.stop();
});

async function boot(engine: Resilience, how: 'di' | 'global', platform: Platform): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ResilienceModule.forRoot({ engine })],
    controllers: [PlainController],
    providers: [{ provide: OPENAI, useValue: openai }, ...(how === 'di' ? [{ provide: APP_FILTER, useClass: ResilienceExceptionFilter }] : [])],
  }).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: false }) : moduleRef.createNestApplication({ logger: false });
  if (how === 'global') app.useGlobalFilters(new ResilienceExceptionFilter(app.get(HttpAdapterHost).httpAdapter));
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each([
  ['di', 'express'],
  ['global', 'express'],
  ['di', 'fastify'],
  ['global', 'fastify'],
] as const)('ResilienceExceptionFilter (%s, on %s)', (how, platform) => {
  let app: INestApplication;
  let engine: Resilience;
  beforeEach(async () => {
    fake.reset();
    fake.setFaults([]);
    engine = createResilience(testPolicy({ userRpm: 1 }));
    app = await boot(engine, how, platform);
  });
  afterEach(async () => {
    await app.close();
  });

  const post = (body: object) => request(app.getHttpServer()).post('/plain').send({ question: 'q', ...body });

  it('429 with Retry-After when a policy limit of ours is exhausted', async () => {
    await post({ user: 'u1' }).expect(201);
    const res = await post({ user: 'u1' }).expect(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.body).toMatchObject({ statusCode: 429, error: 'rate_limited', message: engine.policy.messages.customer });
  });

  it('503 with Retry-After when every model answered 429 with a hint', async () => {
    fake.setFaults([{ kind: 'rate_limit', retryAfterSeconds: 30 }]);
    const res = await post({}).expect(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.body).toMatchObject({ error: 'rate_limited', code: 'ERR_LLMR_CHAIN_EXHAUSTED', message: engine.policy.messages.customer });
  });

  it('503 when the chain is exhausted by overload', async () => {
    fake.setFaults([{ kind: 'overloaded_503' }]);
    const res = await post({}).expect(503);
    expect(res.body).toMatchObject({ error: 'overloaded', code: 'ERR_LLMR_CHAIN_EXHAUSTED' });
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.headers['x-should-retry']).toBeUndefined();
  });

  it('503 with x-should-retry: false when the quota is exhausted, so the official SDKs do not retry it', async () => {
    fake.setFaults([{ kind: 'insufficient_quota' }]);
    const res = await post({}).expect(503);
    expect(res.body).toMatchObject({ error: 'quota_exhausted', code: 'ERR_LLMR_CHAIN_EXHAUSTED' });
    expect(res.headers['x-should-retry']).toBe('false');
  });

  it('504 when the model does not answer in time', async () => {
    fake.setFaults([{ kind: 'timeout', delayMs: 5_000 }]);
    const res = await post({}).expect(504);
    expect(res.body).toMatchObject({ error: 'timeout', message: engine.policy.messages.customer });
  });

  it('422 for a policy rejection, with the calm customer wording', async () => {
    fake.setFaults([{ kind: 'content_filter' }]);
    const res = await post({}).expect(422);
    expect(res.body).toMatchObject({ error: 'policy_rejected', code: 'ERR_LLMR_NOT_RETRYABLE', message: "We can't help with this request. Please rephrase it and try again." });
  });

  it('400 for a prompt too long for every model', async () => {
    fake.setFaults([{ kind: 'context_length' }]);
    const res = await post({}).expect(400);
    expect(res.body).toMatchObject({ error: 'context_length', message: 'This request is too long for us to process. Please shorten it and try again.' });
  });

  it('leaves other exceptions to Nest', async () => {
    await request(app.getHttpServer()).post('/plain/boom').expect(500, { statusCode: 500, message: 'Internal server error' });
  });

  it('never shows provider or model names to customers', async () => {
    for (const kind of ['overloaded_503', 'rate_limit', 'auth', 'insufficient_quota', 'server_error_500'] as const) {
      fake.setFaults([{ kind }]);
      const res = await post({});
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(JSON.stringify(res.body)).not.toMatch(/support-[abc]|openai|api key/i);
      expect(res.body.message).not.toMatch(/quota|limit|\d/i);
    }
  });
});
