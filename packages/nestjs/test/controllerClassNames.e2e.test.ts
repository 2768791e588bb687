import 'reflect-metadata';
import { MemoryLimiterStore } from '@llm-resilience/core';
import { Controller, Get, Module, type INestApplication, type Type } from '@nestjs/common';
import { APP_GUARD, RouterModule } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { RateLimited, ResilienceGuard, ResilienceModule, type InboundLimitRule, type NestConfigError, type ResilienceModuleOptions } from '../src';
import { headerIdentity, type Platform } from './createApp';
import { testPolicy } from './fixtures';

// Buckets named after a declaration (default ids, the buckets of overrides, the route of a handler
// without a route name) name its class. Two controller classes of one name (two versions of an API
// in two folders, a controller factory) are named by their routes too, so they count apart.

/** The module's rule: 1 request a minute per user, for the handlers that do not override it. */
const PER_USER: InboundLimitRule = { id: 'per-user', scope: ['user'], limit: 1, window: '1m' };

/** A controller factory: each call makes another class named ExportController, at `path`, with `limits` on the class. */
function exportController(path: string, limits: InboundLimitRule[]): Type {
  @RateLimited({ limits })
  @Controller(path)
  class ExportController {
    @Get() get(): string {
      return path;
    }
  }
  return ExportController;
}

async function boot(
  modules: Type[],
  options: Partial<ResilienceModuleOptions> = {},
  platform: Platform = 'express',
  extraImports: ReturnType<typeof RouterModule.register>[] = [],
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ResilienceModule.forRoot({ policy: testPolicy(), identity: headerIdentity, limits: [PER_USER], ...options } as ResilienceModuleOptions),
      ...modules,
      ...extraImports,
    ],
    providers: [{ provide: APP_GUARD, useClass: ResilienceGuard }],
  }).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: false }) : moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each<Platform>(['express', 'fastify'])('two controllers named ExportController in two modules, each overriding the module rule (%s)', (platform) => {
  it('start, and each counts in a bucket of its own, with its own limit', async () => {
    @Module({ controllers: [exportController('v1/export', [{ ...PER_USER, limit: 2 }])] })
    class V1Module {}
    @Module({ controllers: [exportController('v2/export', [{ ...PER_USER, limit: 3 }])] })
    class V2Module {}
    const app = await boot([V1Module, V2Module], {}, platform);
    try {
      const server = app.getHttpServer();
      for (let i = 0; i < 2; i++) await request(server).get('/v1/export').set('x-user', 'u1').expect(200);
      await request(server).get('/v1/export').set('x-user', 'u1').expect(429);
      // v1's requests are not v2's: it allows its 3.
      for (let i = 0; i < 3; i++) await request(server).get('/v2/export').set('x-user', 'u1').expect(200);
      await request(server).get('/v2/export').set('x-user', 'u1').expect(429);
    } finally {
      await app.close();
    }
  });
});

describe('controllers of one name', () => {
  it('count apart when their overrides have one definition (each override is a bucket of its own declaration)', async () => {
    @Module({ controllers: [exportController('a/export', [{ ...PER_USER, limit: 2 }])] })
    class AModule {}
    @Module({ controllers: [exportController('b/export', [{ ...PER_USER, limit: 2 }])] })
    class BModule {}
    const app = await boot([AModule, BModule]);
    try {
      const server = app.getHttpServer();
      await request(server).get('/a/export').set('x-user', 'u1').expect(200);
      await request(server).get('/a/export').set('x-user', 'u1').expect(200);
      await request(server).get('/a/export').set('x-user', 'u1').expect(429);
      await request(server).get('/b/export').set('x-user', 'u1').expect(200); // b has used none of its 2
    } finally {
      await app.close();
    }
  });

  it("count their rules without id apart, and the 429 names the class's route", async () => {
    const perMinute: InboundLimitRule[] = [{ scope: ['user'], limit: 1, window: '1m' }];
    @Module({ controllers: [exportController('a/export', perMinute), exportController('b/export', perMinute)] })
    class ApiModule {}
    const app = await boot([ApiModule], { limits: [], audience: 'internal' });
    try {
      const server = app.getHttpServer();
      await request(server).get('/a/export').set('x-user', 'u1').expect(200);
      const denied = await request(server).get('/a/export').set('x-user', 'u1').expect(429);
      expect((denied.body as { message: string }).message).toContain("Inbound limit 'ExportController(/a/export):user:requests:1m' is exhausted");
      await request(server).get('/b/export').set('x-user', 'u1').expect(200);
    } finally {
      await app.close();
    }
  });

  it('count their routes apart when a rule is keyed by route and they have no route name', async () => {
    @Module({ controllers: [exportController('a/export', []), exportController('b/export', [])] })
    class ApiModule {}
    const app = await boot([ApiModule], { limits: [{ scope: ['route'], limit: 1, window: '1m' }] });
    try {
      const server = app.getHttpServer();
      await request(server).get('/a/export').expect(200);
      await request(server).get('/a/export').expect(429);
      await request(server).get('/b/export').expect(200);
    } finally {
      await app.close();
    }
  });

  it('at one path in two modules mounted by RouterModule: named by module too, counted apart', async () => {
    @Module({ controllers: [exportController('export', [{ ...PER_USER, limit: 2 }])] })
    class V1Module {}
    @Module({ controllers: [exportController('export', [{ ...PER_USER, limit: 2 }])] })
    class V2Module {}
    const router = RouterModule.register([
      { path: 'v1', module: V1Module },
      { path: 'v2', module: V2Module },
    ]);
    const app = await boot([V1Module, V2Module], {}, 'express', [router]);
    try {
      const server = app.getHttpServer();
      await request(server).get('/v1/export').set('x-user', 'u1').expect(200);
      await request(server).get('/v1/export').set('x-user', 'u1').expect(200);
      await request(server).get('/v1/export').set('x-user', 'u1').expect(429);
      await request(server).get('/v2/export').set('x-user', 'u1').expect(200);
    } finally {
      await app.close();
    }
  });

  it('keep their buckets across a restart (one store, the application started again)', async () => {
    const store = new MemoryLimiterStore();
    const app = async (): Promise<INestApplication> => {
      @Module({ controllers: [exportController('a/export', [{ ...PER_USER, limit: 2 }]), exportController('b/export', [{ ...PER_USER, limit: 2 }])] })
      class ApiModule {}
      return boot([ApiModule], { store });
    };
    const first = await app();
    try {
      await request(first.getHttpServer()).get('/a/export').set('x-user', 'u1').expect(200);
      await request(first.getHttpServer()).get('/a/export').set('x-user', 'u1').expect(200);
    } finally {
      await first.close();
    }
    const second = await app();
    try {
      await request(second.getHttpServer()).get('/a/export').set('x-user', 'u1').expect(429);
      await request(second.getHttpServer()).get('/b/export').set('x-user', 'u1').expect(200);
    } finally {
      await second.close();
    }
  });

  it('that nothing tells apart stop the boot with ERR_LLMR_NEST_AMBIGUOUS_CLASS_NAME', async () => {
    /** A base class factory: two classes named ExportBase, neither a controller. */
    const exportBase = (): Type => {
      class ExportBase {
        @RateLimited({ limits: [{ ...PER_USER, limit: 2 }] })
        @Get('export')
        export(): string {
          return 'x';
        }
      }
      return ExportBase;
    };
    @Controller('a')
    class A extends (exportBase() as new () => object) {}
    @Controller('b')
    class B extends (exportBase() as new () => object) {}
    @Module({ controllers: [A, B] })
    class ApiModule {}
    const failed = await boot([ApiModule]).then(
      async (app) => {
        await app.close();
        return undefined;
      },
      (err: unknown) => err as NestConfigError,
    );
    expect(failed?.code).toBe('ERR_LLMR_NEST_AMBIGUOUS_CLASS_NAME');
    expect(failed?.message).toContain('Several classes named ExportBase (a class that is not a controller; a class that is not a controller)');
  });
});

describe('a route method inherited by two controllers', () => {
  it('is one declaration: its override counts in one bucket for both routes, as a rule without id does', async () => {
    class ExportBase {
      @RateLimited({ limits: [{ ...PER_USER, limit: 2 }] })
      @Get('x')
      x(): string {
        return 'x';
      }
    }
    @Controller('a')
    class A extends ExportBase {}
    @Controller('b')
    class B extends ExportBase {}
    @Module({ controllers: [A, B] })
    class ApiModule {}
    const app = await boot([ApiModule]);
    try {
      const server = app.getHttpServer();
      await request(server).get('/a/x').set('x-user', 'u1').expect(200);
      await request(server).get('/a/x').set('x-user', 'u1').expect(200);
      // nest-inbound@ExportBase.x:per-user holds both routes' requests.
      await request(server).get('/b/x').set('x-user', 'u1').expect(429);
    } finally {
      await app.close();
    }
  });
});
