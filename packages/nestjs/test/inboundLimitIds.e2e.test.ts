import 'reflect-metadata';
import { createResilience, type LimitRule } from '@llm-resilience/core';
import { All, Controller, Get, Injectable, Module, UseGuards, Version, type CanActivate, type ExecutionContext, type INestApplication, type Type } from '@nestjs/common';
import { APP_GUARD, RouterModule } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test, type TestingModule } from '@nestjs/testing';
import request from 'supertest';
import { NestConfigError, RateLimited, ResilienceGuard, ResilienceModule, type InboundLimitRule, type RateLimitedOptions } from '../src';
import { headerIdentity, type Platform } from './createApp';
import { capturedLogs, entriesWith, testPolicy } from './fixtures';

const CODE = 'ERR_LLMR_NEST_CONFLICTING_LIMIT_ID';

/** A guarded controller named `name` at `path` whose class declares `limits`. */
function controller(name: string, path: string, limits: InboundLimitRule[]): Type {
  class C {
    get(): { ok: true } {
      return { ok: true };
    }
  }
  // Named before it is decorated, as a class declared with that name: its rules are declared by `name`.
  Object.defineProperty(C, 'name', { value: name });
  Get()(C.prototype, 'get', Object.getOwnPropertyDescriptor(C.prototype, 'get')!);
  Controller(path)(C);
  RateLimited({ limits })(C);
  UseGuards(ResilienceGuard)(C);
  return C;
}

const searchDocs = controller('SearchDocsController', 'search-docs', [{ id: 'search-per-user', scope: ['user'], limit: 2, window: '1m' }]);

/** Compiles and starts an application with these controllers; the error of a boot that fails. */
async function boot(controllers: Type[], limits?: InboundLimitRule[], providers: Type[] = []): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ResilienceModule.forRoot({ engine: createResilience(testPolicy()), identity: headerIdentity, ...(limits ? { limits } : {}) })],
    controllers,
    providers,
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

/** The sentence of the error that says what differs (the rest is the same for every conflict). */
function differences(err: Error): string {
  return err.message.split('. Rules with one id')[0]!;
}

async function bootError(controllers: Type[], limits?: InboundLimitRule[]): Promise<NestConfigError> {
  let app: INestApplication | undefined;
  try {
    app = await boot(controllers, limits);
  } catch (err) {
    return err as NestConfigError;
  } finally {
    await app?.close();
  }
  throw new Error('the application started');
}

describe('one explicit id, two different definitions: the application does not start', () => {
  it('two controllers: the error names both declarations and the limit that differs', async () => {
    const searchTickets = controller('SearchTicketsController', 'search-tickets', [{ id: 'search-per-user', scope: ['user'], limit: 5, window: '1m' }]);
    const err = await bootError([searchDocs, searchTickets]);
    expect(err).toBeInstanceOf(NestConfigError);
    expect(err.code).toBe(CODE);
    expect(err.message).toContain("inbound limit id 'search-per-user'");
    expect(err.message).toContain('SearchDocsController: @RateLimited limits[0]');
    expect(err.message).toContain('SearchTicketsController: @RateLimited limits[0]');
    expect(differences(err)).toMatch(/limit 5\b.*limit 2\b/);
    expect(differences(err)).not.toMatch(/burst|window|scope|match/);
    expect(err.message).toContain('docs/nestjs.md#err_llmr_nest_conflicting_limit_id');
  });

  it('fails when the module is compiled, before any instance serves (compile(), as NestFactory.create)', async () => {
    const searchTickets = controller('SearchTicketsController', 'search-tickets', [{ id: 'search-per-user', scope: ['user'], limit: 5, window: '1m' }]);
    const compiling = Test.createTestingModule({
      imports: [ResilienceModule.forRoot({ engine: createResilience(testPolicy()) })],
      controllers: [searchDocs, searchTickets],
    }).compile();
    await expect(compiling).rejects.toMatchObject({ code: CODE });
  });

  it.each<[string, Partial<InboundLimitRule>, RegExp]>([
    ['window', { window: '1h' }, /window 1m\b.*window 1h\b|window 1h\b.*window 1m\b/],
    ['scope', { scope: ['tenant'] }, /scope \[user\].*scope \[tenant\]|scope \[tenant\].*scope \[user\]/],
    ['burst', { burst: 10 }, /burst 2\b.*burst 10\b|burst 10\b.*burst 2\b/],
    ['match', { match: { environment: 'staging' } }, /no match.*match \{ environment: 'staging' \}|match \{ environment: 'staging' \}.*no match/],
  ])('a different %s', async (_field, change, differs) => {
    const other = controller('SearchTicketsController', 'search-tickets', [{ id: 'search-per-user', scope: ['user'], limit: 2, window: '1m', ...change }]);
    const err = await bootError([searchDocs, other]);
    expect(err.code).toBe(CODE);
    expect(differences(err)).toMatch(differs);
    expect(differences(err)).not.toMatch(/\blimit \d/);
  });

  it('the methods of two controllers (peers: neither replaces the other)', async () => {
    @UseGuards(ResilienceGuard)
    @Controller('reports')
    class ReportsController {
      @RateLimited({ limits: [{ id: 'exports', scope: ['user'], limit: 10, window: '1m' }] })
      @Get('export')
      export(): { ok: true } {
        return { ok: true };
      }
    }
    @UseGuards(ResilienceGuard)
    @Controller('invoices')
    class InvoicesController {
      @RateLimited({ limits: [{ id: 'exports', scope: ['user'], limit: 1, window: '1m' }] })
      @Get('export')
      export(): { ok: true } {
        return { ok: true };
      }
    }
    const err = await bootError([ReportsController, InvoicesController]);
    expect(err.code).toBe(CODE);
    expect(err.message).toContain("InvoicesController.export: @RateLimited limits[0] declares inbound limit id 'exports' with limit 1, but ReportsController.export: @RateLimited limits[0]");
  });

  it('a class rule of one controller and a method rule of another', async () => {
    const perUser = controller('PerUserController', 'per-user', [{ id: 'per-user', scope: ['user'], limit: 3, window: '1m' }]);
    @UseGuards(ResilienceGuard)
    @Controller('other')
    class OtherController {
      @RateLimited({ limits: [{ id: 'per-user', scope: ['user'], limit: 30, window: '1m' }] })
      @Get()
      get(): { ok: true } {
        return { ok: true };
      }
    }
    const err = await bootError([perUser, OtherController]);
    expect(err.code).toBe(CODE);
    expect(err.message).toContain('OtherController.get: @RateLimited limits[0]');
    expect(err.message).toContain('PerUserController: @RateLimited limits[0]');
  });
});

describe('one explicit id, one definition: one bucket', () => {
  it('starts, and the declarations share the bucket (a window in ms equals the same window in words)', async () => {
    const same = controller('SearchTicketsController', 'search-tickets', [{ id: 'search-per-user', scope: ['user'], limit: 2, window: 60_000, burst: 2 }]);
    const app = await boot([searchDocs, same], [{ id: 'search-per-user', scope: ['user'], limit: 2, window: '1m' }]);
    try {
      const server = app.getHttpServer();
      await request(server).get('/search-docs').set('x-user', 'u1').expect(200);
      await request(server).get('/search-tickets').set('x-user', 'u1').expect(200);
      await request(server).get('/search-docs').set('x-user', 'u1').expect(429);
      await request(server).get('/search-tickets').set('x-user', 'u1').expect(429);
    } finally {
      await app.close();
    }
  });
});

/** A guard whose rules are not in any declaration: they can only be checked when it first builds them. */
@Injectable()
class PlanGuard extends ResilienceGuard {
  protected override getLimits(context: ExecutionContext, options: RateLimitedOptions | undefined): LimitRule[] {
    const rules = super.getLimits(context, options);
    return rules.map((r) => (r.id === 'nest-inbound:search-per-user' ? { ...r, limit: 50 } : r));
  }
}

@UseGuards(PlanGuard)
@RateLimited({ limits: [{ id: 'search-per-user', scope: ['user'], limit: 2, window: '1m' }] })
@Controller('plan-search')
class PlanSearchController {
  @Get() get(): { ok: true } {
    return { ok: true };
  }
}

describe('rules an overridden getLimits builds', () => {
  it('fail the first request (500, logged with the same error) when their id is declared with another definition', async () => {
    const logs = capturedLogs();
    const moduleRef = await Test.createTestingModule({
      imports: [ResilienceModule.forRoot({ engine: createResilience(testPolicy()), identity: headerIdentity })],
      controllers: [searchDocs, PlanSearchController],
      providers: [PlanGuard],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: logs.logger });
    await app.listen(0, '127.0.0.1');
    try {
      const server = app.getHttpServer();
      await request(server).get('/search-docs').set('x-user', 'u1').expect(200);
      await request(server).get('/plan-search').set('x-user', 'u1').expect(500, { statusCode: 500, message: 'Internal server error' });
      const logged = entriesWith(logs.errors, CODE);
      expect(logged).toHaveLength(1);
      const message = String((logged[0]!.find((a) => a instanceof Error) as Error | undefined)?.message);
      expect(message).toContain('PlanGuard.getLimits(context, options) for PlanSearchController.get');
      expect(message).toContain('SearchDocsController: @RateLimited limits[0]');
      expect(message).toMatch(/limit 50\b.*limit 2\b/);
    } finally {
      await app.close();
    }
  });
});

/** Sets `req.user` from headers, as an auth guard would: `x-env` is the environment of the user's account. */
@Injectable()
class EnvAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: { env: string } }>();
    req.user = { env: req.headers['x-env']! };
    return true;
  }
}

@UseGuards(EnvAuthGuard, ResilienceGuard)
@Controller('staging')
class StagingController {
  @Get() get(): { ok: true } {
    return { ok: true };
  }
}

describe('a rule the first run did not apply (its match did not hold for the identity it found)', () => {
  it('is counted by the second run, whose identity it matches', async () => {
    const logs = capturedLogs();
    // The global guard runs before the controller's auth guard: its identity has no environment yet.
    const moduleRef = await Test.createTestingModule({
      imports: [
        ResilienceModule.forRoot({
          engine: createResilience(testPolicy()),
          identity: (ctx) => {
            const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: { env: string } }>();
            return { user: req.headers['x-user']!, ...(req.user ? { environment: req.user.env } : {}) };
          },
          limits: [{ id: 'staging-per-user', scope: ['user'], limit: 1, window: '1m', match: { environment: 'staging' } }],
        }),
      ],
      controllers: [StagingController],
      providers: [EnvAuthGuard, { provide: APP_GUARD, useClass: ResilienceGuard }],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: logs.logger });
    await app.listen(0, '127.0.0.1');
    try {
      const server = app.getHttpServer();
      await request(server).get('/staging').set('x-user', 'u1').set('x-env', 'staging').expect(200);
      await request(server).get('/staging').set('x-user', 'u1').set('x-env', 'staging').expect(429);
      // Another environment: the rule does not apply.
      await request(server).get('/staging').set('x-user', 'u1').set('x-env', 'prod').expect(200);
      // Charged once, by the run it applied to: not a request counted twice.
      expect(entriesWith(logs.warnings, 'ERR_LLMR_NEST_INBOUND_COUNTED_TWICE')).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

/** A user rule and a tenant rule: a request without a tenant is counted by the user rule only. */
@RateLimited({
  limits: [
    { id: 'partial-per-user', scope: ['user'], limit: 2, window: '1m' },
    { id: 'partial-per-tenant', scope: ['tenant'], limit: 3, window: '1m' },
  ],
})
@Controller('partial')
class PartialController {
  @Get() get(): { ok: true } {
    return { ok: true };
  }
}

describe('rules without a key for the request (a tenant rule, a user without tenant)', () => {
  it('the rules that have one count it, once', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ResilienceModule.forRoot({
          engine: createResilience(testPolicy()),
          identity: (ctx) => {
            const headers = ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers;
            return { user: headers['x-user']!, ...(headers['x-tenant'] ? { tenant: headers['x-tenant'] } : {}) };
          },
        }),
      ],
      controllers: [PartialController],
      providers: [{ provide: APP_GUARD, useClass: ResilienceGuard }],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const server = app.getHttpServer();
      await request(server).get('/partial').set('x-user', 'u1').expect(200);
      await request(server).get('/partial').set('x-user', 'u1').expect(200);
      await request(server).get('/partial').set('x-user', 'u1').expect(429);
      // With a tenant, both count: the tenant's 3 a minute across its users.
      for (const user of ['u2', 'u3', 'u4']) await request(server).get('/partial').set('x-user', user).set('x-tenant', 'acme').expect(200);
      await request(server).get('/partial').set('x-user', 'u5').set('x-tenant', 'acme').expect(429);
    } finally {
      await app.close();
    }
  });
});

describe('the start-up check reads every kind of route handler', () => {
  const shared = (limit: number): InboundLimitRule[] => [{ id: 'shared', scope: ['user'], limit, window: '1m' }];

  it('@All and @Version routes', async () => {
    @Controller('all')
    class AllController {
      @RateLimited({ limits: shared(5) })
      @All()
      any(): string {
        return 'a';
      }
    }
    @Controller('ver')
    class VersionedController {
      @RateLimited({ limits: shared(6) })
      @Version('2')
      @Get()
      v2(): string {
        return 'v';
      }
    }
    await expect(bootError([AllController, VersionedController])).resolves.toMatchObject({ code: CODE });
  });
});

/** Starts `moduleRef`'s application on `platform`, on a real socket. */
async function listen(moduleRef: TestingModule, platform: Platform): Promise<INestApplication> {
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: false }) : moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each<Platform>(['express', 'fastify'])('ResilienceGuard applied twice to one request (APP_GUARD and @UseGuards) (%s)', (platform) => {
  it('counts the request once in each bucket', async () => {
    const twice = controller('TwiceController', 'twice', [{ id: 'twice-per-user', scope: ['user'], limit: 2, window: '1m' }]);
    const moduleRef = await Test.createTestingModule({
      imports: [ResilienceModule.forRoot({ engine: createResilience(testPolicy()), identity: headerIdentity })],
      controllers: [twice],
      providers: [{ provide: APP_GUARD, useClass: ResilienceGuard }],
    }).compile();
    const app = await listen(moduleRef, platform);
    try {
      const server = app.getHttpServer();
      await request(server).get('/twice').set('x-user', 'u1').expect(200);
      await request(server).get('/twice').set('x-user', 'u1').expect(200);
      await request(server).get('/twice').set('x-user', 'u1').expect(429);
    } finally {
      await app.close();
    }
  });

  it('one controller class in two modules (mounted at two paths) is one declaration: one bucket', async () => {
    const shared = controller('SharedController', 'shared', [{ scope: ['user'], limit: 1, window: '1m' }]);
    @Module({ controllers: [shared] })
    class AModule {}
    @Module({ controllers: [shared] })
    class BModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [
        ResilienceModule.forRoot({ engine: createResilience(testPolicy()), identity: headerIdentity, limits: [{ scope: ['user', 'route'], limit: 100, window: '1m' }] }),
        AModule,
        BModule,
        RouterModule.register([
          { path: 'a', module: AModule },
          { path: 'b', module: BModule },
        ]),
      ],
      providers: [{ provide: APP_GUARD, useClass: ResilienceGuard }],
    }).compile();
    const app = await listen(moduleRef, platform);
    try {
      const server = app.getHttpServer();
      await request(server).get('/a/shared').set('x-user', 'u1').expect(200);
      // SharedController:user:requests:1m holds both paths' requests.
      await request(server).get('/b/shared').set('x-user', 'u1').expect(429);
    } finally {
      await app.close();
    }
  });
});
/** A guard adding a rule of its own (`extra`: 2 requests a minute per user) to the declared ones. */
@Injectable()
class ExtraGuard extends ResilienceGuard {
  protected override getLimits(context: ExecutionContext, options: RateLimitedOptions | undefined): LimitRule[] {
    const extra: LimitRule = { id: 'nest-inbound:extra', scope: ['user'], metric: 'requests', limit: 2, windowMs: 60_000, onFailure: 'keep' };
    return [...super.getLimits(context, options), extra];
  }
}

@UseGuards(ExtraGuard)
@RateLimited({ limits: [{ id: 'declared', scope: ['user'], limit: 3, window: '1m' }] })
@Controller('extra')
class ExtraController {
  @Get() get(): { ok: true } {
    return { ok: true };
  }
}

describe.each<Platform>(['express', 'fastify'])('a global ResilienceGuard and a subclass with more rules on one request (%s)', (platform) => {
  it('the subclass charges only the buckets the first guard did not', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ResilienceModule.forRoot({ engine: createResilience(testPolicy()), identity: headerIdentity })],
      controllers: [ExtraController],
      providers: [ExtraGuard, { provide: APP_GUARD, useClass: ResilienceGuard }],
    }).compile();
    const app = await listen(moduleRef, platform);
    try {
      const server = app.getHttpServer();
      // 'declared' (3/min) is counted once per request, by the global guard; 'extra' (2/min) by ExtraGuard.
      await request(server).get('/extra').set('x-user', 'u1').expect(200);
      await request(server).get('/extra').set('x-user', 'u1').expect(200);
      await request(server).get('/extra').set('x-user', 'u1').expect(429);
      // Denied by 'extra' (2/min); counted twice per request, 'declared' (3/min) would have denied the second.
      // Another user has buckets of their own.
      await request(server).get('/extra').set('x-user', 'u2').expect(200);
    } finally {
      await app.close();
    }
  });
});
