import 'reflect-metadata';
import { createResilience, type ResolvedTarget } from '@llm-resilience/core';
import { Controller, Get, Inject, Injectable, type INestApplication } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { RateLimited, ResilienceGuard, ResilienceInterceptor, ResilienceModule, Target } from '../src';
import { headerIdentity } from './createApp';
import { capturedLogs, entriesWith, testPolicy, type CapturedLogs } from './fixtures';

const CODE = 'ERR_LLMR_NEST_UNDEFINED_IDENTITY';

/** A decorated method whose identity comes from the request (no key, no identity option). */
@Injectable()
class Answers {
  @RateLimited({ route: 'single' })
  async model(@Target() target?: ResolvedTarget): Promise<string> {
    return target!.model;
  }
}

@Controller('anon')
class AnonController {
  constructor(@Inject(Answers) private readonly answers: Answers) {}

  /** Guarded by a per-user inbound rule. */
  @RateLimited({ limits: [{ id: 'per-user', scope: ['user'], limit: 2, window: '1m' }] })
  @Get('per-user')
  perUser(): { ok: true } {
    return { ok: true };
  }

  /** Guarded by one bucket for everyone: no identity needed. */
  @RateLimited({ limits: [{ id: 'everyone', scope: [], limit: 100, window: '1m' }] })
  @Get('global')
  global(): { ok: true } {
    return { ok: true };
  }

  /** Runs a decorated method under the policy, whose `user-rpm` limit is keyed by user. */
  @Get('model')
  async model(): Promise<{ model: string }> {
    return { model: await this.answers.model() };
  }
}

let app: INestApplication;
let logs: CapturedLogs;

beforeEach(async () => {
  logs = capturedLogs();
  const moduleRef = await Test.createTestingModule({
    imports: [ResilienceModule.forRoot({ engine: createResilience(testPolicy()), identity: headerIdentity })],
    controllers: [AnonController],
    providers: [Answers, { provide: APP_GUARD, useClass: ResilienceGuard }, { provide: APP_INTERCEPTOR, useClass: ResilienceInterceptor }],
  }).compile();
  app = moduleRef.createNestApplication({ logger: logs.logger });
  await app.listen(0, '127.0.0.1');
});
afterEach(async () => {
  await app.close();
});

describe(`${CODE}: a request without identity escapes limits keyed by user, team or tenant`, () => {
  it('is logged once when the identity resolves to nothing and an inbound per-user rule applies', async () => {
    const server = app.getHttpServer();
    for (let i = 0; i < 3; i++) await request(server).get('/anon/per-user').expect(200); // beyond the limit of 2: the rule cannot count them
    const warned = entriesWith(logs.warnings, CODE);
    expect(warned).toHaveLength(1);
    expect(String(warned[0]![0])).toMatch(/AnonController\.perUser has no identity .*\('per-user'\) do not count it\..* See docs\/nestjs\.md#err_llmr_nest_undefined_identity\./);
    expect(warned[0]![1]).toBe('ResilienceModule');
  });

  it('is not logged for requests with an identity, nor for rules without identity dimensions', async () => {
    const server = app.getHttpServer();
    await request(server).get('/anon/per-user').set('x-user', 'u1').expect(200);
    await request(server).get('/anon/per-user').set('x-user', 'u1').expect(200);
    await request(server).get('/anon/per-user').set('x-user', 'u1').expect(429);
    await request(server).get('/anon/global').expect(200);
    expect(entriesWith(logs.warnings, CODE)).toHaveLength(0);
  });

  it('is logged once when a decorated method runs with no identity under a policy limit keyed by user', async () => {
    const server = app.getHttpServer();
    await request(server).get('/anon/model').set('x-user', 'u2').expect(200, { model: 'support-a' });
    expect(entriesWith(logs.warnings, CODE)).toHaveLength(0);
    await request(server).get('/anon/model').expect(200, { model: 'support-a' });
    await request(server).get('/anon/model').expect(200);
    const warned = entriesWith(logs.warnings, CODE);
    expect(warned).toHaveLength(1);
    expect(String(warned[0]![0])).toMatch(/Answers\.model ran with no identity .*\('user-rpm'\) do not apply to it\./);
  });
});
