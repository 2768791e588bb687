import 'reflect-metadata';
import { createResilience, type Identity, type ResolvedTarget } from '@llm-resilience/core';
import { Controller, Get, Inject, Injectable, Param, UseGuards, UseInterceptors, type ExecutionContext, type INestApplication, type Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { Fallback, RateLimited, ResilienceExceptionFilter, ResilienceGuard, ResilienceInterceptor, ResilienceModule, Target, type ResilienceModuleOptions } from '../src';
import { capturedLogs, entriesWith, testPolicy, type CapturedLogs } from './fixtures';

const CODE = 'ERR_LLMR_NEST_INVALID_IDENTITY';
const SERVER_ERROR = { statusCode: 500, message: 'Internal server error' };
/** A user id that must never reach a log line or a response. */
const SECRET = 'secret-user-7';

/** Identities of the wrong shape, by the `x-shape` header (or the `:shape` parameter). */
function wrongIdentity(shape: string | undefined): unknown {
  switch (shape) {
    case 'nested':
      return { user: { id: SECRET } }; // the whole req.user: every caller would share one bucket
    case 'number':
      return { user: 42 };
    case 'string':
      return SECRET; // a bare user id
    default:
      return shape === undefined ? undefined : { user: shape };
  }
}

const headerShape = (ctx: ExecutionContext): string | undefined =>
  ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers['x-shape'];

@Injectable()
class Answers {
  /** Identity from the request (the interceptor's). */
  @RateLimited({ route: 'single' })
  async fromRequest(@Target() target?: ResolvedTarget): Promise<string> {
    return target!.model;
  }

  @RateLimited({ route: 'single', identity: (shape: string) => wrongIdentity(shape) as Identity })
  async byIdentity(_shape: string, @Target() target?: ResolvedTarget): Promise<string> {
    return target!.model;
  }

  @RateLimited({ route: 'single', key: (n: number) => n as unknown as string })
  async byKey(_n: number, @Target() target?: ResolvedTarget): Promise<string> {
    return target!.model;
  }

  /** A fallback method listing `invalid_request` must not hide the setup error. */
  @RateLimited({ route: 'single', key: (n: number) => n as unknown as string })
  @Fallback({ method: 'canned', on: ['invalid_request'] })
  async withFallback(_n: number, @Target() target?: ResolvedTarget): Promise<string> {
    return target!.model;
  }

  canned(): string {
    return 'canned';
  }

  /** Observable method: the error reaches the client the same way. */
  @RateLimited({ route: 'single', returns: 'observable', identity: () => ({ user: 42 }) as unknown as Identity })
  @Fallback({ chain: true })
  stream(@Target() target?: ResolvedTarget) {
    return [target!.model];
  }
}

@Controller('who')
class WhoController {
  constructor(@Inject(Answers) private readonly answers: Answers) {}

  @RateLimited({ limits: [{ id: 'per-user', scope: ['user'], limit: 100, window: '1m' }] })
  @Get('guarded')
  guarded(): { ok: true } {
    return { ok: true };
  }

  @Get('request')
  async fromRequest(): Promise<{ model: string }> {
    return { model: await this.answers.fromRequest() };
  }

  @Get('identity/:shape')
  async byIdentity(@Param('shape') shape: string): Promise<{ model: string }> {
    return { model: await this.answers.byIdentity(shape) };
  }

  @Get('key')
  async byKey(): Promise<{ model: string }> {
    return { model: await this.answers.byKey(42) };
  }

  @Get('fallback')
  async withFallback(): Promise<{ model: string }> {
    return { model: await this.answers.withFallback(42) };
  }

  @Get('stream')
  stream() {
    return this.answers.stream();
  }
}

/** A guard whose own getIdentity returns the wrong shape: the message names it. */
@Injectable()
class HeaderGuard extends ResilienceGuard {
  protected override async getIdentity(context: ExecutionContext): Promise<Identity | undefined> {
    return wrongIdentity(headerShape(context)) as Identity;
  }
}

@UseGuards(HeaderGuard)
@UseInterceptors(ResilienceInterceptor)
@Controller('custom')
class CustomGuardController {
  @Get()
  ok(): { ok: true } {
    return { ok: true };
  }
}

const identity: NonNullable<ResilienceModuleOptions['identity']> = (ctx) => wrongIdentity(headerShape(ctx)) as Identity;

async function boot(logs: CapturedLogs, providers: Provider[]): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ResilienceModule.forRoot({ engine: createResilience(testPolicy()), identity })],
    controllers: [WhoController, CustomGuardController],
    providers: [Answers, HeaderGuard, ...providers],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: logs.logger });
  await app.listen(0, '127.0.0.1');
  return app;
}

/** Everything the logged entries say, messages and stacks. */
function loggedText(entries: readonly unknown[][]): string {
  return entries.map((args) => args.map((a) => (a instanceof Error ? `${a.message}\n${a.stack}` : String(a))).join(' ')).join('\n');
}

describe.each([
  ['the guard and the interceptor', [{ provide: APP_GUARD, useClass: ResilienceGuard }, { provide: APP_INTERCEPTOR, useClass: ResilienceInterceptor }]],
  ['the interceptor alone', [{ provide: APP_INTERCEPTOR, useClass: ResilienceInterceptor }]],
  [
    'the guard, the interceptor and the filter',
    [
      { provide: APP_GUARD, useClass: ResilienceGuard },
      { provide: APP_INTERCEPTOR, useClass: ResilienceInterceptor },
      { provide: APP_FILTER, useClass: ResilienceExceptionFilter },
    ],
  ],
] as const)(`${CODE} over HTTP with %s`, (_name, providers) => {
  let app: INestApplication;
  let logs: CapturedLogs;
  beforeEach(async () => {
    logs = capturedLogs();
    app = await boot(logs, [...providers]);
  });
  afterEach(async () => {
    await app.close();
  });

  it.each([
    ['nested', 'an object whose user is an object'],
    ['number', 'an object whose user is a number'],
    ['string', 'a string'],
  ])("answers 500 when the module's identity(context) returns %s, logged once by type, never the value", async (shape, described) => {
    const server = app.getHttpServer();
    for (const path of ['/who/guarded', '/who/request']) {
      const res = await request(server).get(path).set('x-shape', shape).expect(500);
      expect(res.body).toEqual(SERVER_ERROR);
    }
    const logged = entriesWith(logs.errors, CODE);
    expect(logged).toHaveLength(2); // once per failed request
    const text = loggedText(logged);
    expect(text).toContain(`ResilienceModule identity(context), for a request to WhoController.`);
    expect(text).toContain(`returned ${described}; expected undefined or an identity object`);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('42');
    expect(entriesWith(logs.warnings, 'ERR_LLMR_NEST_UNDEFINED_IDENTITY')).toHaveLength(0);
  });

  it('lets valid identities through', async () => {
    const server = app.getHttpServer();
    await request(server).get('/who/guarded').set('x-shape', 'u1').expect(200, { ok: true });
    await request(server).get('/who/request').set('x-shape', 'u1').expect(200, { model: 'support-a' });
    expect(logs.errors).toHaveLength(0);
  });

  it.each([
    ['/who/identity/nested', '@RateLimited identity(...args) returned an object whose user is an object'],
    ['/who/identity/number', '@RateLimited identity(...args) returned an object whose user is a number'],
    ['/who/identity/string', '@RateLimited identity(...args) returned a string'],
    ['/who/key', '@RateLimited key(...args) returned a number'],
    ['/who/fallback', '@RateLimited key(...args) returned a number'],
    ['/who/stream', '@RateLimited identity(...args) returned an object whose user is a number'],
  ])('answers 500 (not the client’s 400) when a decorated method’s option gives a wrong identity: %s', async (path, described) => {
    const res = await request(app.getHttpServer()).get(path).set('x-shape', 'u1').expect(500);
    expect(res.body).toEqual(SERVER_ERROR);
    const logged = entriesWith(logs.errors, CODE);
    expect(logged).toHaveLength(1);
    const text = loggedText(logged);
    expect(text).toMatch(/Answers\.\w+: @RateLimited/);
    expect(text).toContain(described);
    expect(text).not.toContain(SECRET);
    expect(entriesWith(logs.errors, 'ERR_LLMR_INVALID_REQUEST')).toHaveLength(0);
  });
});

describe(`${CODE} from a guard's own getIdentity`, () => {
  it('names the guard class in the message', async () => {
    const logs = capturedLogs();
    const app = await boot(logs, []);
    try {
      await request(app.getHttpServer()).get('/custom').set('x-shape', 'nested').expect(500, SERVER_ERROR);
      await request(app.getHttpServer()).get('/custom').set('x-shape', 'u1').expect(200);
      const logged = entriesWith(logs.errors, CODE);
      expect(logged).toHaveLength(1);
      expect(loggedText(logged)).toContain('HeaderGuard.getIdentity(context), for a request to CustomGuardController.ok, returned an object whose user is an object');
    } finally {
      await app.close();
    }
  });
});
