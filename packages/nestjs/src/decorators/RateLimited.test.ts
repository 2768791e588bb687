import 'reflect-metadata';
import { createResilience, definePolicy, type Identity, type Resilience, type RequestRecord, type ResolvedTarget } from '@llm-resilience/core';
import { Injectable, type Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import OpenAI from 'openai';
import { lastValueFrom, NEVER, Observable, of, throwError, toArray } from 'rxjs';
import { NestConfigError } from '../NestConfigError';
import { ResilienceModule } from '../ResilienceModule';
import { ResilienceService } from '../ResilienceService';
import { runWithResilienceContext } from '../requestContext';
import { RESILIENCE_ENGINE } from '../types';
import { Fallback } from './Fallback';
import { RATE_LIMITED_METADATA } from './metadata';
import { effectiveOptions } from './decoratedMethod';
import { RateLimited } from './RateLimited';
import { Target } from './Target';

const overloaded = () => OpenAI.APIError.generate(503, { error: { message: 'busy' } }, undefined, new Headers());

function newEngine() {
  return createResilience(
    definePolicy({
      targets: { a: { provider: 'openai', model: 'model-a' }, b: { provider: 'openai', model: 'model-b' } },
      routes: {
        chat: { chain: ['a', 'b'], retry: { perKind: { overloaded: 0 } } },
        batch: { chain: ['b'], priority: 'batch' },
      },
      limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 1, window: '1m' }],
    }),
  );
}

async function boot<T>(cls: Type<T>) {
  const engine = newEngine();
  const records: RequestRecord[] = [];
  engine.events.on('record', (r) => records.push(r));
  const moduleRef: TestingModule = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ engine })], providers: [cls] }).compile();
  await moduleRef.init();
  return { engine, records, instance: moduleRef.get(cls), moduleRef };
}

@Injectable()
@RateLimited({ route: 'chat', priority: 'live', maxOutputTokens: 50 })
class Chat {
  identities: Array<Identity | undefined> = [];

  @RateLimited({ key: (user: string) => user })
  async ask(user: string, question: string, @Target() target?: ResolvedTarget): Promise<string> {
    return `${target?.model}:${user}:${question}`;
  }

  @RateLimited({ route: 'batch', identity: (tenant: string) => ({ tenant }), priority: 'batch', dataClass: () => undefined })
  async batchJob(tenant: string, @Target() target?: ResolvedTarget): Promise<string> {
    return `${target?.id}:${tenant}`;
  }

  @Fallback({ chain: true })
  async ambient(@Target() target?: ResolvedTarget): Promise<string> {
    return target!.id;
  }

  @Fallback({ chain: true })
  failing(@Target() target?: ResolvedTarget): Promise<string> {
    return target!.id === 'a' ? Promise.reject(overloaded()) : Promise.resolve('from b');
  }

  @Fallback({ chain: true })
  stream(@Target() target?: ResolvedTarget): Observable<string> {
    return target!.id === 'a' ? throwError(overloaded) : of('b1', 'b2');
  }

  @RateLimited({ returns: 'observable' })
  @Fallback({ chain: true })
  declaredStream(@Target() target?: ResolvedTarget) {
    return of(`declared ${target!.id}`);
  }

  @RateLimited({ priority: 'live' })
  hang(): Observable<string> {
    return NEVER;
  }
}

@Injectable()
@RateLimited({ route: 'chat', identity: () => ({ user: 'class-user', tenant: 'class-tenant' }) })
class WhoOverrides {
  @RateLimited({ key: (user: string) => user })
  async byKey(_user: string, @Target() target?: ResolvedTarget): Promise<string> {
    return target!.id;
  }

  @RateLimited({ identity: (team: string) => ({ team }) })
  async byIdentity(_team: string, @Target() target?: ResolvedTarget): Promise<string> {
    return target!.id;
  }

  @RateLimited({ priority: 'live' })
  async byClass(@Target() target?: ResolvedTarget): Promise<string> {
    return target!.id;
  }
}

describe('@RateLimited identity precedence', () => {
  it('a method key or identity wins over the class identity; a method without either keeps the class one', async () => {
    const { instance, records, moduleRef } = await boot(WhoOverrides);
    await instance.byKey('method-user');
    await instance.byIdentity('method-team');
    await instance.byClass();
    expect(records.map((r) => [r.user_id, r.team_id, r.tenant_id])).toEqual([
      ['method-user', undefined, undefined],
      [undefined, 'method-team', undefined],
      ['class-user', undefined, 'class-tenant'],
    ]);
    await moduleRef.close();
  });

  it('a method key replaces only the user of the request identity, as without a class identity', async () => {
    const { instance, records, moduleRef } = await boot(WhoOverrides);
    await runWithResilienceContext({ identity: { user: 'request-user', team: 'request-team' } }, () => instance.byKey('method-user'));
    expect(records[0]).toMatchObject({ user_id: 'method-user', team_id: 'request-team' });
    await moduleRef.close();
  });
});

describe('@RateLimited', () => {
  it('runs the method through the engine with class defaults and method overrides', async () => {
    const { instance, records, moduleRef } = await boot(Chat);
    await expect(instance.ask('u1', 'hi')).resolves.toBe('model-a:u1:hi');
    await expect(instance.batchJob('acme')).resolves.toBe('b:acme');
    expect(records.map((r) => [r.route, r.priority, r.user_id, r.tenant_id])).toEqual([
      ['chat', 'live', 'u1', undefined],
      ['batch', 'batch', undefined, 'acme'],
    ]);
    await moduleRef.close();
  });

  it('applies the policy limits to the identity from `key`', async () => {
    const { instance, moduleRef } = await boot(Chat);
    await instance.ask('u1', 'one');
    await expect(instance.ask('u1', 'two')).rejects.toMatchObject({ kind: 'rate_limited' });
    await expect(instance.ask('u2', 'three')).resolves.toBe('model-a:u2:three');
    await moduleRef.close();
  });

  it('takes the identity and signal of the ambient request context when the options give none', async () => {
    const { instance, records, moduleRef } = await boot(Chat);
    await runWithResilienceContext({ identity: { user: 'ctx', team: 't' } }, () => instance.ambient());
    expect(records[0]).toMatchObject({ user_id: 'ctx', team_id: 't' });
    // `key` replaces only the user of the ambient identity
    await runWithResilienceContext({ identity: { user: 'ignored', team: 't2' } }, () => instance.ask('u9', 'q'));
    expect(records[1]).toMatchObject({ user_id: 'u9', team_id: 't2' });
    // An Observable keeps the context of the call, even when subscribed outside of it.
    const later = runWithResilienceContext({ identity: { user: 'caller' } }, () => instance.stream());
    await lastValueFrom(later.pipe(toArray()));
    expect(records[2]).toMatchObject({ user_id: 'caller' });
    const aborted = new AbortController();
    aborted.abort();
    await expect(runWithResilienceContext({ signal: aborted.signal }, () => instance.ambient())).rejects.toMatchObject({ kind: 'cancelled' });
    await moduleRef.close();
  });

  it('calls the method once per attempt, each with its target (Promise and Observable methods)', async () => {
    const { instance, records, moduleRef } = await boot(Chat);
    await expect(instance.failing()).resolves.toBe('from b');
    const o = instance.stream();
    expect(records).toHaveLength(1); // cold: nothing ran yet
    await expect(lastValueFrom(o.pipe(toArray()))).resolves.toEqual(['b1', 'b2']);
    await expect(lastValueFrom(o.pipe(toArray()))).resolves.toEqual(['b1', 'b2']);
    expect(records).toHaveLength(3);
    expect(records[1]!.attempts.map((a) => a.target)).toEqual(['a', 'b']);
    await expect(lastValueFrom(instance.declaredStream())).resolves.toBe('declared a');
    await moduleRef.close();
  });

  it('cancels the engine request when an Observable method is unsubscribed', async () => {
    const { instance, records, moduleRef } = await boot(Chat);
    const ended = new Promise<void>((resolve) => moduleRef.get<Resilience>(RESILIENCE_ENGINE).events.on('record', () => resolve()));
    const sub = instance.hang().subscribe();
    await new Promise((r) => setImmediate(r));
    sub.unsubscribe();
    await ended;
    expect(records[0]).toMatchObject({ error_kind: 'cancelled' });
    await moduleRef.close();
  });

  it('leaves the method untouched without a route and without a fallback method', () => {
    class Plain {
      @RateLimited({ limits: [{ scope: ['user'], limit: 5, window: '1m' }] })
      sync(): number {
        return 42;
      }
    }
    expect(new Plain().sync()).toBe(42);
    expect(Reflect.getMetadata(RATE_LIMITED_METADATA, Plain.prototype.sync)).toMatchObject({ limits: [{ limit: 5 }] });
  });

  it('rejects bad options when the class is defined', () => {
    const define = (options: object) => () => {
      class Bad {
        @RateLimited(options as never)
        async m(): Promise<void> {}
      }
      return Bad;
    };
    expect(define({ route: '' })).toThrow(/route: expected a route name/);
    expect(define({ route: 'chat', key: 'u1' })).toThrow(/key: expected a function/);
    expect(define({ route: 'chat', maxOutputTokens: -1 })).toThrow(/maxOutputTokens/);
    expect(define({ route: 'chat', returns: 'stream' })).toThrow(/returns/);
    expect(define({ route: 'chat', limits: [{ scope: ['model'], limit: 1, window: '1m' }] })).toThrow(/'model' is not known before the handler runs/);
    let caught: unknown;
    try {
      define({ route: 'chat', audience: 'everyone' })();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(NestConfigError);
    expect((caught as NestConfigError).help).toBe('docs/nestjs.md#err_llmr_nest_invalid_options');
  });

  it('rejects unknown keys and values of the wrong type when the class is defined, describing values by type', () => {
    const define = (options: object) => () => {
      class Bad {
        @RateLimited(options as never)
        async m(): Promise<void> {}
      }
      return Bad;
    };
    expect(define({ rout: 'chat' })).toThrow(/^Bad\.m: @RateLimited rout: not an option \(did you mean 'route'\?\); known: route, key, identity,/);
    expect(define({ route: 'chat', identiy: () => ({}) })).toThrow(/@RateLimited identiy: not an option \(did you mean 'identity'\?\)/);
    expect(define({ route: 5n })).toThrow(/@RateLimited route: expected a route name of the policy, got a bigint\./);
    expect(define({ route: 'chat', maxOutputTokens: 10n })).toThrow(/maxOutputTokens: expected a positive integer, got a bigint\./);
    expect(define({ route: 'chat', priority: 5 })).toThrow(/priority: expected a traffic class of the policy \(live, batch, \.\.\.\), got 5\./);
    expect(() => RateLimited(5n as never)(class X {})).toThrow(/^X: @RateLimited expects an options object, got a bigint\./);
  });

  it('rejects @RateLimited on a property or a parameter instead of treating it as a class decorator', () => {
    expect(() => {
      class OnProperty {
        @(RateLimited({ route: 'chat' }) as PropertyDecorator)
        reply = async (): Promise<string> => 'x';
      }
      return OnProperty;
    }).toThrow(/^OnProperty\.reply: @RateLimited decorates classes and methods; this is a property\. Write a method/);
    const asParameter = RateLimited({ route: 'chat' }) as unknown as (t: object, k: string, i: number) => void;
    expect(() => asParameter(class P {}.prototype, 'm', 0)).toThrow(/@RateLimited decorates classes and methods; this is a parameter\./);
    expect(() => asParameter(class P {}.prototype, 'm', 0)).toThrow(NestConfigError);
  });

  it('fails the call with ERR_LLMR_NEST_INVALID_IDENTITY when identity or key returns the wrong shape', async () => {
    @Injectable()
    class Wrong {
      @RateLimited({ route: 'chat', key: () => 42 as unknown as string })
      async byKey(@Target() t?: ResolvedTarget): Promise<string> {
        return t!.id;
      }
      @RateLimited({ route: 'chat', identity: () => ({ user: { id: 'u1' } }) as unknown as Identity })
      async byIdentity(@Target() t?: ResolvedTarget): Promise<string> {
        return t!.id;
      }
      @RateLimited({ route: 'chat', identity: (async () => ({ user: 'u1' })) as never })
      async byAsyncIdentity(@Target() t?: ResolvedTarget): Promise<string> {
        return t!.id;
      }
    }
    const { instance, records, moduleRef } = await boot(Wrong);
    await expect(instance.byKey()).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_IDENTITY',
      message: expect.stringMatching(/^Wrong\.byKey: @RateLimited key\(\.\.\.args\) returned a number; expected a string/),
    });
    await expect(instance.byIdentity()).rejects.toThrow(/^Wrong\.byIdentity: @RateLimited identity\(\.\.\.args\) returned an object whose user is an object;/);
    await expect(instance.byAsyncIdentity()).rejects.toThrow(/returned a Promise \(the function must return the identity itself\)/);
    expect(records).toHaveLength(0); // nothing reached the engine
    await moduleRef.close();
  });

  it('fails the call with ERR_LLMR_NEST_INVALID_OPTIONS when dataClass(...args) returns something other than a string', async () => {
    @Injectable()
    class Classified {
      @RateLimited({ route: 'chat', dataClass: (doc: { dataClass: string }) => doc as unknown as string })
      async whole(_doc: { dataClass: string }, @Target() t?: ResolvedTarget): Promise<string> {
        return t!.id;
      }
      @RateLimited({ route: 'chat', dataClass: (doc: { dataClass?: string }) => doc.dataClass })
      async field(_doc: { dataClass?: string }, @Target() t?: ResolvedTarget): Promise<string> {
        return t!.id;
      }
    }
    const { instance, records, moduleRef } = await boot(Classified);
    await expect(instance.whole({ dataClass: 'secret-board-minutes' })).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_OPTIONS',
      message:
        'Classified.whole: @RateLimited dataClass(...args) returned an object; expected the name of a data class (a string) or undefined. ' +
        'See docs/nestjs.md#err_llmr_nest_invalid_options.',
    });
    expect(records).toHaveLength(0); // nothing reached the engine
    await expect(instance.field({})).resolves.toBe('a'); // undefined: no data class, the first target
    expect(records).toHaveLength(1);
    expect(records[0]!.data_class).toBeUndefined();
    await moduleRef.close();
  });

  it('rejects a wrong identity given to runWithResilienceContext before running anything', () => {
    const fn = jest.fn();
    expect(() => runWithResilienceContext({ identity: 'u1' as never }, fn)).toThrow(
      /^runWithResilienceContext: identity is a string; expected undefined or an identity object whose user, team, tenant and environment are strings/,
    );
    expect(() => runWithResilienceContext({ identity: { team: 7 } as never }, fn)).toThrow(expect.objectContaining({ code: 'ERR_LLMR_NEST_INVALID_IDENTITY' }));
    expect(fn).not.toHaveBeenCalled();
  });

  it('rejects, at start-up, methods run through the engine but declared to return a plain value', async () => {
    @Injectable()
    class Sync {
      @RateLimited({ route: 'chat' })
      reply(): string {
        return 'x';
      }
    }
    await expect(boot(Sync)).rejects.toThrow(/Sync.reply is declared to return String/);
  });

  it('keeps metadata other decorators put on the method', () => {
    const Mark = (): MethodDecorator => (_t, _k, d) => {
      Reflect.defineMetadata('mark', 'kept', d.value as object);
    };
    class Marked {
      @RateLimited({ route: 'chat' })
      @Mark()
      async m(): Promise<void> {}
    }
    expect(Reflect.getMetadata('mark', Marked.prototype.m)).toBe('kept');
    expect(Marked.prototype.m.name).toBe('m');
  });
});

describe('@RateLimited with guard options only on a method of a class with a route', () => {
  @Injectable()
  @RateLimited({ route: 'chat' })
  class Mixed {
    @RateLimited({ limits: [{ scope: ['user'], limit: 5, window: '1m' }] })
    async limitsOnly(): Promise<string> {
      return 'direct';
    }

    @RateLimited({ audience: 'internal' })
    async audienceOnServiceMethod(@Target() target?: ResolvedTarget): Promise<string> {
      return `engine:${target?.id}`;
    }

    @RateLimited({ limits: [{ scope: ['user'], limit: 5, window: '1m' }] })
    @Fallback({ method: 'canned' })
    async limitsWithFallback(@Target() target?: ResolvedTarget): Promise<string> {
      return `engine:${target?.id}`;
    }

    canned(): string {
      return 'canned';
    }
  }

  it('runs a method whose own options are only inbound limits as an undecorated one (no class route)', async () => {
    const { instance, records, moduleRef } = await boot(Mixed);
    expect(effectiveOptions(instance, instance.limitsOnly)?.route).toBeUndefined();
    await expect(instance.limitsOnly()).resolves.toBe('direct');
    expect(records).toHaveLength(0);
    await moduleRef.close();
  });

  it("keeps the class route for a service method's audience and for a method with a fallback", async () => {
    const { instance, records, moduleRef } = await boot(Mixed);
    expect(effectiveOptions(instance, instance.audienceOnServiceMethod)?.route).toBe('chat');
    await expect(runWithResilienceContext({ identity: { user: 'a1' } }, () => instance.audienceOnServiceMethod())).resolves.toBe('engine:a');
    await expect(runWithResilienceContext({ identity: { user: 'a2' } }, () => instance.limitsWithFallback())).resolves.toBe('engine:a');
    expect(records.map((r) => r.route)).toEqual(['chat', 'chat']);
    await moduleRef.close();
  });
});

describe('@RateLimited class options of a subclass', () => {
  /** A base service: its class @RateLimited gives the route of its decorated methods. */
  @RateLimited({ route: 'chat' })
  class BaseChat {
    @RateLimited({ maxOutputTokens: 10 })
    async ask(@Target() target?: ResolvedTarget): Promise<string> {
      return target ? `answered by ${target.id}` : 'ran outside the engine';
    }
  }

  it("keep the base class's route: an inherited decorated method still runs through the engine", async () => {
    /** A subclass that only adds a class default of its own (another priority). */
    @Injectable()
    @RateLimited({ priority: 'batch' })
    class BatchChat extends BaseChat {}
    const { records, instance, moduleRef } = await boot(BatchChat);
    try {
      // Merged over the base class's options field by field, not a replacement dropping the route.
      await expect(instance.ask()).resolves.toBe('answered by a');
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ route: 'chat', priority: 'batch' });
      expect(effectiveOptions(instance, BatchChat.prototype.ask)).toEqual({ route: 'chat', priority: 'batch', maxOutputTokens: 10 });
    } finally {
      await moduleRef.close();
    }
  });

  it("override the base class's field by field, down a chain of subclasses, the method's options winning over all", async () => {
    @RateLimited({ route: 'batch' })
    class BatchRoute extends BaseChat {}
    @Injectable()
    class Undecorated extends BatchRoute {}
    const { records, instance, moduleRef } = await boot(Undecorated);
    try {
      await expect(instance.ask()).resolves.toBe('answered by b'); // route 'batch' of the nearer class, chain ['b']
      expect(records[0]).toMatchObject({ route: 'batch' });
      expect(effectiveOptions(new BaseChat(), BaseChat.prototype.ask)).toEqual({ route: 'chat', maxOutputTokens: 10 }); // the base is untouched
    } finally {
      await moduleRef.close();
    }
  });
});

describe('@RateLimited without a route on a method with a @Target() or @AttemptCtx() parameter', () => {
  it('stops the boot (and bind) with ERR_LLMR_NEST_NO_ROUTE instead of running the method outside the engine', async () => {
    @Injectable()
    @RateLimited({ priority: 'batch' })
    class NoRouteChat {
      @RateLimited({ maxOutputTokens: 10 })
      async ask(@Target() target?: ResolvedTarget): Promise<string> {
        return target ? `answered by ${target.id}` : 'ran outside the engine';
      }
    }
    await expect(boot(NoRouteChat)).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_NO_ROUTE',
      message: expect.stringMatching(/^NoRouteChat\.ask has a @Target\(\) parameter, which only a call through the engine fills, but neither the method nor its class/),
    });
    @Injectable()
    class Routed {
      @RateLimited({ route: 'chat' })
      async ok(): Promise<string> {
        return 'ok';
      }
    }
    const { moduleRef } = await boot(Routed);
    try {
      expect(() => moduleRef.get(ResilienceService).bind(new NoRouteChat())).toThrow(expect.objectContaining({ code: 'ERR_LLMR_NEST_NO_ROUTE' }));
    } finally {
      await moduleRef.close();
    }
  });
});
