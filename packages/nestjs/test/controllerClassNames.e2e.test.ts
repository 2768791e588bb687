import 'reflect-metadata';
import { MemoryLimiterStore } from '@llm-resilience/core';
import { Controller, Get, Module, Version, VersioningType, type INestApplication, type Type } from '@nestjs/common';
import { APP_GUARD, RouterModule } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { RateLimited, ResilienceGuard, ResilienceModule, type InboundLimitRule, type NestConfigError, type ResilienceModuleOptions } from '../src';
import { headerIdentity, type Platform } from './createApp';
import { testPolicy } from './fixtures';

// Buckets named after a declaration (default ids, the buckets of overrides, the route of a handler
// without a route name) name its class by its name only. Two classes of one name (two versions of an
// API in two folders, a controller factory) start, and share those buckets; explicit ids count them apart.

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

/** v1/export.module.ts and v2/export.module.ts: each declares `ExportModule` with an `ExportController` at 'export'. */
function exportFolder(tag: string, options: { version?: string; limits?: InboundLimitRule[] } = {}): Type {
  @Controller('export')
  class ExportController {
    @Get() get(): string {
      return tag;
    }
  }
  if (options.version) Version(options.version)(ExportController.prototype, 'get', Object.getOwnPropertyDescriptor(ExportController.prototype, 'get')!);
  if (options.limits) RateLimited({ limits: options.limits })(ExportController);
  @Module({ controllers: [ExportController] })
  class ExportModule {}
  return ExportModule;
}

async function boot(
  imports: unknown[],
  options: Partial<ResilienceModuleOptions> = {},
  platform: Platform = 'express',
  configure?: (app: INestApplication) => void,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ResilienceModule.forRoot({ policy: testPolicy(), identity: headerIdentity, limits: [PER_USER], ...options } as ResilienceModuleOptions),
      ...(imports as Type[]),
    ],
    providers: [{ provide: APP_GUARD, useClass: ResilienceGuard }],
  }).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: false }) : moduleRef.createNestApplication({ logger: false });
  configure?.(app);
  await app.listen(0, '127.0.0.1');
  return app;
}

async function bootError(imports: unknown[], options: Partial<ResilienceModuleOptions> = {}): Promise<NestConfigError | undefined> {
  return boot(imports, options).then(
    async (app) => {
      await app.close();
      return undefined;
    },
    (err: unknown) => err as NestConfigError,
  );
}

async function send(app: INestApplication, path: string, user: string, status: number): Promise<void> {
  await request(app.getHttpServer()).get(path).set('x-user', user).expect(status);
}

/** One request a minute per user and route; no @RateLimited anywhere. */
const PER_USER_ROUTE: InboundLimitRule = { id: 'per-user-route', scope: ['user', 'route'], limit: 1, window: '1m' };

describe.each<Platform>(['express', 'fastify'])('v1 and v2 folders, each an ExportModule with an ExportController at "export" (%s)', (platform) => {
  it('told apart by RouterModule: the application starts; their handlers share the route ExportController.get', async () => {
    const v1 = exportFolder('v1');
    const v2 = exportFolder('v2');
    const router = RouterModule.register([
      { path: 'v1', module: v1 },
      { path: 'v2', module: v2 },
    ]);
    const app = await boot([v1, v2, router], { limits: [PER_USER_ROUTE] }, platform);
    try {
      await send(app, '/v1/export', 'u1', 200);
      await send(app, '/v1/export', 'u1', 429);
      // Without a route name, both handlers count under ExportController.get.
      await send(app, '/v2/export', 'u1', 429);
      await send(app, '/v2/export', 'u2', 200);
    } finally {
      await app.close();
    }
  });

  it('told apart by @Version on their methods: the application starts', async () => {
    const v1 = exportFolder('v1', { version: '1' });
    const v2 = exportFolder('v2', { version: '2' });
    const app = await boot([v1, v2], { limits: [PER_USER_ROUTE] }, platform, (a) => a.enableVersioning({ type: VersioningType.URI }));
    try {
      await send(app, '/v1/export', 'u1', 200);
      await send(app, '/v1/export', 'u1', 429);
      await send(app, '/v2/export', 'u2', 200);
      await send(app, '/v2/export', 'u1', 429);
    } finally {
      await app.close();
    }
  });

  it('with explicit ids on their rules: the application starts, and each counts in a bucket of its own', async () => {
    const v1 = exportFolder('v1', { limits: [{ id: 'export-v1', scope: ['user'], limit: 1, window: '1m' }] });
    const v2 = exportFolder('v2', { limits: [{ id: 'export-v2', scope: ['user'], limit: 2, window: '1m' }] });
    const router = RouterModule.register([
      { path: 'v1', module: v1 },
      { path: 'v2', module: v2 },
    ]);
    const app = await boot([v1, v2, router], { limits: [] }, platform);
    try {
      await send(app, '/v1/export', 'u1', 200);
      await send(app, '/v1/export', 'u1', 429);
      await send(app, '/v2/export', 'u1', 200);
      await send(app, '/v2/export', 'u1', 200);
      await send(app, '/v2/export', 'u1', 429);
    } finally {
      await app.close();
    }
  });
});

describe('two controllers named ExportController, rules without id', () => {
  it('with one definition: the application starts, and they share the default-id bucket', async () => {
    const perMinute: InboundLimitRule[] = [{ scope: ['user'], limit: 2, window: '1m' }];
    @Module({ controllers: [exportController('a/export', perMinute), exportController('b/export', perMinute)] })
    class ApiModule {}
    const app = await boot([ApiModule], { limits: [], audience: 'internal' });
    try {
      await send(app, '/a/export', 'u1', 200);
      await send(app, '/b/export', 'u1', 200);
      const denied = await request(app.getHttpServer()).get('/a/export').set('x-user', 'u1').expect(429);
      expect((denied.body as { message: string }).message).toContain("Inbound limit 'ExportController:user:requests:1m' is exhausted");
    } finally {
      await app.close();
    }
  });

  it('with different definitions: the application does not start, and the error says to give them explicit ids', async () => {
    @Module({ controllers: [exportController('v1/export', [{ scope: ['user'], limit: 2, window: '1m' }])] })
    class V1Module {}
    @Module({ controllers: [exportController('v2/export', [{ scope: ['user'], limit: 5, window: '1m' }])] })
    class V2Module {}
    const failed = await bootError([V1Module, V2Module]);
    expect(failed?.code).toBe('ERR_LLMR_NEST_CONFLICTING_LIMIT_ID');
    expect(failed?.message).toContain(
      "declares inbound limit id 'ExportController:user:requests:1m' with limit 5, but ExportController: @RateLimited limits[0] declares it with limit 2. " +
        'Both are rules written without an id, in two different classes named ExportController',
    );
    expect(failed?.message).toContain('Give these rules explicit ids (different ones to count the classes apart, or one id with one definition to share a bucket), or rename one of the classes.');
  });
});

describe.each<Platform>(['express', 'fastify'])('two controllers named ExportController overriding the module rule (%s)', (platform) => {
  it('with different definitions: the application starts, and each counts in a bucket of its own, with its own limit', async () => {
    @Module({ controllers: [exportController('v1/export', [{ ...PER_USER, limit: 2 }])] })
    class V1Module {}
    @Module({ controllers: [exportController('v2/export', [{ ...PER_USER, limit: 3 }])] })
    class V2Module {}
    const app = await boot([V1Module, V2Module], {}, platform);
    try {
      for (let i = 0; i < 2; i++) await send(app, '/v1/export', 'u1', 200);
      await send(app, '/v1/export', 'u1', 429);
      // v1's requests are not v2's: nest-inbound@ExportController~user,3/60000ms:per-user allows its 3.
      for (let i = 0; i < 3; i++) await send(app, '/v2/export', 'u1', 200);
      await send(app, '/v2/export', 'u1', 429);
    } finally {
      await app.close();
    }
  });

  it('with one definition: they share the bucket of that override, apart from the module rule', async () => {
    @Module({ controllers: [exportController('a/export', [{ ...PER_USER, limit: 2 }]), exportController('b/export', [{ ...PER_USER, limit: 2, window: 60_000 }])] })
    class ApiModule {}
    const app = await boot([ApiModule], {}, platform);
    try {
      await send(app, '/a/export', 'u1', 200);
      await send(app, '/b/export', 'u1', 200);
      await send(app, '/a/export', 'u1', 429);
    } finally {
      await app.close();
    }
  });
});

describe('bucket keys', () => {
  it('do not change across a restart, nor when rules are added on another class or to the module', async () => {
    const store = new MemoryLimiterStore();
    const v1Override = exportController('v1/export', [{ ...PER_USER, limit: 2 }]);
    const v1Plain = exportController('v1/plain', [{ scope: ['user'], limit: 1, window: '1m' }]);
    @Module({ controllers: [v1Override, v1Plain] })
    class V1Module {}
    const first = await boot([V1Module], { store });
    try {
      await send(first, '/v1/export', 'u1', 200);
      await send(first, '/v1/export', 'u1', 200);
      await send(first, '/v1/plain', 'u1', 200);
    } finally {
      await first.close();
    }
    // Started again with another class of the same name, with rules, and a module rule keyed by route.
    @Module({ controllers: [exportController('v2/export', [{ ...PER_USER, limit: 5 }])] })
    class V2Module {}
    const second = await boot([V1Module, V2Module], { store, limits: [PER_USER, { scope: ['route'], limit: 1000, window: '1m' }] });
    try {
      // v1's buckets kept their keys: still used up.
      await send(second, '/v1/export', 'u1', 429);
      await send(second, '/v1/plain', 'u1', 429);
      await send(second, '/v2/export', 'u1', 200);
    } finally {
      await second.close();
    }
  });
});

describe('a controller extending a base class of its own name', () => {
  it('starts when their rules have different store ids, and counts both', async () => {
    // node_modules/@acme/export: a base controller shipped by a library (not itself a @Controller).
    const lib = (() => {
      class ExportController {
        @RateLimited({ limits: [{ scope: ['user'], limit: 1, window: '1m' }] })
        @Get('list')
        list(): string {
          return 'list';
        }
      }
      return ExportController;
    })();
    @RateLimited({ limits: [{ scope: ['user'], limit: 10, window: '1m' }] })
    @Controller('export')
    class ExportController extends lib {}
    @Module({ controllers: [ExportController] })
    class ExportModule {}
    const app = await boot([ExportModule], { limits: [] });
    try {
      // ExportController.list:user:requests:1m (1 a minute) and ExportController:user:requests:1m (10).
      await send(app, '/export/list', 'u1', 200);
      await send(app, '/export/list', 'u1', 429);
    } finally {
      await app.close();
    }
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
      await send(app, '/a/x', 'u1', 200);
      await send(app, '/a/x', 'u1', 200);
      // nest-inbound@ExportBase.x~user,2/60000ms:per-user holds both routes' requests.
      await send(app, '/b/x', 'u1', 429);
    } finally {
      await app.close();
    }
  });
});
