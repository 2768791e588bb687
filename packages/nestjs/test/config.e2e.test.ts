import 'reflect-metadata';
import type { FakeProvider } from '@llm-resilience/testing';
import { Body, Controller, Get, Inject, Injectable, Post, UseInterceptors, type CallHandler, type ExecutionContext, type INestApplication, type NestInterceptor } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import type OpenAI from 'openai';
import { Observable, of } from 'rxjs';
import request from 'supertest';
import {
  rateLimited,
  ResilienceExceptionFilter,
  ResilienceGuard,
  ResilienceInterceptor,
  ResilienceModule,
  ResilienceService,
  retryWithBackoff,
  withFallback,
} from '../src';
import { answeredBy, startFake, testPolicy } from './fixtures';
import { OPENAI, SupportService } from './SupportService';

/** Runs each request of a handler through the engine with the RxJS operators, as an application's own interceptor would. */
@Injectable()
class LlmBudgetInterceptor implements NestInterceptor {
  constructor(@Inject(ResilienceService) private readonly resilience: ResilienceService) {}
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const user = context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers['x-user'];
    return next.handle().pipe(
      retryWithBackoff({ maxAttempts: 2, budget: false }),
      rateLimited({ service: this.resilience, route: 'single', identity: { user: `op-${user}` } }),
      withFallback(of({ answer: 'fallback' }), { on: ['overloaded'] }),
    );
  }
}

/** A controller without decorators: the global guard, interceptor and filter apply. */
@Controller('app')
class AppController {
  calls = 0;
  constructor(@Inject(SupportService) private readonly support: SupportService) {}

  @Post('ask')
  async ask(@Body() body: { question: string }): Promise<{ answer: string }> {
    return { answer: await this.support.strict(body.question) };
  }

  @UseInterceptors(LlmBudgetInterceptor)
  @Get('counted')
  counted(): { calls: number } {
    return { calls: ++this.calls };
  }
}

let fake: FakeProvider;
let openai: OpenAI;
let app: INestApplication;

beforeAll(async () => {
  ({ fake, openai } = await startFake());
  const moduleRef = await Test.createTestingModule({
    imports: [
      ResilienceModule.forRootAsync({
        imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ LLM_USER_RPM: 2, INBOUND_PER_MINUTE: 3 })] })],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({
          policy: testPolicy({ userRpm: config.getOrThrow<number>('LLM_USER_RPM') }),
          limits: [{ id: 'per-client', scope: ['user'], limit: config.getOrThrow<number>('INBOUND_PER_MINUTE'), window: '1m' }],
          identity: (ctx: ExecutionContext) => {
            const user = ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers['x-user'];
            return user ? { user } : undefined;
          },
        }),
      }),
    ],
    controllers: [AppController],
    providers: [
      { provide: OPENAI, useValue: openai },
      SupportService,
      LlmBudgetInterceptor,
      { provide: APP_GUARD, useClass: ResilienceGuard },
      { provide: APP_INTERCEPTOR, useClass: ResilienceInterceptor },
      { provide: APP_FILTER, useClass: ResilienceExceptionFilter },
    ],
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
});

afterAll(async () => {
  await app.close();
  await fake.stop();
});

beforeEach(() => {
  fake.reset();
  fake.setFaults([]);
});

describe('forRootAsync with ConfigService, global guard, interceptor and filter', () => {
  it('applies the policy limit read from the config to the identity of the request', async () => {
    const server = app.getHttpServer();
    const first = await request(server).post('/app/ask').set('x-user', 'cfg-1').send({ question: 'a' }).expect(201);
    expect(answeredBy(first.body.answer)).toBe('support-a');
    await request(server).post('/app/ask').set('x-user', 'cfg-1').send({ question: 'b' }).expect(201);
    const limited = await request(server).post('/app/ask').set('x-user', 'cfg-1').send({ question: 'c' }).expect(429);
    expect(limited.headers['retry-after']).toBeDefined();
    expect(limited.body).toMatchObject({ error: 'rate_limited' });
  });

  it('applies the module-level inbound limits read from the config in the global guard', async () => {
    const server = app.getHttpServer();
    for (let i = 0; i < 3; i++) await request(server).get('/app/counted').set('x-user', `g-${i}`).expect(200);
    const before = fake.counters.requests;
    for (let i = 0; i < 3; i++) await request(server).post('/app/ask').set('x-user', 'cfg-2').send({ question: `q${i}` }).expect(i < 2 ? 201 : 429);
    const res = await request(server).post('/app/ask').set('x-user', 'cfg-2').send({ question: 'q3' }).expect(429);
    expect(res.body.code).toBe('ERR_LLMR_NEST_INBOUND_LIMITED');
    expect(fake.counters.requests - before).toBe(2);
  });

  it('runs an interceptor built from rateLimited / retryWithBackoff / withFallback', async () => {
    const server = app.getHttpServer();
    const one = await request(server).get('/app/counted').set('x-user', 'op').expect(200);
    const two = await request(server).get('/app/counted').set('x-user', 'op').expect(200);
    expect(two.body.calls).toBe(one.body.calls + 1);
    // The operator's identity (op-op) has used its 2 requests: the engine denies, the filter answers 429.
    const denied = await request(server).get('/app/counted').set('x-user', 'op').expect(429);
    expect(denied.body).toMatchObject({ error: 'rate_limited' });
    expect((await request(server).get('/app/counted').set('x-user', 'other').expect(200)).body.calls).toBe(two.body.calls + 1);
  });
});
