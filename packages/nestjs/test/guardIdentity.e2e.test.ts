import 'reflect-metadata';
import { createResilience, definePolicy, type Identity, type ResolvedTarget } from '@llm-resilience/core';
import { Controller, Get, Inject, Injectable, UseGuards, type ExecutionContext, type INestApplication, type Type } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FakeProvider } from '@llm-resilience/testing';
import type OpenAI from 'openai';
import request from 'supertest';
import { RateLimited, ResilienceGuard, ResilienceInterceptor, ResilienceModule, Target } from '../src';
import type { Platform } from './createApp';
import { startFake } from './fixtures';

/** A policy whose only limit is keyed by tenant: 2 requests per tenant a minute. */
function tenantPolicy() {
  return definePolicy({
    targets: { a: { provider: 'openai', model: 'support-a' } },
    routes: {
      single: { chain: ['a'], priority: 'live', audience: 'customer', retry: { perKind: { overloaded: 0, rate_limited: 0 }, backoff: { strategy: 'constant', delay: 1 } } },
    },
    limits: [{ id: 'tenant-rpm', scope: ['tenant'], metric: 'requests', limit: 2, window: '1m' }],
    breaker: { consecutiveFailures: 1000, minimumCalls: 1000 },
  });
}

/** Who each request is for, as the application's guard says: the user and tenant headers. Counts its calls. */
@Injectable()
class TenantGuard extends ResilienceGuard {
  static calls = 0;
  protected override async getIdentity(context: ExecutionContext): Promise<Identity | undefined> {
    TenantGuard.calls++;
    const headers = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers;
    return { user: headers['x-user']!, tenant: headers['x-tenant']! };
  }
}

@Injectable()
class Answers {
  /** Runs under the policy with the request's identity (no key, no identity option). */
  @RateLimited({ route: 'single' })
  async model(@Target() target?: ResolvedTarget): Promise<string> {
    return target!.model;
  }
}

@UseGuards(TenantGuard)
@Controller('ask')
class AskController {
  constructor(@Inject(Answers) private readonly answers: Answers) {}

  /** An inbound rule of its own (the guard needs the identity) and a model call (the policy does). */
  @RateLimited({ limits: [{ id: 'ask-per-user', scope: ['user'], limit: 100, window: '1m' }] })
  @Get('limited')
  async limited(): Promise<{ model: string }> {
    return { model: await this.answers.model() };
  }

  /** No inbound rule: only the policy needs the identity. */
  @Get('open')
  async open(): Promise<{ model: string }> {
    return { model: await this.answers.model() };
  }
}

/** An interceptor that says itself who the request is for (it wins for decorated methods). */
@Injectable()
class TeamInterceptor extends ResilienceInterceptor {
  protected override async getIdentity(context: ExecutionContext): Promise<Identity | undefined> {
    const headers = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers;
    return { tenant: `team-${headers['x-team']!}` };
  }
}

/** A global guard with an identity of its own, without the tenant: it runs before TenantGuard. */
@Injectable()
class UserOnlyGuard extends ResilienceGuard {
  protected override async getIdentity(context: ExecutionContext): Promise<Identity | undefined> {
    return { user: context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers['x-user']! };
  }
}

let fake: FakeProvider;
let openai: OpenAI;
beforeAll(async () => ({ fake, openai } = await startFake()));
afterAll(async () => fake.stop());

async function boot(platform: Platform, interceptor: Type = ResilienceInterceptor, globalGuards: Type[] = []): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ResilienceModule.forRoot({ engine: createResilience(tenantPolicy()) })],
    controllers: [AskController],
    providers: [
      Answers,
      TenantGuard,
      ...globalGuards.map((useClass) => ({ provide: APP_GUARD, useClass })),
      { provide: APP_INTERCEPTOR, useClass: interceptor },
    ],
  }).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: false }) : moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each<Platform>(['express', 'fastify'])("a ResilienceGuard subclass's getIdentity is the request's identity (%s)", (platform) => {
  let app: INestApplication;
  beforeEach(async () => {
    app = await boot(platform);
    TenantGuard.calls = 0;
  });
  afterEach(async () => app.close());

  it.each(['limited', 'open'])('keys the policy limits of decorated methods (/ask/%s)', async (path) => {
    const server = app.getHttpServer();
    // Two users of one tenant use up its 2 requests a minute...
    await request(server).get(`/ask/${path}`).set('x-user', 'u1').set('x-tenant', 'acme').expect(200, { model: 'support-a' });
    await request(server).get(`/ask/${path}`).set('x-user', 'u2').set('x-tenant', 'acme').expect(200);
    // ...so a third user of that tenant is refused by the policy's tenant limit...
    await request(server).get(`/ask/${path}`).set('x-user', 'u3').set('x-tenant', 'acme').expect(429);
    // ...while another tenant is not.
    await request(server).get(`/ask/${path}`).set('x-user', 'u4').set('x-tenant', 'globex').expect(200);
  });

  it.each(['limited', 'open'])('is computed once per request, whether or not the guard has rules of its own (/ask/%s)', async (path) => {
    const server = app.getHttpServer();
    await request(server).get(`/ask/${path}`).set('x-user', 'u1').set('x-tenant', 'initech').expect(200);
    expect(TenantGuard.calls).toBe(1);
    await request(server).get(`/ask/${path}`).set('x-user', 'u2').set('x-tenant', 'initech').expect(200);
    expect(TenantGuard.calls).toBe(2);
  });
});

describe("an interceptor's own getIdentity", () => {
  it("wins over the guard's for decorated methods", async () => {
    const app = await boot('express', TeamInterceptor);
    try {
      const server = app.getHttpServer();
      // One tenant for the guard, but the interceptor counts the policy's tenant limit by team.
      await request(server).get('/ask/open').set('x-user', 'u1').set('x-tenant', 'acme').set('x-team', 'red').expect(200);
      await request(server).get('/ask/open').set('x-user', 'u1').set('x-tenant', 'acme').set('x-team', 'red').expect(200);
      await request(server).get('/ask/open').set('x-user', 'u1').set('x-tenant', 'acme').set('x-team', 'red').expect(429);
      await request(server).get('/ask/open').set('x-user', 'u1').set('x-tenant', 'acme').set('x-team', 'blue').expect(200);
    } finally {
      await app.close();
    }
  });
});

describe('two guards with their own getIdentity on one request', () => {
  it('the last one to run (the controller\'s, after the global one) gives the decorated methods their identity', async () => {
    const app = await boot('express', ResilienceInterceptor, [UserOnlyGuard]);
    try {
      const server = app.getHttpServer();
      await request(server).get('/ask/open').set('x-user', 'u1').set('x-tenant', 'acme').expect(200);
      await request(server).get('/ask/open').set('x-user', 'u2').set('x-tenant', 'acme').expect(200);
      // TenantGuard's identity (with the tenant) keys the policy's tenant limit, not UserOnlyGuard's.
      await request(server).get('/ask/open').set('x-user', 'u3').set('x-tenant', 'acme').expect(429);
    } finally {
      await app.close();
    }
  });
});
