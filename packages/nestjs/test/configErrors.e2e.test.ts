import 'reflect-metadata';
import { createResilience, type ResolvedTarget } from '@llm-resilience/core';
import { Controller, Get, type INestApplication, type Provider, type Type } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { Fallback, RateLimited, ResilienceExceptionFilter, ResilienceInterceptor, ResilienceModule, Target } from '../src';
import { capturedLogs, entriesWith, testPolicy, type CapturedLogs } from './fixtures';

/** Not a provider: instances are made with `new`, so no application binds them. */
class Unrouted {
  /** The model chain without any route: `ERR_LLMR_NEST_NO_ROUTE` at the first call. */
  @Fallback({ chain: true })
  async pick(@Target() target?: ResolvedTarget): Promise<string> {
    return target!.model;
  }
}

/** Not a provider either: its engine is found through the registry when it is called. */
class Routed {
  @RateLimited({ route: 'single' })
  async ask(@Target() target?: ResolvedTarget): Promise<string> {
    return target!.model;
  }
}

@Controller('setup')
class SetupController {
  /** A setup error thrown by a decorated method the handler calls. */
  @Get('no-route')
  async noRoute(): Promise<{ model: string }> {
    return { model: await new Unrouted().pick() };
  }

  /** The same error thrown inside the engine's model call, so it reaches the handler as the cause of the engine's error. */
  @RateLimited({ route: 'single' })
  @Get('nested')
  async nested(): Promise<{ model: string }> {
    return { model: await new Unrouted().pick() };
  }

  /** An instance no application knows: `ERR_LLMR_NEST_NO_MODULE` or `ERR_LLMR_NEST_AMBIGUOUS_ENGINE`, by how many applications run. */
  @Get('unbound')
  async unbound(): Promise<{ model: string }> {
    return { model: await new Routed().ask() };
  }
}

const SERVER_ERROR = { statusCode: 500, message: 'Internal server error' };

async function boot(logs: CapturedLogs, providers: Provider[], imports: Type[] | ReturnType<typeof ResilienceModule.forRoot>[]): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports, controllers: [SetupController], providers }).compile();
  const app = moduleRef.createNestApplication({ logger: logs.logger });
  await app.listen(0, '127.0.0.1');
  return app;
}

const withModule = () => [ResilienceModule.forRoot({ engine: createResilience(testPolicy()) })];

describe.each([
  ['the interceptor', [{ provide: APP_INTERCEPTOR, useClass: ResilienceInterceptor }]],
  ['the exception filter', [{ provide: APP_FILTER, useClass: ResilienceExceptionFilter }]],
  [
    'the interceptor and the filter',
    [
      { provide: APP_INTERCEPTOR, useClass: ResilienceInterceptor },
      { provide: APP_FILTER, useClass: ResilienceExceptionFilter },
    ],
  ],
] as const)('setup errors over HTTP with %s', (_name, providers) => {
  let app: INestApplication;
  let logs: CapturedLogs;
  beforeEach(async () => {
    logs = capturedLogs();
    app = await boot(logs, [...providers], withModule());
  });
  afterEach(async () => {
    await app.close();
  });

  it('answers a NestConfigError with a plain 500 (not a 400 of the client) and logs it for operators', async () => {
    const res = await request(app.getHttpServer()).get('/setup/no-route').expect(500);
    expect(res.body).toEqual(SERVER_ERROR);
    expect(entriesWith(logs.errors, 'ERR_LLMR_NEST_NO_ROUTE')).toHaveLength(1);
  });

  it('answers 500 when the setup error is the cause of the engine error', async () => {
    const res = await request(app.getHttpServer()).get('/setup/nested').expect(500);
    expect(res.body).toEqual(SERVER_ERROR);
    expect(entriesWith(logs.errors, 'ERR_LLMR_NEST_NO_ROUTE')).toHaveLength(1);
  });
});

describe('registry errors over HTTP with the exception filter', () => {
  const filterOnly = [{ provide: APP_FILTER, useClass: ResilienceExceptionFilter }];

  it('answers ERR_LLMR_NEST_AMBIGUOUS_ENGINE with a plain 500 and logs it', async () => {
    const logs = capturedLogs();
    const app = await boot(logs, filterOnly, withModule());
    const other = await boot(logs, [], withModule()); // a second application: the engine of a `new` instance is ambiguous
    try {
      const res = await request(app.getHttpServer()).get('/setup/unbound').expect(500);
      expect(res.body).toEqual(SERVER_ERROR);
      expect(entriesWith(logs.errors, 'ERR_LLMR_NEST_AMBIGUOUS_ENGINE')).toHaveLength(1);
    } finally {
      await other.close();
      await app.close();
    }
  });

  it('answers ERR_LLMR_NEST_NO_MODULE with a plain 500 and logs it', async () => {
    const logs = capturedLogs();
    const moduleRef = await Test.createTestingModule({ controllers: [SetupController] }).compile();
    const app = moduleRef.createNestApplication({ logger: logs.logger });
    app.useGlobalFilters(new ResilienceExceptionFilter(app.get(HttpAdapterHost).httpAdapter));
    await app.listen(0, '127.0.0.1');
    try {
      const res = await request(app.getHttpServer()).get('/setup/unbound').expect(500);
      expect(res.body).toEqual(SERVER_ERROR);
      expect(entriesWith(logs.errors, 'ERR_LLMR_NEST_NO_MODULE')).toHaveLength(1);
    } finally {
      await app.close();
    }
  });
});
