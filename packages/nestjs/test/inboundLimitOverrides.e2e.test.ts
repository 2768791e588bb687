import 'reflect-metadata';
import { createResilience, definePolicy, type LimitRule, type RequestRecord, type ResolvedTarget } from '@llm-resilience/core';
import { Controller, Get, Inject, Injectable, Post, UseGuards, UseInterceptors, type ExecutionContext, type INestApplication, type Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  RateLimited,
  ResilienceGuard,
  ResilienceInterceptor,
  ResilienceModule,
  Target,
  inboundRuleId,
  type InboundLimitedDetails,
  type InboundLimitRule,
  type RateLimitedOptions,
} from '../src';
import { headerIdentity } from './createApp';
import { capturedLogs, entriesWith, testPolicy } from './fixtures';

// A rule that replaces another of its id (a controller's over the module's, a method's over its
// class's) with a different definition counts in a bucket of its own declaration; with the same
// definition it is the rule it replaces, and counts in its bucket.

/** The module's rule: 2 requests a minute per user, for every guarded handler that does not override it. */
const PER_USER: InboundLimitRule = { id: 'per-user', scope: ['user'], limit: 2, window: '1m' };

/** The rule ids the guard handed to `throwLimited` (what a subclass building its own 429 gets). */
const reported: string[] = [];

@Injectable()
class ReportingGuard extends ResilienceGuard {
  protected override throwLimited(context: ExecutionContext, details: InboundLimitedDetails): never {
    reported.push(details.ruleId);
    return super.throwLimited(context, details);
  }
}

@Controller('export')
class ExportController {
  @Get('list') list(): { ok: true } {
    return { ok: true };
  }
  /** Overrides the module's rule with a looser one: 5 a minute, in a bucket of its own. */
  @RateLimited({ limits: [{ ...PER_USER, limit: 5 }] })
  @Get('bulk')
  bulk(): { ok: true } {
    return { ok: true };
  }
}

@Controller('search')
class SearchController {
  @Get() get(): { ok: true } {
    return { ok: true };
  }
}

/** Overrides the module's rule with the same definition (a window in ms is the same window): the module's bucket. */
@RateLimited({ limits: [{ ...PER_USER, window: 60_000 }] })
@Controller('same')
class SameController {
  @Get() get(): { ok: true } {
    return { ok: true };
  }
}

/** A class override (3 a minute): one bucket for both handlers, apart from the module's and from ExportController.bulk's. */
@RateLimited({ limits: [{ ...PER_USER, limit: 3 }] })
@Controller('reports')
class ReportsController {
  @Get('a') a(): { ok: true } {
    return { ok: true };
  }
  @Get('b') b(): { ok: true } {
    return { ok: true };
  }
  /** The class's definition again: the class's bucket. */
  @RateLimited({ limits: [{ ...PER_USER, limit: 3, window: 60_000 }] })
  @Get('c')
  c(): { ok: true } {
    return { ok: true };
  }
}

/** A class rule (1 a minute) and, on one method, a looser rule of the same id (3 a minute). */
@RateLimited({ limits: [{ id: 'documents', scope: ['user'], limit: 1, window: '1m' }] })
@Controller('documents')
class DocumentsController {
  @Get('list') list(): { ok: true } {
    return { ok: true };
  }
  @RateLimited({ limits: [{ id: 'documents', scope: ['user'], limit: 3, window: '1m' }] })
  @Get('export')
  export(): { ok: true } {
    return { ok: true };
  }
}

/** An application of `controllers` behind a global `guard`, the module's limits `[PER_USER]` unless given. */
async function boot(controllers: Type[], guard: Type<ResilienceGuard> = ReportingGuard, limits: InboundLimitRule[] = [PER_USER]): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ResilienceModule.forRoot({ engine: createResilience(testPolicy()), identity: headerIdentity, limits, audience: 'internal' })],
    controllers,
    providers: [{ provide: APP_GUARD, useClass: guard }],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

/** `count` requests to `path` for `user`, each answered with `status`. */
async function send(app: INestApplication, path: string, user: string, count: number, status: number): Promise<void> {
  for (let i = 0; i < count; i++) await request(app.getHttpServer()).get(path).set('x-user', user).expect(status);
}

describe('a rule overriding another of its id', () => {
  let app: INestApplication;
  // Every override above differs from the rule it replaces: the application starts all the same.
  beforeAll(async () => {
    app = await boot([ExportController, SearchController, SameController, ReportsController]);
  });
  afterAll(async () => app.close());

  it("a method's looser rule over the module's: the method allows its limit, the other handlers the module's", async () => {
    await send(app, '/export/bulk', 'u1', 5, 200);
    const denied = await request(app.getHttpServer()).get('/export/bulk').set('x-user', 'u1').expect(429);
    // Reported with the id as written, never the store id of the override's bucket.
    expect(denied.body).toMatchObject({ statusCode: 429, code: 'ERR_LLMR_NEST_INBOUND_LIMITED' });
    expect(denied.body.message).toMatch(/^Inbound limit 'per-user' is exhausted; retry in \d+ s \(Retry-After\)\.$/);
    expect(Number(denied.headers['retry-after'])).toBeGreaterThan(0);
    expect(reported.at(-1)).toBe('per-user');
    // The five requests to bulk did not count in the module's bucket.
    await send(app, '/export/list', 'u1', 2, 200);
    await send(app, '/export/list', 'u1', 1, 429);
    expect(reported.at(-1)).toBe('per-user');
    // The module's bucket is one across the handlers that keep the module's rule.
    await send(app, '/search', 'u1', 1, 429);
  });

  it("the module's bucket used up does not deny the overriding method", async () => {
    await send(app, '/search', 'u2', 1, 200);
    await send(app, '/export/list', 'u2', 1, 200);
    await send(app, '/export/list', 'u2', 1, 429);
    await send(app, '/export/bulk', 'u2', 5, 200);
    await send(app, '/export/bulk', 'u2', 1, 429);
  });

  it('an override with the same definition is the same rule: it shares the bucket of the rule it replaces', async () => {
    await send(app, '/same', 'u3', 1, 200);
    await send(app, '/search', 'u3', 1, 200);
    await send(app, '/same', 'u3', 1, 429);
    await send(app, '/search', 'u3', 1, 429);
  });

  it("a class's override is one bucket for its handlers, apart from the module's and another handler's override", async () => {
    await send(app, '/reports/a', 'u4', 1, 200);
    await send(app, '/reports/b', 'u4', 1, 200);
    // c repeats the class's definition: the class's bucket, not one of its own.
    await send(app, '/reports/c', 'u4', 1, 200);
    await send(app, '/reports/a', 'u4', 1, 429);
    await send(app, '/reports/c', 'u4', 1, 429);
    await send(app, '/search', 'u4', 2, 200);
    await send(app, '/export/bulk', 'u4', 5, 200);
  });

});

describe("a method's rule overriding its class's", () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await boot([DocumentsController], ReportingGuard, []);
  });
  afterAll(async () => app.close());

  it('a looser limit: the method allows 3, the class\'s other handler 1, counted apart', async () => {
    await send(app, '/documents/export', 'u1', 3, 200);
    const denied = await request(app.getHttpServer()).get('/documents/export').set('x-user', 'u1').expect(429);
    expect(denied.body.message).toMatch(/^Inbound limit 'documents' is exhausted/);
    expect(reported.at(-1)).toBe('documents');
    await send(app, '/documents/list', 'u1', 1, 200);
    await send(app, '/documents/list', 'u1', 1, 429);
    expect(reported.at(-1)).toBe('documents');
  });

  it("the class's bucket used up does not deny the method", async () => {
    await send(app, '/documents/list', 'u2', 1, 200);
    await send(app, '/documents/list', 'u2', 1, 429);
    await send(app, '/documents/export', 'u2', 3, 200);
  });
});

describe('overrides the guard builds', () => {
  it('getLimits gets the override under the store id of its bucket, which inboundRuleId reads back', async () => {
    const seen: LimitRule[] = [];
    @Injectable()
    class SeeingGuard extends ResilienceGuard {
      protected override getLimits(context: ExecutionContext, options: RateLimitedOptions | undefined): LimitRule[] {
        const rules = super.getLimits(context, options);
        if (context.getHandler().name === 'bulk') seen.push(...rules);
        return rules;
      }
    }
    const app = await boot([ExportController], SeeingGuard);
    try {
      await send(app, '/export/bulk', 'u1', 1, 200);
      expect(seen).toEqual([expect.objectContaining({ id: 'nest-inbound@ExportController.bulk~user,5/60000ms:per-user', limit: 5, windowMs: 60_000 })]);
      expect(inboundRuleId(seen[0]!.id)).toBe('per-user');
    } finally {
      await app.close();
    }
  });

  it('a subclass that changes the definition of an override fails the request (500) with ERR_LLMR_NEST_CONFLICTING_LIMIT_ID', async () => {
    @Injectable()
    class DoublingGuard extends ResilienceGuard {
      protected override getLimits(context: ExecutionContext, options: RateLimitedOptions | undefined): LimitRule[] {
        return super.getLimits(context, options).map((r) => (context.getHandler().name === 'bulk' ? { ...r, limit: r.limit * 2 } : r));
      }
    }
    const logs = capturedLogs();
    const moduleRef = await Test.createTestingModule({
      imports: [ResilienceModule.forRoot({ engine: createResilience(testPolicy()), identity: headerIdentity, limits: [PER_USER] })],
      controllers: [ExportController],
      providers: [{ provide: APP_GUARD, useClass: DoublingGuard }],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: logs.logger });
    await app.listen(0, '127.0.0.1');
    try {
      await send(app, '/export/list', 'u1', 1, 200);
      await send(app, '/export/bulk', 'u1', 1, 500);
      const logged = entriesWith(logs.errors, 'ERR_LLMR_NEST_CONFLICTING_LIMIT_ID');
      expect(logged).toHaveLength(1);
      const message = String((logged[0]!.find((a) => a instanceof Error) as Error | undefined)?.message);
      expect(message).toContain(
        "DoublingGuard.getLimits(context, options) for ExportController.bulk declares inbound limit id 'per-user' (the bucket of its override on ExportController.bulk) with limit 10, " +
          'but ExportController.bulk: @RateLimited limits[0] declares it with limit 5.',
      );
    } finally {
      await app.close();
    }
  });

  it("limits an overridden getOptions builds count as the handler's declaration: an override of the module's rule gets the handler's bucket", async () => {
    @Injectable()
    class PlanGuard extends ResilienceGuard {
      protected override getOptions(context: ExecutionContext): RateLimitedOptions | undefined {
        const options = super.getOptions(context);
        return context.getClass() === SearchController ? { ...options, limits: [{ ...PER_USER, limit: 4 }] } : options;
      }
    }
    const app = await boot([ExportController, SearchController], PlanGuard);
    try {
      await send(app, '/search', 'u1', 4, 200);
      await send(app, '/search', 'u1', 1, 429);
      await send(app, '/export/list', 'u1', 2, 200);
      await send(app, '/export/list', 'u1', 1, 429);
    } finally {
      await app.close();
    }
  });
});

describe('two handlers overriding one module rule, each with its own definition', () => {
  it('start, each in a bucket of its own declaration (no conflict: neither is a peer of the other)', async () => {
    @RateLimited({ limits: [{ ...PER_USER, limit: 3 }] })
    @Controller('tickets')
    class TicketsController {
      @Get() get(): { ok: true } {
        return { ok: true };
      }
    }
    const app = await boot([ExportController, TicketsController]);
    try {
      await send(app, '/tickets', 'u1', 3, 200);
      await send(app, '/tickets', 'u1', 1, 429);
      await send(app, '/export/bulk', 'u1', 5, 200);
      await send(app, '/export/bulk', 'u1', 1, 429);
      await send(app, '/export/list', 'u1', 2, 200);
      await send(app, '/export/list', 'u1', 1, 429);
    } finally {
      await app.close();
    }
  });
});

// A controller whose class names the route (for the guard and its defaults), with a handler whose own
// @RateLimited only adds an inbound rule: the handler is not a model call, so it runs as the class's
// undecorated handlers do (a class route wraps no method), and only the service method it calls runs
// through the engine. Each HTTP request is then one engine request, counted once by the policy's limits.
let chatModelCalls = 0;
let chatHandlerRuns = 0;

@Injectable()
class GuardOnlyChatService {
  @RateLimited({ route: 'chat', key: () => 'u1' })
  async ask(@Target() target?: ResolvedTarget): Promise<string> {
    chatModelCalls++;
    return `answer from ${target?.model}`;
  }
}

@UseGuards(ResilienceGuard)
@UseInterceptors(ResilienceInterceptor)
@RateLimited({ route: 'chat', limits: [{ scope: ['user'], limit: 100, window: '1m' }] })
@Controller('guard-only')
class GuardOnlyChatController {
  constructor(@Inject(GuardOnlyChatService) private readonly chat: GuardOnlyChatService) {}

  @RateLimited({ limits: [{ scope: ['user'], limit: 50, window: '1m' }] })
  @Post()
  async ask(): Promise<{ answer: string }> {
    chatHandlerRuns++;
    return { answer: await this.chat.ask() };
  }

  @RateLimited({ limits: [{ scope: ['user'], limit: 1, window: '1m' }], audience: 'internal' })
  @Post('tight')
  async tight(): Promise<{ answer: string }> {
    chatHandlerRuns++;
    return { answer: await this.chat.ask() };
  }
}

describe("a handler whose own @RateLimited adds only guard options, under a class route", () => {
  let app: INestApplication;
  let records: RequestRecord[];
  beforeEach(async () => {
    chatModelCalls = 0;
    chatHandlerRuns = 0;
    records = [];
    // 2 model requests a minute per user on route 'chat'.
    const engine = createResilience(
      definePolicy({
        targets: { a: { provider: 'openai', model: 'support-a' } },
        routes: { chat: { chain: ['a'], priority: 'live', audience: 'customer' } },
        limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 2, window: '1m' }],
      }),
    );
    engine.events.on('record', (r) => records.push(r));
    const moduleRef = await Test.createTestingModule({
      imports: [ResilienceModule.forRoot({ engine, identity: () => ({ user: 'u1' }) })],
      controllers: [GuardOnlyChatController],
      providers: [GuardOnlyChatService],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
  });
  afterEach(async () => {
    await app.close();
  });

  it('counts one HTTP request once against the policy limits (the handler is not run through the engine)', async () => {
    await request(app.getHttpServer()).post('/guard-only').send({}).expect(201);
    const second = await request(app.getHttpServer()).post('/guard-only').send({});
    expect(second.status).toBe(201);
    expect(chatModelCalls).toBe(2);
    expect(chatHandlerRuns).toBe(2);
    // One engine request per HTTP request: the service call's, not the handler's around it.
    expect(records).toHaveLength(2);
  });

  it("still applies the handler's inbound rule (and audience) in the guard", async () => {
    await request(app.getHttpServer()).post('/guard-only/tight').send({}).expect(201);
    const denied = await request(app.getHttpServer()).post('/guard-only/tight').send({});
    expect(denied.status).toBe(429);
    expect(denied.body).toMatchObject({ code: 'ERR_LLMR_NEST_INBOUND_LIMITED' });
    expect(denied.body.message).toMatch(/^Inbound limit 'GuardOnlyChatController.tight:user:requests:1m' is exhausted/);
    expect(chatHandlerRuns).toBe(1);
    expect(records).toHaveLength(1);
  });
});
