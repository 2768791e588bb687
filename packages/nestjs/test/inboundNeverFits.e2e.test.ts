import 'reflect-metadata';
import { createResilience, userMessageFor, type LimitRule, type Resilience } from '@llm-resilience/core';
import { Controller, Get, Injectable, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { INBOUND_LIMIT_CUSTOMER_MESSAGE, ResilienceGuard, ResilienceModule, type Audience, type InboundLimitedDetails, type RateLimitedOptions } from '../src';
import { headerIdentity, type Platform } from './createApp';
import { testPolicy } from './fixtures';

// Rules a ResilienceGuard subclass makes up in getLimits are not checked like declared ones: a plan
// of half a request a minute (no burst) has a bucket that can never hold one request. The limiter
// denies every request with `retryAfterMs: Infinity`: no wait lets it through, so the guard must answer
// as the rest of the library answers a request that can never pass a limit: 413, no Retry-After,
// worded as too large (never "wait a moment", which sends clients into retrying forever).

/** What the guard handed to throwLimited, for the last denial. */
let lastDetails: InboundLimitedDetails | undefined;

@Injectable()
class PlanGuard extends ResilienceGuard {
  protected override getLimits(context: ExecutionContext, options: RateLimitedOptions | undefined): LimitRule[] {
    const handler = context.getHandler().name;
    if (handler === 'tiny') return [{ id: 'nest-inbound:tiny-plan', scope: ['user'], metric: 'requests', limit: 0.5, windowMs: 60_000 }];
    if (handler === 'small') return [{ id: 'nest-inbound:small-plan', scope: ['user'], metric: 'requests', limit: 1, windowMs: 60_000 }];
    return super.getLimits(context, options);
  }

  protected override throwLimited(context: ExecutionContext, details: InboundLimitedDetails): never {
    lastDetails = details;
    return super.throwLimited(context, details);
  }
}

@Controller('plan')
class PlanController {
  /** Under a rule no request fits. */
  @Get('tiny') tiny(): { ok: true } {
    return { ok: true };
  }
  /** Under a rule of one request a minute: the second waits, it is not too large. */
  @Get('small') small(): { ok: true } {
    return { ok: true };
  }
}

async function boot(engine: Resilience, audience: Audience, platform: Platform): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ResilienceModule.forRoot({ engine, identity: headerIdentity, audience })],
    controllers: [PlanController],
    providers: [{ provide: APP_GUARD, useClass: PlanGuard }],
  }).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: false }) : moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each(['express', 'fastify'] as const)('ResilienceGuard on %s: a request an inbound rule can never let through', (platform) => {
  describe.each(['customer', 'internal'] as const)('for the %s audience', (audience) => {
    let app: INestApplication;
    let engine: Resilience;
    beforeEach(async () => {
      lastDetails = undefined;
      engine = createResilience(testPolicy());
      app = await boot(engine, audience, platform);
    });
    afterEach(async () => app.close());

    it('answers 413 without Retry-After, worded as too large, not 429 "wait"', async () => {
      const res = await request(app.getHttpServer()).get('/plan/tiny').set('x-user', 'u1');
      // The guard was the one denying, with a denial no wait ends.
      expect(lastDetails).toMatchObject({ ruleId: 'tiny-plan', retryAfterMs: Infinity, audience });
      expect(res.status).toBe(413);
      expect(res.headers['retry-after']).toBeUndefined();
      expect(res.body).toMatchObject({ statusCode: 413, error: 'rate_limited', code: 'ERR_LLMR_NEST_INBOUND_LIMITED' });
      if (audience === 'customer') {
        expect(res.body.message).toBe(userMessageFor('too_large', 'customer', engine.policy.messages));
        expect(res.body.message).not.toBe(INBOUND_LIMIT_CUSTOMER_MESSAGE);
      } else {
        // The team's wording names the rule (as written) and what to change, never a wait.
        expect(res.body.message).toBe("Inbound limit 'tiny-plan' denies this request at any time. Raise the rule's limit or burst.");
      }
      expect(res.body.message).not.toMatch(/wait|retry in/i);
      // Every later request is answered the same: nothing was charged, nothing changes.
      const again = await request(app.getHttpServer()).get('/plan/tiny').set('x-user', 'u1');
      expect(again.status).toBe(413);
      expect(again.headers['retry-after']).toBeUndefined();
    });

    it('still answers 429 with Retry-After for a rule the request can pass after a wait', async () => {
      await request(app.getHttpServer()).get('/plan/small').set('x-user', 'u2').expect(200);
      const res = await request(app.getHttpServer()).get('/plan/small').set('x-user', 'u2');
      expect(lastDetails?.retryAfterMs).toBeGreaterThan(0);
      expect(Number.isFinite(lastDetails?.retryAfterMs)).toBe(true);
      expect(res.status).toBe(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.body).toMatchObject({ statusCode: 429, error: 'rate_limited', code: 'ERR_LLMR_NEST_INBOUND_LIMITED' });
      if (audience === 'customer') expect(res.body.message).toBe(INBOUND_LIMIT_CUSTOMER_MESSAGE);
      else expect(res.body.message).toMatch(/^Inbound limit 'small-plan' is exhausted; retry in \d+ s \(Retry-After\)\.$/);
    });
  });
});
