import 'reflect-metadata';
import { createResilience, definePolicy, type Identity, type ResolvedTarget } from '@llm-resilience/core';
import {
  Controller,
  Get,
  Inject,
  Injectable,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  type Provider,
  type Type,
} from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { lastValueFrom, of } from 'rxjs';
import request from 'supertest';
import {
  currentResilienceContext,
  RateLimited,
  ResilienceGuard,
  ResilienceInterceptor,
  ResilienceModule,
  Target,
  type InboundLimitRule,
  type ResilienceModuleOptions,
} from '../src';
import type { Platform } from './createApp';

/** A request as the identity functions and guards of these apps read it (Express's `req` or Fastify's `request`). */
interface Req {
  headers: Record<string, string | undefined>;
  ip?: string;
  user?: { id: string };
  principal?: string;
}

const reqOf = (context: ExecutionContext): Req => context.switchToHttp().getRequest<Req>();

/**
 * The application's identity function: async like a session or database lookup, counting its calls
 * per request (`x-request-id`), each answer numbered (`team: 'reading-<n>'`) as a session read twice
 * could answer differently. `who(req)` says the user, `undefined` for none.
 */
function countedIdentity(who: (req: Req) => string | undefined) {
  const calls = new Map<string, number>();
  const identity = async (context: ExecutionContext): Promise<Identity | undefined> => {
    const req = reqOf(context);
    const n = (calls.get(req.headers['x-request-id']!) ?? 0) + 1;
    calls.set(req.headers['x-request-id']!, n);
    await Promise.resolve(); // the lookup
    const user = who(req);
    return user === undefined ? undefined : { user, team: `reading-${n}` };
  };
  return { identity, callsFor: (requestId: string) => calls.get(requestId) ?? 0 };
}

/** The user of the `x-user` header: the request's session, as these apps see it. */
const headerUser = (req: Req): string | undefined => req.headers['x-user'];

/** The policy: one route, 100 requests per user a minute (keyed by the identity the interceptor gives). */
function policy() {
  return definePolicy({
    targets: { a: { provider: 'openai', model: 'support-a' } },
    routes: { single: { chain: ['a'], priority: 'live', audience: 'customer' } },
    limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 100, window: '1m' }],
    breaker: { consecutiveFailures: 1000, minimumCalls: 1000 },
  });
}

@Injectable()
class Answers {
  /** A decorated method: runs under the policy with the request's identity (no key, no identity option). */
  @RateLimited({ route: 'single' })
  async model(@Target() target?: ResolvedTarget): Promise<string> {
    return target!.model;
  }
}

/** What a handler answers: the identity its decorated methods ran under, and the model they got. */
interface WhoAnswer {
  identity: Identity | null;
  model: string;
}

async function whoAnswer(answers: Answers): Promise<WhoAnswer> {
  const identity = currentResilienceContext()?.identity ?? null;
  return { identity, model: await answers.model() };
}

/** Inbound rule of the `limited` handlers: 3 requests per user a minute (the guard needs the identity). */
const PER_USER_3: InboundLimitRule = { id: 'per-user-3', scope: ['user'], limit: 3, window: '1m' };

@Controller('who')
class WhoController {
  constructor(@Inject(Answers) private readonly answers: Answers) {}

  @RateLimited({ limits: [PER_USER_3] })
  @Get('limited')
  limited(): Promise<WhoAnswer> {
    return whoAnswer(this.answers);
  }

  /** No inbound rule: only the interceptor needs the identity. */
  @Get('open')
  open(): Promise<WhoAnswer> {
    return whoAnswer(this.answers);
  }
}

/** A controller that applies `ResilienceGuard` again, under a global one. */
@UseGuards(ResilienceGuard)
@Controller('twice')
class TwiceController {
  constructor(@Inject(Answers) private readonly answers: Answers) {}

  @RateLimited({ limits: [PER_USER_3] })
  @Get()
  get(): Promise<WhoAnswer> {
    return whoAnswer(this.answers);
  }
}

/** A Passport-style auth guard: sets `req.user` from the bearer token, lets requests without one through. */
@Injectable()
class AuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = reqOf(context);
    const token = req.headers.authorization?.replace(/^Bearer /, '');
    if (token) req.user = { id: token };
    return true;
  }
}

/** An auth guard that leaves its principal on `req.principal`, not `req.user`; requests without a token pass anonymous. */
@Injectable()
class PrincipalGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = reqOf(context);
    const token = req.headers.authorization?.replace(/^Bearer /, '');
    if (token) req.principal = token;
    return true;
  }
}

/** Auth on the controller: a global `ResilienceGuard` runs before it. */
@UseGuards(AuthGuard)
@Controller('authed')
class AuthedController {
  constructor(@Inject(Answers) private readonly answers: Answers) {}

  @RateLimited({ limits: [PER_USER_3] })
  @Get()
  get(): Promise<WhoAnswer> {
    return whoAnswer(this.answers);
  }
}

@UseGuards(PrincipalGuard)
@Controller('principal')
class PrincipalController {
  constructor(@Inject(Answers) private readonly answers: Answers) {}

  @RateLimited({ limits: [PER_USER_3] })
  @Get()
  get(): Promise<WhoAnswer> {
    return whoAnswer(this.answers);
  }
}

/** The application's guard, saying itself who requests are for (the `x-tenant` header besides the user). Counts its calls. */
@Injectable()
class TenantGuard extends ResilienceGuard {
  static calls = 0;
  protected override async getIdentity(context: ExecutionContext): Promise<Identity | undefined> {
    TenantGuard.calls++;
    const req = reqOf(context);
    return { user: req.headers['x-user']!, tenant: req.headers['x-tenant']! };
  }
}

/** A guard adding the tenant to the module's identity (`super.getIdentity`). Counts its calls. */
@Injectable()
class TenantOnTopGuard extends ResilienceGuard {
  static calls = 0;
  protected override async getIdentity(context: ExecutionContext): Promise<Identity | undefined> {
    TenantOnTopGuard.calls++;
    return { ...(await super.getIdentity(context)), tenant: reqOf(context).headers['x-tenant']! };
  }
}

interface Setup {
  identity: ResilienceModuleOptions['identity'];
  controllers: Type[];
  /** Global guards, in the order Nest runs them. */
  globalGuards?: Type[];
  /** The global interceptor; none: `null`. */
  interceptor?: Type | null;
  /** Guards used with `@UseGuards` (providers of the module). */
  providers?: Provider[];
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function boot(platform: Platform, setup: Setup): Promise<INestApplication> {
  const interceptor = setup.interceptor === undefined ? ResilienceInterceptor : setup.interceptor;
  const moduleRef = await Test.createTestingModule({
    imports: [ResilienceModule.forRoot({ engine: createResilience(policy()), ...(setup.identity ? { identity: setup.identity } : {}) })],
    controllers: setup.controllers,
    providers: [
      Answers,
      AuthGuard,
      PrincipalGuard,
      ...(setup.providers ?? []),
      ...(setup.globalGuards ?? []).map((useClass): Provider => ({ provide: APP_GUARD, useClass })),
      ...(interceptor ? [{ provide: APP_INTERCEPTOR, useClass: interceptor }] : []),
    ],
  }).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: false }) : moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  apps.push(app);
  return app;
}

let lastRequestId = 0;
/** A fresh `x-request-id`, the key the identity functions count their calls under. */
const nextRequestId = (): string => `r${++lastRequestId}`;

/** GETs `path` with `headers` and a fresh request id; returns the id, the status and the body. */
async function get(app: INestApplication, path: string, headers: Record<string, string> = {}): Promise<{ id: string; status: number; body: WhoAnswer }> {
  const id = nextRequestId();
  let req = request(app.getHttpServer()).get(path).set('x-request-id', id);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  const res = await req;
  return { id, status: res.status, body: res.body as WhoAnswer };
}

describe.each<Platform>(['express', 'fastify'])("the module's identity(context) is called once per request (%s)", (platform) => {
  describe('a global ResilienceGuard and a global ResilienceInterceptor', () => {
    it('for a handler with inbound rules: the guard calls it, the decorated methods run under that same answer', async () => {
      const { identity, callsFor } = countedIdentity(headerUser);
      const app = await boot(platform, { identity, controllers: [WhoController], globalGuards: [ResilienceGuard] });
      for (let i = 0; i < 3; i++) {
        const res = await get(app, '/who/limited', { 'x-user': 'u1' });
        expect(res.status).toBe(200);
        // One call: the interceptor took the guard's reading, not a second (possibly different) one.
        expect(callsFor(res.id)).toBe(1);
        expect(res.body).toEqual({ identity: { user: 'u1', team: 'reading-1' }, model: 'support-a' });
      }
      // The guard counted under that identity: the 4th request of u1 this minute is over its 3.
      const refused = await get(app, '/who/limited', { 'x-user': 'u1' });
      expect(refused.status).toBe(429);
      expect(callsFor(refused.id)).toBe(1);
      expect((await get(app, '/who/limited', { 'x-user': 'u2' })).status).toBe(200);
    });

    it('for a handler without inbound rules: only the interceptor calls it', async () => {
      const { identity, callsFor } = countedIdentity(headerUser);
      const app = await boot(platform, { identity, controllers: [WhoController], globalGuards: [ResilienceGuard] });
      const res = await get(app, '/who/open', { 'x-user': 'u1' });
      expect(res.body.identity).toEqual({ user: 'u1', team: 'reading-1' });
      expect(callsFor(res.id)).toBe(1);
    });
  });

  it('only the interceptor: it calls it once', async () => {
    const { identity, callsFor } = countedIdentity(headerUser);
    const app = await boot(platform, { identity, controllers: [WhoController] });
    for (const path of ['/who/limited', '/who/open']) {
      const res = await get(app, path, { 'x-user': 'u1' });
      expect(res.body.identity).toEqual({ user: 'u1', team: 'reading-1' });
      expect(callsFor(res.id)).toBe(1);
    }
  });

  it('ResilienceGuard twice (APP_GUARD and @UseGuards) and the interceptor: one call, the request counted once', async () => {
    const { identity, callsFor } = countedIdentity(headerUser);
    const app = await boot(platform, { identity, controllers: [TwiceController], globalGuards: [ResilienceGuard] });
    for (let i = 0; i < 3; i++) {
      const res = await get(app, '/twice', { 'x-user': 'u1' });
      expect(res.status).toBe(200);
      expect(callsFor(res.id)).toBe(1);
      expect(res.body.identity).toEqual({ user: 'u1', team: 'reading-1' });
    }
    expect((await get(app, '/twice', { 'x-user': 'u1' })).status).toBe(429);
  });

  describe('a ResilienceGuard subclass', () => {
    it("with its own getIdentity: that runs once per request, and the module's identity never", async () => {
      const { identity, callsFor } = countedIdentity(headerUser);
      const app = await boot(platform, { identity, controllers: [WhoController], globalGuards: [TenantGuard] });
      for (const path of ['/who/limited', '/who/open']) {
        TenantGuard.calls = 0;
        const res = await get(app, path, { 'x-user': 'u1', 'x-tenant': 'acme' });
        expect(res.body.identity).toEqual({ user: 'u1', tenant: 'acme' });
        expect(TenantGuard.calls).toBe(1);
        expect(callsFor(res.id)).toBe(0);
      }
    });

    it("calling super.getIdentity: the override and the module's identity each run once per request", async () => {
      const { identity, callsFor } = countedIdentity(headerUser);
      const app = await boot(platform, { identity, controllers: [WhoController], globalGuards: [TenantOnTopGuard] });
      for (const path of ['/who/limited', '/who/open']) {
        TenantOnTopGuard.calls = 0;
        const res = await get(app, path, { 'x-user': 'u1', 'x-tenant': 'acme' });
        expect(res.body.identity).toEqual({ user: 'u1', team: 'reading-1', tenant: 'acme' });
        expect(TenantOnTopGuard.calls).toBe(1);
        expect(callsFor(res.id)).toBe(1);
      }
    });
  });

  describe('an auth guard that runs after the global ResilienceGuard', () => {
    /** The user of `req.user` (set by auth), else the client IP: an identity that is never empty. */
    const userElseIp = (req: Req): string | undefined => req.user?.id ?? req.ip;

    it('sets req.user: the interceptor calls it once more, and the decorated methods run under the authenticated user', async () => {
      const { identity, callsFor } = countedIdentity(userElseIp);
      const app = await boot(platform, { identity, controllers: [AuthedController], globalGuards: [ResilienceGuard] });
      const res = await get(app, '/authed', { authorization: 'Bearer alice' });
      expect(res.status).toBe(200);
      // The guard read the request before auth (the client IP); the interceptor after it.
      expect(callsFor(res.id)).toBe(2);
      expect(res.body.identity).toEqual({ user: 'alice', team: 'reading-2' });
      // No auth: req.user did not change, so the guard's reading is reused.
      const anonymous = await get(app, '/authed');
      expect(callsFor(anonymous.id)).toBe(1);
      expect(anonymous.body.identity).toEqual({ user: '127.0.0.1', team: 'reading-1' });
    });

    it('registered before it instead (an earlier APP_GUARD): one call, the authenticated user for both', async () => {
      const { identity, callsFor } = countedIdentity(userElseIp);
      const app = await boot(platform, { identity, controllers: [WhoController], globalGuards: [AuthGuard, ResilienceGuard] });
      const res = await get(app, '/who/limited', { authorization: 'Bearer alice' });
      expect(callsFor(res.id)).toBe(1);
      expect(res.body.identity).toEqual({ user: 'alice', team: 'reading-1' });
    });

    it('leaves its principal elsewhere than req.user: a first reading without identity is not reused', async () => {
      const { identity, callsFor } = countedIdentity((req) => req.principal);
      const app = await boot(platform, { identity, controllers: [PrincipalController], globalGuards: [ResilienceGuard] });
      const res = await get(app, '/principal', { authorization: 'Bearer bob' });
      expect(callsFor(res.id)).toBe(2);
      expect(res.body.identity).toEqual({ user: 'bob', team: 'reading-2' });
      // A request that stays anonymous is asked twice too (the price of the rule above), and has no identity.
      const anonymous = await get(app, '/principal');
      expect(callsFor(anonymous.id)).toBe(2);
      expect(anonymous.body.identity).toBeNull();
    });
  });
});

describe('contexts other than HTTP (RPC, GraphQL)', () => {
  it('are let through by the guard and the interceptor without asking for an identity', async () => {
    const { identity, callsFor } = countedIdentity(headerUser);
    const app = await boot('express', { identity, controllers: [WhoController], providers: [ResilienceGuard, ResilienceInterceptor] });
    const message = { headers: { 'x-request-id': 'rpc-1', 'x-user': 'u1' } };
    for (const type of ['rpc', 'graphql'] as const) {
      const context = new ExecutionContextHost([message, {}], WhoController, WhoController.prototype.limited);
      context.setType(type);
      await expect(app.get(ResilienceGuard).canActivate(context)).resolves.toBe(true);
      const out = await app.get(ResilienceInterceptor).intercept(context, { handle: () => of('handled') });
      await expect(lastValueFrom(out)).resolves.toBe('handled');
    }
    expect(callsFor('rpc-1')).toBe(0);
  });
});
