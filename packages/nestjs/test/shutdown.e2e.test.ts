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
  return engine.execute({ route: 'nightly', priority: 'live' }, async () => 'x').then(
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

describe('app.close() and the module-owned engine', () => {
  it('drains the engine within drainTimeoutMs before the HTTP server closes: queued work is rejected (503), not waited for', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ResilienceModule.forRoot({ policy, drainTimeoutMs: 200 })],
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

    const started = Date.now();
    const closed = app.close().then(() => 'closed');
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([closed, new Promise((r) => (timer = setTimeout(() => r('still closing after 5 s'), 5000)))]);
    clearTimeout(timer);
    expect(outcome).toBe('closed');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await queued).toEqual({ status: 503, code: 'ERR_LLMR_QUEUE_REJECTED' });
  });

  it("runs after every user module's onModuleDestroy and before their onApplicationShutdown (quit Redis there)", async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ConnectionsModule, ResilienceModule.forRoot({ policy })],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const keeper = app.get(ConnectionKeeper);
    await app.close();
    expect(keeper.seen).toEqual(['onModuleDestroy: open', 'onApplicationShutdown: ERR_LLMR_SHUT_DOWN']);
  });
});
