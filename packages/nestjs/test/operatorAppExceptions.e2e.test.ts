import 'reflect-metadata';
import { createResilience, type RequestRecord, type Resilience } from '@llm-resilience/core';
import {
  Controller,
  ForbiddenException,
  Get,
  Inject,
  Injectable,
  ServiceUnavailableException,
  UseInterceptors,
  type CallHandler,
  type ExecutionContext,
  type INestApplication,
  type NestInterceptor,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import OpenAI from 'openai';
import { of, type Observable } from 'rxjs';
import request from 'supertest';
import { rateLimited, ResilienceInterceptor, ResilienceModule, ResilienceService, retryWithBackoff, withFallback } from '../src';
import { testPolicy } from './fixtures';
import { headerIdentity } from './createApp';

const CANNED = { text: 'Our assistant is busy; here is the FAQ.' };
/** What a model SDK throws when the provider is overloaded (a provider failure, unlike an HttpException). */
const providerOverloaded = () => OpenAI.APIError.generate(503, { error: { message: 'busy' } }, undefined, new Headers());

/** The interceptor of docs/nestjs.md "RxJS operators": each request of the handler through the engine, a canned reply when it gives up. */
@Injectable()
class LlmInterceptor implements NestInterceptor {
  constructor(@Inject(ResilienceService) private readonly resilience: ResilienceService) {}
  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const user = ctx.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers['x-user'];
    return next.handle().pipe(
      rateLimited({ service: this.resilience, route: 'support_reply', identity: () => ({ user }) }),
      withFallback(of(CANNED), { on: ['overloaded', 'rate_limited', 'auth'] }),
    );
  }
}

/** Retries the handler on provider errors, without the engine. */
@Injectable()
class RetryInterceptor implements NestInterceptor {
  intercept(_ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(retryWithBackoff({ perKind: { overloaded: 2, auth: 2 }, backoff: { strategy: 'constant', delay: 1 }, budget: false }));
  }
}

@UseInterceptors(ResilienceInterceptor, LlmInterceptor)
@Controller('docs')
class DocsController {
  calls = 0;
  @Get('forbidden')
  forbidden(): { text: string } {
    this.calls++;
    // The application's own answer (the user may not read this document), before any model call.
    throw new ForbiddenException('You cannot read this document.');
  }

  @Get('maintenance')
  maintenance(): { text: string } {
    this.calls++;
    throw new ServiceUnavailableException('Down for maintenance until 6 am.');
  }

  @Get('provider-down')
  providerDown(): { text: string } {
    this.calls++;
    throw providerOverloaded();
  }
}

@UseInterceptors(RetryInterceptor)
@Controller('retried')
class RetriedController {
  calls = 0;
  @Get('forbidden')
  forbidden(): { text: string } {
    this.calls++;
    throw new ForbiddenException('You cannot read this document.');
  }

  @Get('flaky')
  flaky(): { text: string } {
    if (++this.calls === 1) throw providerOverloaded();
    return { text: 'answered' };
  }
}

let engine: Resilience;
let app: INestApplication;
const alerts: unknown[] = [];
const records: RequestRecord[] = [];
beforeAll(async () => {
  engine = createResilience(testPolicy());
  engine.events.on('alert', (a) => alerts.push(a));
  engine.events.on('record', (r) => records.push(r));
  const moduleRef = await Test.createTestingModule({
    imports: [ResilienceModule.forRoot({ engine, identity: headerIdentity })],
    controllers: [DocsController, RetriedController],
    providers: [LlmInterceptor, RetryInterceptor],
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
});
afterAll(async () => app.close());
beforeEach(() => {
  alerts.length = 0;
  records.length = 0;
  app.get(DocsController).calls = 0;
  app.get(RetriedController).calls = 0;
});

describe("the application's own HttpExceptions under the RxJS operators", () => {
  it('rateLimited: a ForbiddenException of the handler reaches the client as thrown, once, and is no auth failure', async () => {
    const res = await request(app.getHttpServer()).get('/docs/forbidden').set('x-user', 'u-forbidden');
    expect({ status: res.status, message: res.body.message }).toEqual({ status: 403, message: 'You cannot read this document.' });
    expect(app.get(DocsController).calls).toBe(1); // not re-run once per model of the chain
    expect(alerts).toEqual([]); // a 403 of the application is not the provider rejecting our API key
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'invalid_request', fallback_used: false, retry_count: 0 });
    expect(records[0]?.attempts).toHaveLength(1);
  });

  it('rateLimited + withFallback: an application 503 is neither retried on the chain nor replaced by the canned reply', async () => {
    const res = await request(app.getHttpServer()).get('/docs/maintenance').set('x-user', 'u-maintenance');
    expect({ status: res.status, message: res.body.message }).toEqual({ status: 503, message: 'Down for maintenance until 6 am.' });
    expect(app.get(DocsController).calls).toBe(1);
    expect(records[0]).toMatchObject({ error_kind: 'invalid_request' });
  });

  it('rateLimited + withFallback still act on a provider failure: every model of the chain, then the canned reply', async () => {
    const res = await request(app.getHttpServer()).get('/docs/provider-down').set('x-user', 'u-provider');
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: CANNED });
    expect(app.get(DocsController).calls).toBe(3); // support-a, support-b, support-c
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'overloaded', fallback_used: true });
  });

  it('retryWithBackoff: an application 403 is not retried, a provider 503 is', async () => {
    const forbidden = await request(app.getHttpServer()).get('/retried/forbidden');
    expect({ status: forbidden.status, message: forbidden.body.message }).toEqual({ status: 403, message: 'You cannot read this document.' });
    expect(app.get(RetriedController).calls).toBe(1);

    app.get(RetriedController).calls = 0;
    const flaky = await request(app.getHttpServer()).get('/retried/flaky');
    expect({ status: flaky.status, body: flaky.body }).toEqual({ status: 200, body: { text: 'answered' } });
    expect(app.get(RetriedController).calls).toBe(2);
  });
});
