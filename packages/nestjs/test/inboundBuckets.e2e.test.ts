import 'reflect-metadata';
import { createResilience } from '@llm-resilience/core';
import { Controller, Get, UseGuards, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { RateLimited, ResilienceGuard, ResilienceModule } from '../src';
import { testPolicy } from './fixtures';
import { headerIdentity } from './createApp';

// Two unrelated controllers, each with its own inbound limit written as in docs/nestjs.md
// (`limits: [{ scope: ['user'], limit, window: '1m' }]`, no id).
@UseGuards(ResilienceGuard)
@RateLimited({ limits: [{ scope: ['user'], limit: 2, window: '1m' }] })
@Controller('expensive')
class ExpensiveController {
  @Get() get() { return { ok: true }; }
}

@UseGuards(ResilienceGuard)
@RateLimited({ limits: [{ scope: ['user'], limit: 100, window: '1m' }] })
@Controller('cheap')
class CheapController {
  @Get() get() { return { ok: true }; }
}

// A class rule for every handler (3/min, one bucket for the class) and, on one handler, a rule of
// the same scope and window (1/min, a bucket of its own).
@UseGuards(ResilienceGuard)
@RateLimited({ limits: [{ scope: ['user'], limit: 3, window: '1m' }] })
@Controller('reports')
class ReportsController {
  @Get('list') list() { return { ok: true }; }
  @Get('summary') summary() { return { ok: true }; }
  @RateLimited({ limits: [{ scope: ['user'], limit: 1, window: '1m' }] })
  @Get('export') export() { return { ok: true }; }
}

// Two controllers sharing one bucket on purpose: the same explicit id.
@UseGuards(ResilienceGuard)
@RateLimited({ limits: [{ id: 'search-per-user', scope: ['user'], limit: 2, window: '1m' }] })
@Controller('search-docs')
class SearchDocsController {
  @Get() get() { return { ok: true }; }
}

@UseGuards(ResilienceGuard)
@RateLimited({ limits: [{ id: 'search-per-user', scope: ['user'], limit: 2, window: '1m' }] })
@Controller('search-tickets')
class SearchTicketsController {
  @Get() get() { return { ok: true }; }
}

let app: INestApplication;
beforeAll(async () => {
  const engine = createResilience(testPolicy());
  const moduleRef = await Test.createTestingModule({
    imports: [ResilienceModule.forRoot({ engine, identity: headerIdentity })],
    controllers: [ExpensiveController, CheapController, ReportsController, SearchDocsController, SearchTicketsController],
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
});
afterAll(async () => app.close());

describe('inbound limits without an id: a bucket per declaration', () => {
  it('requests to one controller do not use up the inbound limit of another controller', async () => {
    const server = app.getHttpServer();
    // The user calls only the cheap endpoint (100/min) twice...
    await request(server).get('/cheap').set('x-user', 'u1').expect(200);
    await request(server).get('/cheap').set('x-user', 'u1').expect(200);
    // ...and their first call ever to the expensive endpoint (2/min) passes.
    await request(server).get('/expensive').set('x-user', 'u1').expect(200);
  });

  it('a tight limit on one controller does not cap a looser one elsewhere', async () => {
    const server = app.getHttpServer();
    await request(server).get('/expensive').set('x-user', 'u2').expect(200);
    await request(server).get('/expensive').set('x-user', 'u2').expect(200);
    await request(server).get('/expensive').set('x-user', 'u2').expect(429);
    // 100/min on /cheap: the third request, to another controller, passes.
    await request(server).get('/cheap').set('x-user', 'u2').expect(200);
  });

  it("a class rule is one bucket for the class's handlers; a method rule of the same scope and window adds its own", async () => {
    const server = app.getHttpServer();
    await request(server).get('/reports/list').set('x-user', 'u3').expect(200);
    await request(server).get('/reports/summary').set('x-user', 'u3').expect(200);
    // The method's 1/min: the first export passes (it also counts in the class's 3/min)...
    await request(server).get('/reports/export').set('x-user', 'u3').expect(200);
    // ...the second is denied by the method's own rule...
    await request(server).get('/reports/export').set('x-user', 'u3').expect(429);
    // ...and the class's 3/min is used up across list, summary and export.
    await request(server).get('/reports/list').set('x-user', 'u3').expect(429);
    // Another user has buckets of their own.
    await request(server).get('/reports/export').set('x-user', 'u4').expect(200);
  });
});

describe('inbound limits with an explicit id', () => {
  it('rules with the same id on different controllers share one bucket', async () => {
    const server = app.getHttpServer();
    await request(server).get('/search-docs').set('x-user', 'u5').expect(200);
    await request(server).get('/search-tickets').set('x-user', 'u5').expect(200);
    await request(server).get('/search-docs').set('x-user', 'u5').expect(429);
    await request(server).get('/search-tickets').set('x-user', 'u5').expect(429);
  });
});
