import 'reflect-metadata';
import { createResilience, definePolicy, type ErrorKind, type ResolvedTarget } from '@llm-resilience/core';
import { Injectable, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import OpenAI from 'openai';
import { concat, lastValueFrom, Observable, of, throwError } from 'rxjs';
import { ResilienceModule } from '../ResilienceModule';
import { Fallback } from './Fallback';
import { RateLimited } from './RateLimited';
import { AttemptCtx, Target } from './Target';

const overloaded = () => OpenAI.APIError.generate(503, { error: { message: 'busy' } }, undefined, new Headers());
const filtered = () => OpenAI.APIError.generate(400, { error: { message: 'no', code: 'content_filter' } }, undefined, new Headers());

async function boot<T>(cls: Type<T>) {
  const engine = createResilience(
    definePolicy({
      targets: { a: { provider: 'openai', model: 'model-a' }, b: { provider: 'openai', model: 'model-b' } },
      routes: { chat: { chain: ['a', 'b'], retry: { perKind: { overloaded: 0 } } } },
    }),
  );
  const moduleRef = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ engine })], providers: [cls] }).compile();
  await moduleRef.init();
  return { instance: moduleRef.get(cls), close: () => moduleRef.close() };
}

@Injectable()
class Replies {
  calls: string[] = [];
  fallbackArgs: unknown[][] = [];
  failWith: () => unknown = overloaded;

  @RateLimited({ route: 'chat' })
  @Fallback({ chain: true })
  @Fallback({ method: 'canned' })
  async reply(_question: string, @Target() target?: ResolvedTarget): Promise<string> {
    this.calls.push(target!.id);
    throw this.failWith();
  }

  canned(...args: unknown[]): string {
    this.fallbackArgs.push(args);
    return 'canned';
  }

  @RateLimited({ route: 'chat' })
  @Fallback({ method: 'cannedStream', on: ['overloaded'] })
  reply$(@Target() target?: ResolvedTarget): Observable<string> {
    this.calls.push(target!.id);
    return throwError(this.failWith);
  }

  cannedStream(_target: undefined, error: { kind: ErrorKind }): Observable<string> {
    return of(`canned after ${error.kind}`);
  }

  /** No route: the fallback guards the method alone, resilience4j style. */
  @Fallback({ method: 'canned', on: ['overloaded'] })
  async local(question: string): Promise<string> {
    this.calls.push(question);
    throw this.failWith();
  }
}

@Injectable()
class Optionals {
  received: unknown[][] = [];

  @Fallback({ method: 'canned' })
  async ask(_q: string, _opts?: { lang: string }): Promise<string> {
    throw overloaded();
  }

  @Fallback({ method: 'canned' })
  async askWithDefault(_q: string, _opts: { lang: string } = { lang: 'en' }): Promise<string> {
    throw overloaded();
  }

  @RateLimited({ route: 'chat' })
  @Fallback({ method: 'canned' })
  async askRouted(_q: string, _opts?: { lang: string }, @Target() _target?: ResolvedTarget): Promise<string> {
    throw overloaded();
  }

  @Fallback({ method: 'canned' })
  ask$(_q: string, _opts?: { lang: string }): Observable<string> {
    return throwError(overloaded);
  }

  canned(...args: unknown[]): string {
    this.received.push(args);
    return 'canned';
  }
}

describe('@Fallback({ method }) arguments: the call\'s, padded to the declared parameters, then the error', () => {
  const isError = expect.objectContaining({ kind: 'overloaded' });

  it('pads optional parameters the caller left out, so the error comes right after the parameter list', async () => {
    const { instance, close } = await boot(Optionals);
    await expect(instance.ask('q')).resolves.toBe('canned');
    await expect(instance.askWithDefault('q')).resolves.toBe('canned'); // design:paramtypes counts the parameter with a default
    await expect(instance.askRouted('q')).resolves.toBe('canned'); // through the engine, @Target() last
    await expect(lastValueFrom(instance.ask$('q'))).resolves.toBe('canned');
    expect(instance.received).toEqual([
      ['q', undefined, expect.any(OpenAI.InternalServerError)],
      ['q', undefined, expect.any(OpenAI.InternalServerError)],
      ['q', undefined, undefined, isError],
      ['q', undefined, expect.any(OpenAI.InternalServerError)],
    ]);
    await close();
  });

  it('keeps the arguments the caller passed, extra ones included, and puts the error last', async () => {
    const { instance, close } = await boot(Optionals);
    await instance.ask('q', { lang: 'fr' });
    await (instance.ask as (...args: unknown[]) => Promise<string>)('q', { lang: 'fr' }, 'extra');
    expect(instance.received).toEqual([
      ['q', { lang: 'fr' }, expect.any(OpenAI.InternalServerError)],
      ['q', { lang: 'fr' }, 'extra', expect.any(OpenAI.InternalServerError)],
    ]);
    await close();
  });

  it('without design:paramtypes (esbuild, tsx) counts Function.length, which stops before a parameter with a default', async () => {
    class NoMetadata {
      received: unknown[][] = [];
      async ask(_q: string, _opts: { lang: string } = { lang: 'en' }): Promise<string> {
        throw overloaded();
      }
      canned(...args: unknown[]): string {
        this.received.push(args);
        return 'canned';
      }
    }
    const descriptor = Object.getOwnPropertyDescriptor(NoMetadata.prototype, 'ask')!;
    Object.defineProperty(NoMetadata.prototype, 'ask', Fallback({ method: 'canned' })(NoMetadata.prototype, 'ask', descriptor) as PropertyDescriptor);
    const alone = new NoMetadata();
    await expect(alone.ask('q')).resolves.toBe('canned');
    expect(alone.received).toEqual([['q', expect.any(OpenAI.InternalServerError)]]);
  });
});

describe('@Fallback', () => {
  it('walks the chain, then calls the fallback method with the arguments padded to @Target() and the error', async () => {
    const { instance, close } = await boot(Replies);
    await expect(instance.reply('where is my order?')).resolves.toBe('canned');
    expect(instance.calls).toEqual(['a', 'b']);
    expect(instance.fallbackArgs).toHaveLength(1);
    const [question, target, error] = instance.fallbackArgs[0]!;
    expect([question, target]).toEqual(['where is my order?', undefined]);
    expect(error).toMatchObject({ code: 'ERR_LLMR_CHAIN_EXHAUSTED', kind: 'overloaded' });
    await close();
  });

  it('does not hide kinds outside `on` (policy rejections by default)', async () => {
    const { instance, close } = await boot(Replies);
    instance.failWith = filtered;
    await expect(instance.reply('q')).rejects.toMatchObject({ kind: 'policy_rejected' });
    expect(instance.calls).toEqual(['a']); // policy rejections do not fall back along the chain either
    expect(instance.fallbackArgs).toHaveLength(0);
    await close();
  });

  it('falls back in Observable methods too', async () => {
    const { instance, close } = await boot(Replies);
    await expect(lastValueFrom(instance.reply$())).resolves.toBe('canned after overloaded');
    await close();
  });

  it('guards a method without a route, with no engine involved', async () => {
    class Alone {
      @Fallback({ method: 'backup' })
      async work(): Promise<string> {
        throw overloaded();
      }
      backup(error: unknown): string {
        return `backup: ${(error as Error).constructor.name}`;
      }
    }
    await expect(new Alone().work()).resolves.toBe('backup: InternalServerError');
    const { instance, close } = await boot(Replies);
    instance.failWith = filtered;
    await expect(instance.local('x')).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await close();
  });

  it('guards an Observable method without a route that throws before returning its Observable, as its Promise form', async () => {
    class AloneStream {
      @Fallback({ method: 'canned' })
      stream$(): Observable<string> {
        throw overloaded(); // the client call failed synchronously, before any Observable was made
      }
      @Fallback({ method: 'canned' })
      async ask(): Promise<string> {
        throw overloaded();
      }
      canned(): Observable<string> {
        return of('canned');
      }
    }
    await expect(new AloneStream().ask()).resolves.toBe('canned');
    await expect(lastValueFrom(new AloneStream().stream$())).resolves.toBe('canned');
  });

  it('does not splice the fallback method’s answer after values an Observable method already emitted', async () => {
    class Streamer {
      @Fallback({ method: 'canned' })
      stream$(): Observable<string> {
        return concat(of('Hel', 'lo'), throwError(() => overloaded()));
      }
      canned(): Observable<string> {
        return of('canned answer');
      }
    }
    const seen: string[] = [];
    const error = await new Promise<unknown>((resolve) => new Streamer().stream$().subscribe({ next: (v) => seen.push(v), error: resolve, complete: () => resolve(undefined) }));
    expect(seen).toEqual(['Hel', 'lo']);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
  });

  it('rejects unknown keys, and @Fallback on a class or a property', () => {
    expect(() => {
      class Typo {
        @Fallback({ method: 'canned', onn: ['overloaded'] } as never)
        async m(): Promise<string> {
          return 'x';
        }
        canned(): string {
          return 'c';
        }
      }
      return Typo;
    }).toThrow(/^Typo\.m: @Fallback onn: not an option \(did you mean 'on'\?\); known: method, on\./);
    expect(() => {
      class ChainTypo {
        @Fallback({ chain: true, method: 'x' } as never)
        async m(@Target() _t?: ResolvedTarget): Promise<void> {}
      }
      return ChainTypo;
    }).toThrow(/apply @Fallback twice for both/);
    expect(() => {
      class ChainExtra {
        @Fallback({ chain: true, on: ['overloaded'] } as never)
        async m(@Target() _t?: ResolvedTarget): Promise<void> {}
      }
      return ChainExtra;
    }).toThrow(/^ChainExtra\.m: @Fallback on: not an option; known: chain \(apply @Fallback\(\{ method, on \}\) separately\)\./);
    expect(() => (Fallback({ chain: true }) as unknown as ClassDecorator)(class OnClass {})).toThrow(/^@Fallback decorates methods; it was applied to a class\./);
    expect(() => {
      class OnProperty {
        @(Fallback({ method: 'x' }) as PropertyDecorator)
        reply = async (): Promise<string> => 'x';
      }
      return OnProperty;
    }).toThrow(/^@Fallback decorates methods; it was applied to a property or parameter \(OnProperty\.reply\)\./);
    expect(() => {
      class Kinds {
        @Fallback({ method: 'canned', on: 'overloaded' } as never)
        async m(): Promise<string> {
          return 'x';
        }
        canned(): string {
          return 'c';
        }
      }
      return Kinds;
    }).toThrow(/on: expected an array of error kinds, such as \['overloaded'\], got 'overloaded'\./);
  });

  it('catches mistakes when the class is defined', () => {
    expect(() => {
      class NoTarget {
        @Fallback({ chain: true })
        async m(): Promise<void> {}
      }
      return NoTarget;
    }).toThrow(expect.objectContaining({ code: 'ERR_LLMR_NEST_NO_TARGET_PARAM' }));
    expect(() => {
      class Typo {
        @Fallback({ method: 'cannedReplyy' })
        async m(): Promise<void> {}
        cannedReply(): void {}
      }
      return Typo;
    }).toThrow(expect.objectContaining({ code: 'ERR_LLMR_NEST_UNKNOWN_FALLBACK_METHOD' }));
    expect(() => {
      class BadKind {
        @Fallback({ method: 'b', on: ['busy' as ErrorKind] })
        async m(): Promise<void> {}
        b(): void {}
      }
      return BadKind;
    }).toThrow(/'busy' is not an error kind/);
    expect(() => {
      class Both {
        @Fallback({ method: 'b', chain: true } as never)
        async m(@Target() _t?: ResolvedTarget): Promise<void> {}
        b(): void {}
      }
      return Both;
    }).toThrow(/apply @Fallback twice/);
  });

  it('needs a route for the model chain (found at start-up, or at the first call of an unbound instance)', async () => {
    @Injectable()
    class NoRoute {
      @Fallback({ chain: true })
      async m(@AttemptCtx() _ctx?: unknown): Promise<void> {}
      @Fallback({ chain: true })
      m$(@AttemptCtx() _ctx?: unknown): Observable<void> {
        return of(undefined);
      }
    }
    await expect(boot(NoRoute)).rejects.toMatchObject({ code: 'ERR_LLMR_NEST_NO_ROUTE' });
    await expect(new NoRoute().m()).rejects.toMatchObject({ code: 'ERR_LLMR_NEST_NO_ROUTE' });
    await expect(lastValueFrom(new NoRoute().m$())).rejects.toMatchObject({ code: 'ERR_LLMR_NEST_NO_ROUTE' });
  });
});
