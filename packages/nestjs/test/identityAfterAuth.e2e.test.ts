import 'reflect-metadata';
import { createResilience } from '@llm-resilience/core';
import { Body, Controller, Inject, Injectable, Post, UseGuards, type CanActivate, type ExecutionContext, type INestApplication, type Provider, type Type } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import type { FakeProvider } from '@llm-resilience/testing';
import type OpenAI from 'openai';
import request from 'supertest';
import { RateLimited, ResilienceExceptionFilter, ResilienceGuard, ResilienceInterceptor, ResilienceModule } from '../src';
import { startFake, testPolicy } from './fixtures';
import { OPENAI, SupportService } from './SupportService';

/** A Passport-style auth guard: sets req.user from the bearer token. */
@Injectable()
class AuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string>; user?: { id: string } }>();
    const token = req.headers.authorization?.replace(/^Bearer /, '');
    if (!token) return false;
    req.user = { id: token };
    return true;
  }
}

/** Auth on the controller: a global ResilienceGuard runs before it. */
@UseGuards(AuthGuard)
@Controller('chat')
class ChatController {
  constructor(@Inject(SupportService) private readonly support: SupportService) {}
  // The decorated method takes its identity from the request (ResilienceInterceptor).
  @Post()
  async ask(@Body() body: { question: string }): Promise<{ answer: string }> {
    return { answer: await this.support.strict(body.question) };
  }
}

/** An inbound limit of 1 request per user a minute, for the global guard; auth is global too (or not at all). */
@RateLimited({ limits: [{ scope: ['user'], limit: 1, window: '1m' }] })
@Controller('notes')
class NotesController {
  @Post() create(): { ok: true } {
    return { ok: true };
  }
}

let fake: FakeProvider;
let openai: OpenAI;
const apps: INestApplication[] = [];
beforeAll(async () => ({ fake, openai } = await startFake()));
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await fake.stop();
});

/** The setup of docs/nestjs.md "Controllers" with the default identity (req.user.id, else the client IP); `guards` are APP_GUARDs, in order. */
async function boot(controller: Type, guards: Type[]): Promise<INestApplication> {
  // Policy: 1 request per user per minute.
  const engine = createResilience(testPolicy({ userRpm: 1 }));
  const providers: Provider[] = [
    { provide: OPENAI, useValue: openai },
    SupportService,
    AuthGuard,
    ...guards.map((useClass): Provider => ({ provide: APP_GUARD, useClass })),
    { provide: APP_INTERCEPTOR, useClass: ResilienceInterceptor },
    { provide: APP_FILTER, useClass: ResilienceExceptionFilter },
  ];
  const moduleRef = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ engine })], controllers: [controller], providers }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  apps.push(app);
  return app;
}

describe('the identity of decorated methods is found after every guard', () => {
  it('counts policy limits per authenticated user, not per client IP, though the global ResilienceGuard ran before auth', async () => {
    const server = (await boot(ChatController, [ResilienceGuard])).getHttpServer();
    // Two different users behind the same IP (an office NAT, a proxy without trust proxy, a mobile carrier).
    await request(server).post('/chat').set('authorization', 'Bearer alice').send({ question: 'one' }).expect(201);
    // Bob's first request of the minute is not limited by Alice's...
    await request(server).post('/chat').set('authorization', 'Bearer bob').send({ question: 'two' }).expect(201);
    // ...while Alice's second one is (1 a minute, per user).
    await request(server).post('/chat').set('authorization', 'Bearer alice').send({ question: 'three' }).expect(429);
  });
});

describe("ResilienceGuard's own limits see the identity as it is when the guard runs", () => {
  it('before auth: the default identity is the client IP, so users behind one IP share the inbound bucket', async () => {
    const server = (await boot(NotesController, [ResilienceGuard])).getHttpServer();
    await request(server).post('/notes').set('authorization', 'Bearer alice').expect(201);
    await request(server).post('/notes').set('authorization', 'Bearer bob').expect(429);
  });

  it('after auth (registered as an earlier APP_GUARD): each user has a bucket of their own', async () => {
    const server = (await boot(NotesController, [AuthGuard, ResilienceGuard])).getHttpServer();
    await request(server).post('/notes').set('authorization', 'Bearer alice').expect(201);
    await request(server).post('/notes').set('authorization', 'Bearer bob').expect(201);
    await request(server).post('/notes').set('authorization', 'Bearer alice').expect(429);
  });
});
