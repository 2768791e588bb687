import 'reflect-metadata';
import { definePolicy, type Resilience } from '@llm-resilience/core';
import {
  Body,
  Controller,
  Inject,
  Injectable,
  Module,
  Post,
  UseInterceptors,
  type INestApplication,
  type OnApplicationShutdown,
  type OnModuleDestroy,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { RateLimited, RESILIENCE_ENGINE, ResilienceInterceptor, ResilienceModule } from '../src';

// A batch route (queues when limited: the default 'batch' traffic class) with one request a minute.
const policy = definePolicy({
  targets: { a: { provider: 'openai', model: 'm-a' } },
  routes: { nightly: { chain: ['a'], priority: 'batch' } },
  limits: [{ id: 'one-a-minute', scope: [], metric: 'requests', limit: 1, window: '1m' }],
});

@Injectable()
class ReportService {
  @RateLimited({ route: 'nightly' })
  async summarize(text: string): Promise<string> {
    return `summary of ${text}`;
  }
}

@UseInterceptors(ResilienceInterceptor)
@Controller('reports')
class ReportController {
  constructor(@Inject(ReportService) private readonly reports: ReportService) {}
  @Post()
  async create(@Body() body: { text: string }): Promise<{ summary: string }> {
    return { summary: await this.reports.summarize(body.text) };
  }
}

/** Whether the engine still takes work: 'open', or the code it rejects with. */
async function engineState(engine: Resilience): Promise<string> {
  const route = 'chat' in engine.policy.routes ? 'chat' : 'nightly';
  return engine.execute({ route, priority: 'live' }, async () => 'x').then(
    () => 'open',
    (e: { code?: string }) => e.code ?? String(e),
  );
}

/** A user module's shutdown hooks (where an app would quit its Redis client), noting what they see of the engine. */
@Injectable()
class ConnectionKeeper implements OnModuleDestroy, OnApplicationShutdown {
  readonly seen: string[] = [];
  constructor(@Inject(RESILIENCE_ENGINE) private readonly engine: Resilience) {}
  async onModuleDestroy(): Promise<void> {
    this.seen.push(`onModuleDestroy: ${await engineState(this.engine)}`);
  }
  async onApplicationShutdown(): Promise<void> {
    this.seen.push(`onApplicationShutdown: ${await engineState(this.engine)}`);
  }
}

@Module({ providers: [ConnectionKeeper] })
class ConnectionsModule {}

const chatPolicy = definePolicy({ targets: { a: { provider: 'openai', model: 'm-a' } }, routes: { chat: { chain: ['a'] } } });

/** Where the two-step handler waits between its model calls, and what lets it go on. */
const twoStep = (() => {
  let reached!: () => void;
  let open!: () => void;
  const atGate = new Promise<void>((r) => (reached = r));
  const gate = new Promise<void>((r) => (open = r));
  return { atGate, reached: () => reached(), gate, openGate: () => open() };
})();

@Injectable()
class TwoStepService {
  @RateLimited({ route: 'chat' })
  async classify(text: string): Promise<string> {
    return `kind of ${text}`;
  }
  @RateLimited({ route: 'chat' })
  async reply(kind: string): Promise<string> {
    return `reply for ${kind}`;
  }
}

/** A handler with two model calls and other work between them (a tool call, a database read). */
@UseInterceptors(ResilienceInterceptor)
@Controller('two-step')
class TwoStepController {
  constructor(@Inject(TwoStepService) private readonly svc: TwoStepService) {}
  @Post()
  async create(@Body() body: { text: string }): Promise<{ reply: string }> {
    const kind = await this.svc.classify(body.text);
    twoStep.reached();
    await twoStep.gate;
    return { reply: await this.svc.reply(kind) };
  }
}

describe('app.close() and the module-owned engine', () => {
  it('stops the engine drainTimeoutMs after app.close() began, so queued work is rejected (503) instead of holding the HTTP server open', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ResilienceModule.forRoot({ policy, drainTimeoutMs: 0 })],
      controllers: [ReportController],
      providers: [ReportService],
    }).compile();
    const app: INestApplication = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    const server = app.getHttpServer();
    await request(server).post('/reports').send({ text: 'first' }).expect(201);
    // The second one waits in the batch queue for the next window (a minute).
    const engine = app.get<Resilience>(RESILIENCE_ENGINE);
    const queuedEvent = new Promise<void>((resolve) => engine.events.on('queue', () => resolve()));
    const queued = request(server)
      .post('/reports')
      .send({ text: 'second' })
      .then(
        (r) => ({ status: r.status, code: (r.body as { code?: string }).code }),
        (e: Error) => e.message,
      );
    await queuedEvent;

    // Without the deadline the close would wait for the queued request's window, a minute (past the
    // test's timeout); with `drainTimeoutMs: 0` it stops the engine at once.
    expect(await app.close().then(() => 'closed')).toBe('closed');
    expect(await queued).toEqual({ status: 503, code: 'ERR_LLMR_QUEUE_REJECTED' });
  });

  it('keeps serving a request in flight while the HTTP server closes: its second model call still runs', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ResilienceModule.forRoot({ policy: chatPolicy, drainTimeoutMs: 60_000 })],
      controllers: [TwoStepController],
      providers: [TwoStepService],
    }).compile();
    const app: INestApplication = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    const server = app.getHttpServer() as import('node:http').Server;
    const inFlight = request(server).post('/two-step').send({ text: 'hello' }).then((r) => ({ status: r.status, body: r.body as unknown }));
    await twoStep.atGate;
    const closed = app.close();
    // The shutdown hooks have run up to the HTTP server's close (it stops listening): no sleeping.
    for (let i = 0; i < 10_000 && server.listening; i++) await new Promise((r) => setImmediate(r));
    expect(server.listening).toBe(false);
    twoStep.openGate();
    expect(await inFlight).toEqual({ status: 201, body: { reply: 'reply for kind of hello' } });
    await closed;
    expect(await engineState(app.get<Resilience>(RESILIENCE_ENGINE))).toBe('ERR_LLMR_SHUT_DOWN');
  });

  it("stops the engine after every user module's shutdown hook: quit Redis once app.close() has resolved", async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ConnectionsModule, ResilienceModule.forRoot({ policy: chatPolicy })],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const keeper = app.get(ConnectionKeeper);
    const engine = app.get<Resilience>(RESILIENCE_ENGINE);
    await app.close();
    expect(keeper.seen).toEqual(['onModuleDestroy: open', 'onApplicationShutdown: open']);
    expect(await engineState(engine)).toBe('ERR_LLMR_SHUT_DOWN');
  });
});
