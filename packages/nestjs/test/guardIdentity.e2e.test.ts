import 'reflect-metadata';
import { createResilience, definePolicy, type Identity, type ResolvedTarget } from '@llm-resilience/core';
import {
  Controller,
  Get,
  Inject,
  Injectable,
  UnauthorizedException,
  UseGuards,
  type ExecutionContext,
  type INestApplication,
  type ModuleMetadata,
  type Type,
} from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FakeProvider } from '@llm-resilience/testing';
import type OpenAI from 'openai';
import request from 'supertest';
import { RateLimited, ResilienceGuard, ResilienceInterceptor, ResilienceModule, Target, type ResilienceModuleOptions } from '../src';
import type { Platform } from './createApp';
import { capturedLogs, entriesWith, startFake } from './fixtures';

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

type Headers = { headers: Record<string, string | undefined> };
const header = (context: ExecutionContext, name: string): string | undefined => context.switchToHttp().getRequest<Headers>().headers[name];

/** Boots an application with `meta` (the policy's tenant limit, the module's `forRoot` options added), its guards' own logs kept. */
async function bootWith(meta: ModuleMetadata, forRoot: Partial<ResilienceModuleOptions> = {}, platform: Platform = 'express', logs = capturedLogs()): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ResilienceModule.forRoot({ engine: createResilience(tenantPolicy()), ...forRoot } as ResilienceModuleOptions)],
    controllers: meta.controllers ?? [],
    providers: [Answers, ...(meta.providers ?? [])],
  }).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: logs.logger }) : moduleRef.createNestApplication({ logger: logs.logger });
  await app.listen(0, '127.0.0.1');
  return app;
}

/** Premium tenants skip the inbound limits (not the policy's); who the request is for comes from headers. */
@Injectable()
class PremiumSkippingGuard extends ResilienceGuard {
  protected override shouldSkip(context: ExecutionContext): boolean {
    return header(context, 'x-plan') === 'premium' || super.shouldSkip(context);
  }
  protected override async getIdentity(context: ExecutionContext): Promise<Identity | undefined> {
    return { user: header(context, 'x-user')!, tenant: header(context, 'x-tenant')! };
  }
}

@UseGuards(PremiumSkippingGuard)
@Controller('premium')
class PremiumController {
  constructor(@Inject(Answers) private readonly answers: Answers) {}
  @Get() async ask(): Promise<{ model: string }> {
    return { model: await this.answers.model() };
  }
}

describe.each<Platform>(['express', 'fastify'])('a subclass overriding getIdentity and shouldSkip (%s)', (platform) => {
  it("requests it skips still count the policy's tenant limit under its identity", async () => {
    const app = await bootWith({ controllers: [PremiumController], providers: [PremiumSkippingGuard, { provide: APP_INTERCEPTOR, useClass: ResilienceInterceptor }] }, {}, platform);
    try {
      const server = app.getHttpServer();
      for (const user of ['u1', 'u2']) await request(server).get('/premium').set('x-user', user).set('x-tenant', 'acme').set('x-plan', 'premium').expect(200);
      // Tenant acme used its 2 policy requests a minute, skipped guard or not.
      await request(server).get('/premium').set('x-user', 'u3').set('x-tenant', 'acme').set('x-plan', 'premium').expect(429);
      await request(server).get('/premium').set('x-user', 'u3').set('x-tenant', 'globex').set('x-plan', 'premium').expect(200);
    } finally {
      await app.close();
    }
  });
});

/** Who the request is for, from a header: the application's global guard. Counts its calls. */
@Injectable()
class HeaderUserGuard extends ResilienceGuard {
  static calls = 0;
  protected override async getIdentity(context: ExecutionContext): Promise<Identity | undefined> {
    HeaderUserGuard.calls++;
    return { user: header(context, 'x-user')! };
  }
}

/** A plain ResilienceGuard left on a controller of an application whose global guard is a subclass. */
@UseGuards(ResilienceGuard)
@Controller('leftover')
class LeftoverGuardController {
  @Get() get(): string {
    return 'ok';
  }
}

/** The subclass applied again on the controller, besides the global one. */
@UseGuards(HeaderUserGuard)
@Controller('again')
class AgainController {
  @Get() get(): string {
    return 'ok';
  }
}

const PER_USER_2: Partial<ResilienceModuleOptions> = { limits: [{ id: 'per-user', scope: ['user'], limit: 2, window: '1m' }] };

describe.each<Platform>(['express', 'fastify'])('a global subclass with its own getIdentity and a plain @UseGuards(ResilienceGuard) (%s)', (platform) => {
  it("the plain guard counts under the subclass's identity: once per request and bucket, users behind one IP apart", async () => {
    const app = await bootWith({ controllers: [LeftoverGuardController], providers: [{ provide: APP_GUARD, useClass: HeaderUserGuard }] }, PER_USER_2, platform);
    try {
      const server = app.getHttpServer();
      HeaderUserGuard.calls = 0;
      // Three users from one IP, one request each: none is over 2 a minute (the client IP's bucket is not charged).
      for (const user of ['u1', 'u2', 'u3']) await request(server).get('/leftover').set('x-user', user).expect(200);
      expect(HeaderUserGuard.calls).toBe(3);
      // One user: the third request is over 2 a minute, each request counted once.
      await request(server).get('/leftover').set('x-user', 'u1').expect(200);
      await request(server).get('/leftover').set('x-user', 'u1').expect(429);
    } finally {
      await app.close();
    }
  });
});

describe('one subclass as APP_GUARD and @UseGuards on one request', () => {
  it('calls getIdentity once per request, and counts the request once', async () => {
    const app = await bootWith({ controllers: [AgainController], providers: [HeaderUserGuard, { provide: APP_GUARD, useClass: HeaderUserGuard }] }, PER_USER_2);
    try {
      const server = app.getHttpServer();
      HeaderUserGuard.calls = 0;
      await request(server).get('/again').set('x-user', 'u1').expect(200);
      expect(HeaderUserGuard.calls).toBe(1);
      await request(server).get('/again').set('x-user', 'u1').expect(200);
      expect(HeaderUserGuard.calls).toBe(2);
      await request(server).get('/again').set('x-user', 'u1').expect(429);
    } finally {
      await app.close();
    }
  });
});

describe('a plain global ResilienceGuard, then a subclass with its own getIdentity on the controller', () => {
  it('counts the request under both identities (it cannot be undone), and warns once with ERR_LLMR_NEST_INBOUND_COUNTED_TWICE', async () => {
    const logs = capturedLogs();
    // The global guard's identity is the module's (none here: the client IP); the controller's guard says the user.
    const app = await bootWith({ controllers: [AgainController], providers: [HeaderUserGuard, { provide: APP_GUARD, useClass: ResilienceGuard }] }, PER_USER_2, 'express', logs);
    try {
      const server = app.getHttpServer();
      await request(server).get('/again').set('x-user', 'u1').expect(200);
      await request(server).get('/again').set('x-user', 'u2').expect(200);
      // The client IP's bucket holds both requests: a third user is refused by the global guard.
      await request(server).get('/again').set('x-user', 'u3').expect(429);
      const warnings = entriesWith(logs.warnings, 'ERR_LLMR_NEST_INBOUND_COUNTED_TWICE');
      expect(warnings).toHaveLength(1);
      expect(String(warnings[0]![0])).toContain(
        "ResilienceGuard ran twice for a request to AgainController.get (a global APP_GUARD and @UseGuards, say), and the second run (HeaderUserGuard) counted it under another identity or route than the first, so inbound limit 'per-user' counted the request twice, in both buckets",
      );
    } finally {
      await app.close();
    }
  });

  it('does not warn when both runs find one identity (the same subclass twice)', async () => {
    const logs = capturedLogs();
    const app = await bootWith(
      { controllers: [AgainController], providers: [HeaderUserGuard, { provide: APP_GUARD, useClass: HeaderUserGuard }] },
      PER_USER_2,
      'express',
      logs,
    );
    try {
      await request(app.getHttpServer()).get('/again').set('x-user', 'u1').expect(200);
      expect(entriesWith(logs.warnings, 'ERR_LLMR_NEST_INBOUND_COUNTED_TWICE')).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

/** A guard whose getIdentity refuses requests without a tenant. Counts its calls. */
@Injectable()
class TenantRequiredGuard extends ResilienceGuard {
  static calls = 0;
  protected override async getIdentity(context: ExecutionContext): Promise<Identity | undefined> {
    TenantRequiredGuard.calls++;
    const tenant = header(context, 'x-tenant');
    if (!tenant) throw new UnauthorizedException('no tenant');
    return { tenant };
  }
}

@UseGuards(TenantRequiredGuard)
@Controller('tenant-required')
class TenantRequiredController {
  constructor(@Inject(Answers) private readonly answers: Answers) {}
  @Get('open') async open(): Promise<string> {
    return this.answers.model();
  }
  @RateLimited({ limits: [{ id: 'per-tenant', scope: ['tenant'], limit: 5, window: '1m' }] })
  @Get('limited')
  async limited(): Promise<string> {
    return this.answers.model();
  }
}

describe.each<Platform>(['express', 'fastify'])('a getIdentity that throws an HttpException (%s)', (platform) => {
  it.each(['open', 'limited'])('answers with it, calling getIdentity once (/tenant-required/%s)', async (path) => {
    const app = await bootWith(
      { controllers: [TenantRequiredController], providers: [TenantRequiredGuard, { provide: APP_INTERCEPTOR, useClass: ResilienceInterceptor }] },
      {},
      platform,
    );
    try {
      TenantRequiredGuard.calls = 0;
      await request(app.getHttpServer()).get(`/tenant-required/${path}`).expect(401);
      expect(TenantRequiredGuard.calls).toBe(1);
    } finally {
      await app.close();
    }
  });
});
