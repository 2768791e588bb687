import 'reflect-metadata';
import { createResilience, type RequestRecord, type Resilience } from '@llm-resilience/core';
import type { FakeProvider } from '@llm-resilience/testing';
import { Body, Controller, Inject, Injectable, Post, UseGuards, UseInterceptors, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type OpenAI from 'openai';
import request from 'supertest';
import { ResilienceInterceptor, ResilienceModule } from '../src';
import { startFake, testPolicy } from './fixtures';
import { headerIdentity } from './createApp';
import { OPENAI, SupportService } from './SupportService';

/**
 * Stands for any slow step that runs before interceptors: an auth guard calling an identity
 * provider, ResilienceGuard on a Redis store, a pipe... It lets the request through only after the
 * client has gone.
 */
@Injectable()
class SlowGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<{ socket: { destroyed: boolean; once: (e: string, f: () => void) => void } }>();
    if (!req.socket.destroyed) await new Promise<void>((resolve) => req.socket.once('close', resolve));
    return true;
  }
}

@UseGuards(SlowGuard)
@UseInterceptors(ResilienceInterceptor)
@Controller('slow')
class SlowController {
  constructor(@Inject(SupportService) private readonly support: SupportService) {}
  @Post()
  async ask(@Body() body: { question: string }): Promise<{ answer: string }> {
    return { answer: await this.support.strict(body.question) };
  }
}

let fake: FakeProvider;
let openai: OpenAI;
let engine: Resilience;
let app: INestApplication;
beforeAll(async () => {
  ({ fake, openai } = await startFake());
  engine = createResilience(testPolicy());
  const moduleRef = await Test.createTestingModule({
    imports: [ResilienceModule.forRoot({ engine, identity: headerIdentity })],
    controllers: [SlowController],
    providers: [{ provide: OPENAI, useValue: openai }, SupportService, SlowGuard],
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
});
afterAll(async () => {
  await app.close();
  await fake.stop();
});

it('cancels the engine request when the client left before the interceptor ran', async () => {
  fake.setFaults([{ kind: 'hang' }]);
  const recorded = new Promise<RequestRecord>((resolve) => engine.events.on('record', resolve));
  // The client gives up while the guard is still running.
  await expect(request(app.getHttpServer()).post('/slow').set('x-user', 'u-early').send({ question: 'hi' }).timeout(200)).rejects.toThrow(/Timeout/);
  // The handler then runs for a client that is gone: the request is recorded as cancelled (as a
  // disconnect after the interceptor ran is), and no model call is left hanging for it.
  expect(await recorded).toMatchObject({ outcome: 'failure', error_kind: 'cancelled', user_id: 'u-early' });
  expect(fake.counters.requests).toBe(0);
});
