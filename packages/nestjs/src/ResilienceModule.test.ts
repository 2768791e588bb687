import 'reflect-metadata';
import { createResilience, definePolicy, ManualClock, MemoryLimiterStore, type Resilience, type ResolvedTarget } from '@llm-resilience/core';
import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { InjectResilience } from './decorators/InjectResilience';
import { RateLimited } from './decorators/RateLimited';
import { Target } from './decorators/Target';
import { NestConfigError } from './NestConfigError';
import { engineFromOptions, ResilienceModule } from './ResilienceModule';
import { ResilienceService } from './ResilienceService';
import { RESILIENCE_ENGINE, RESILIENCE_MODULE_OPTIONS, type ResilienceModuleAsyncOptions, type ResilienceModuleOptions, type ResilienceOptionsFactory } from './types';

const policy = (rpm = 100) =>
  definePolicy({
    targets: { a: { provider: 'openai', model: 'model-a' } },
    routes: { chat: { chain: ['a'] } },
    limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: rpm, window: '1m' }],
  });

@Injectable()
class UsesEngine {
  constructor(@InjectResilience() readonly engine: Resilience) {}

  @RateLimited({ route: 'chat', key: (u: string) => u })
  async ask(user: string, @Target() target?: ResolvedTarget): Promise<string> {
    return `${user}@${target!.model}`;
  }
}

describe('ResilienceModule.forRoot', () => {
  it('provides the engine passed in, to the service and to @InjectResilience()', async () => {
    const engine = createResilience(policy());
    const m = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ engine })], providers: [UsesEngine] }).compile();
    expect(m.get(RESILIENCE_ENGINE)).toBe(engine);
    expect(m.get(ResilienceService).engine).toBe(engine);
    expect(m.get(UsesEngine).engine).toBe(engine);
    await m.close();
  });

  it('builds an engine from the policy, store and clock, and is global', async () => {
    const store = new MemoryLimiterStore();
    const clock = new ManualClock(1_000);
    @Module({ providers: [UsesEngine], exports: [UsesEngine] })
    class FeatureModule {}
    const m = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ policy: policy(), store, clock }), FeatureModule] }).compile();
    await m.init();
    const engine = m.get<Resilience>(RESILIENCE_ENGINE);
    expect(engine.store).toBe(store);
    expect(engine.clock).toBe(clock);
    expect(m.get(UsesEngine).engine).toBe(engine);
    await expect(m.get(UsesEngine).ask('u1')).resolves.toBe('u1@model-a');
    await m.close();
  });

  it('drains and stops an engine it built on shutdown, but leaves an engine passed in to its owner', async () => {
    const built = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ policy: policy() })] }).compile();
    await built.init();
    const own = built.get<Resilience>(RESILIENCE_ENGINE);
    await built.close();
    await expect(own.execute({ route: 'chat' }, async () => 'x')).rejects.toMatchObject({ code: 'ERR_LLMR_SHUT_DOWN' });

    const shared = createResilience(policy());
    const m = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ engine: shared })] }).compile();
    await m.init();
    await m.close();
    await expect(shared.execute({ route: 'chat' }, async () => 'still up')).resolves.toMatchObject({ value: 'still up' });

    const forced = createResilience(policy());
    const m2 = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ engine: forced, shutdownEngine: true })] }).compile();
    await m2.init();
    await m2.close();
    await expect(forced.execute({ route: 'chat' }, async () => 'x')).rejects.toMatchObject({ code: 'ERR_LLMR_SHUT_DOWN' });
  });

  it('fails at start-up on a priority that is not a traffic class of the policy', async () => {
    @Injectable()
    class WrongPriority {
      @RateLimited({ route: 'chat', priority: 'nonexistent' })
      async m(@Target() _t?: ResolvedTarget): Promise<void> {}
    }
    const m = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ policy: policy() })], providers: [WrongPriority] }).compile();
    await expect(m.init()).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_UNKNOWN_PRIORITY',
      message: expect.stringMatching(/^WrongPriority\.m runs with priority 'nonexistent', which is not a traffic class of the policy\. Known traffic classes: live, batch, experiment\./),
    });

    @Injectable()
    @RateLimited({ route: 'chat', priority: 'batch' }) // a class default the method inherits
    class KnownPriority {
      @RateLimited({ key: (u: string) => u })
      async m(_u: string, @Target() t?: ResolvedTarget): Promise<string> {
        return t!.id;
      }
    }
    const ok = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ policy: policy() })], providers: [KnownPriority] }).compile();
    await ok.init();
    await expect(ok.get(KnownPriority).m('u1')).resolves.toBe('a');
    await ok.close();
  });

  it('fails at start-up on a route the policy does not have', async () => {
    @Injectable()
    class Typo {
      @RateLimited({ route: 'chta' })
      async m(@Target() _t?: ResolvedTarget): Promise<void> {}
    }
    const m = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ policy: policy() })], providers: [Typo] }).compile();
    await expect(m.init()).rejects.toThrow("Typo.m runs on route 'chta', which the policy does not define. Known routes: chat.");
  });
});

describe('ResilienceModule options are checked when the application starts', () => {
  const compile = (module: DynamicModule) => Test.createTestingModule({ imports: [module] }).compile();

  it('forRoot: an invalid inbound limit stops the boot with ERR_LLMR_NEST_INVALID_LIMIT naming the option', async () => {
    const engine = createResilience(policy());
    const boot = compile(ResilienceModule.forRoot({ engine, limits: [{ scope: ['user'], limit: -1, window: '1m' }] }));
    await expect(boot).rejects.toBeInstanceOf(NestConfigError);
    await expect(boot).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_LIMIT',
      message: expect.stringMatching(/^ResilienceModule.forRoot limits\[0\]\.limit: expected a positive number, got -1\. See /),
    });
  });

  it('forRoot: an unknown key, engineOptions that are not a plain object, a fake engine or BigInt values stop the boot', async () => {
    const engine = createResilience(policy());
    await expect(compile(ResilienceModule.forRoot({ engine, limts: [] } as never))).rejects.toThrow(
      /^ResilienceModule.forRoot limts: not an option \(did you mean 'limits'\?\); known: engine, policy,/,
    );
    await expect(compile(ResilienceModule.forRoot({ policy: policy(), engineOptions: [] as never }))).rejects.toThrow(
      /^ResilienceModule.forRoot engineOptions: expected a plain object of createResilience options, got an array\./,
    );
    await expect(compile(ResilienceModule.forRoot({ engine: { execute() {} } as never }))).rejects.toThrow(
      /`engine` must be a Resilience engine \(from createResilience\), got an object without shutdown\(\)\./,
    );
    await expect(compile(ResilienceModule.forRoot(5n as never))).rejects.toThrow(/^ResilienceModule.forRoot: expected an options object .*got a bigint\./);
    await expect(compile(ResilienceModule.forRoot({ engine, limits: [{ scope: ['user'], limit: 10n as never, window: '1m' }] }))).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_LIMIT',
      message: expect.stringMatching(/limits\[0\]\.limit: expected a positive number, got a bigint\./),
    });
  });

  it('forRoot: an identity that is not a function, or an unknown audience, stops the boot', async () => {
    const engine = createResilience(policy());
    await expect(compile(ResilienceModule.forRoot({ engine, identity: 'user' as never }))).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_OPTIONS',
      message: expect.stringMatching(/^ResilienceModule.forRoot identity: expected a function/),
    });
    await expect(compile(ResilienceModule.forRoot({ engine, audience: 'everyone' as never }))).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_OPTIONS',
      message: expect.stringMatching(/^ResilienceModule.forRoot audience: expected 'internal' or 'customer', got 'everyone'/),
    });
  });

  it('forRootAsync: the options a factory or a class makes are checked as soon as they are made', async () => {
    await expect(compile(ResilienceModule.forRootAsync({ useFactory: async () => ({ policy: policy(), audience: 'everyone' as never }) }))).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_OPTIONS',
      message: expect.stringMatching(/^ResilienceModule.forRootAsync audience:/),
    });
    @Injectable()
    class BadLimits implements ResilienceOptionsFactory {
      createResilienceOptions(): ResilienceModuleOptions {
        return { policy: policy(), limits: [{ scope: ['model' as never], limit: 1, window: '1m' }] };
      }
    }
    await expect(compile(ResilienceModule.forRootAsync({ useClass: BadLimits }))).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_LIMIT',
      message: expect.stringMatching(/^ResilienceModule.forRootAsync limits\[0\]\.scope: 'model' is not known before the handler runs/),
    });
    await expect(compile(ResilienceModule.forRootAsync({ useFactory: () => undefined as never }))).rejects.toMatchObject({
      message: expect.stringMatching(/^ResilienceModule.forRootAsync: expected an options object \(\{ engine \} or \{ policy \}\), got undefined/),
    });
  });

  it('forRoot: a store, clock, logger or metrics that createResilience refuses stops the boot with a NestConfigError naming the option, the core error as cause', async () => {
    for (const name of ['store', 'clock', 'logger', 'metrics'] as const) {
      const boot = compile(ResilienceModule.forRoot({ policy: policy(), [name]: 'redis' as never }));
      await expect(boot).rejects.toBeInstanceOf(NestConfigError);
      await expect(boot).rejects.toMatchObject({
        code: 'ERR_LLMR_NEST_INVALID_OPTIONS',
        help: 'docs/nestjs.md#err_llmr_nest_invalid_options',
        message: expect.stringMatching(new RegExp(`^ResilienceModule\\.forRoot ${name}: expected .*, got string\\. See docs/nestjs\\.md#err_llmr_nest_invalid_options\\.$`)),
        cause: expect.objectContaining({ code: 'ERR_LLMR_INVALID_OPTIONS', message: expect.stringContaining(`options.${name}:`) }),
      });
    }
  });

  it('forRoot: a bad engineOptions member is named under engineOptions; several bad options are listed together', async () => {
    await expect(compile(ResilienceModule.forRoot({ policy: policy(), engineOptions: { retryBudget: 3 } as never }))).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_OPTIONS',
      message: expect.stringMatching(/^ResilienceModule\.forRoot engineOptions\.retryBudget: expected false, or \{ maxTokens, tokenRatio \}.*, got 3\. See /),
    });
    const several = compile(
      ResilienceModule.forRoot({ policy: policy(), clock: 5 as never, engineOptions: { redact: { secrets: ['short'] }, tokenizr: {} } as never }),
    );
    await expect(several).rejects.toBeInstanceOf(NestConfigError);
    await expect(several).rejects.toThrow(/^ResilienceModule\.forRoot engineOptions\.redact, engineOptions\.tokenizr, clock: invalid createResilience options:\n/);
    await expect(several).rejects.toThrow(/\n {2}- engineOptions\.redact\.secrets\[0\]: expected a string of at least 8 characters/);
    await expect(several).rejects.toThrow(/\n {2}- engineOptions\.tokenizr: unknown option \(known: /);
    await expect(several).rejects.toThrow(/\n {2}- clock: expected an object with now\(\) and sleep\(\), got 5\. See /);
  });

  it('forRoot: a raw policy config the core refuses stops the boot with a NestConfigError naming policy and every bad path', async () => {
    const boot = compile(ResilienceModule.forRoot({ policy: { routes: { chat: { chain: [] } } } }));
    await expect(boot).rejects.toBeInstanceOf(NestConfigError);
    await expect(boot).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_OPTIONS',
      message: expect.stringMatching(/^ResilienceModule\.forRoot policy: Invalid llm-resilience policy \(\d+ problems?\):\n {2}- routes\.chat\.chain: /),
      cause: expect.objectContaining({ code: 'ERR_LLMR_INVALID_POLICY' }),
    });
  });

  it('forRootAsync: options a factory makes that createResilience refuses stop the boot with a NestConfigError worded for forRootAsync', async () => {
    const boot = compile(ResilienceModule.forRootAsync({ useFactory: () => ({ policy: policy(), engineOptions: { stor: {} } as never }) }));
    await expect(boot).rejects.toBeInstanceOf(NestConfigError);
    await expect(boot).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_OPTIONS',
      message: expect.stringMatching(/^ResilienceModule\.forRootAsync engineOptions\.stor: unknown option \(known: .*\)\. See /),
      cause: expect.objectContaining({ code: 'ERR_LLMR_INVALID_OPTIONS' }),
    });
    @Injectable()
    class BadStore implements ResilienceOptionsFactory {
      createResilienceOptions(): ResilienceModuleOptions {
        return { policy: policy(), store: {} as never };
      }
    }
    await expect(compile(ResilienceModule.forRootAsync({ useClass: BadStore }))).rejects.toThrow(
      /^ResilienceModule\.forRootAsync store: expected an object with reserve\(\) and adjust\(\), got object\./,
    );
    await expect(compile(ResilienceModule.forRootAsync({ useFactory: () => ({ policy: { routes: { chat: { chain: [] } } } }) }))).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_OPTIONS',
      message: expect.stringMatching(/^ResilienceModule\.forRootAsync policy: Invalid llm-resilience policy/),
    });
  });

  it('forRoot: drainTimeoutMs next to an engine passed in without shutdownEngine: true is refused, since the module would not drain it', async () => {
    const engine = createResilience(policy());
    const boot = compile(ResilienceModule.forRoot({ engine, drainTimeoutMs: 5_000 }));
    await expect(boot).rejects.toBeInstanceOf(NestConfigError);
    await expect(boot).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_OPTIONS',
      message: expect.stringMatching(/^ResilienceModule\.forRoot drainTimeoutMs: .*would be ignored\. Add `shutdownEngine: true`/),
    });
    const owned = await compile(ResilienceModule.forRoot({ engine, drainTimeoutMs: 5_000, shutdownEngine: true }));
    await owned.close();
  });
});

describe('ResilienceModule.forRootAsync', () => {
  it('builds the options from ConfigService', async () => {
    const m = await Test.createTestingModule({
      imports: [
        ResilienceModule.forRootAsync({
          imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ LLM_USER_RPM: 1 })] })],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({ policy: policy(config.getOrThrow<number>('LLM_USER_RPM')) }),
        }),
      ],
      providers: [UsesEngine],
    }).compile();
    await m.init();
    const svc = m.get(UsesEngine);
    await svc.ask('u1');
    await expect(svc.ask('u1')).rejects.toMatchObject({ kind: 'rate_limited' }); // the limit of 1 came from the config
    await m.close();
  });

  it('accepts useClass and useExisting factories', async () => {
    const engine = createResilience(policy());
    @Injectable()
    class Factory implements ResilienceOptionsFactory {
      createResilienceOptions() {
        return { engine, audience: 'internal' as const };
      }
    }
    const a = await Test.createTestingModule({ imports: [ResilienceModule.forRootAsync({ useClass: Factory })] }).compile();
    expect(a.get(RESILIENCE_ENGINE)).toBe(engine);
    expect(a.get(RESILIENCE_MODULE_OPTIONS)).toMatchObject({ audience: 'internal' });
    await a.close();

    @Module({ providers: [Factory], exports: [Factory] })
    class FactoryModule {}
    const b = await Test.createTestingModule({ imports: [ResilienceModule.forRootAsync({ imports: [FactoryModule], useExisting: Factory })] }).compile();
    expect(b.get(RESILIENCE_ENGINE)).toBe(engine);
    await b.close();
  });

  it('needs a factory', () => {
    expect(() => ResilienceModule.forRootAsync({})).toThrow(NestConfigError);
  });

  it('rejects invalid async options with a NestConfigError when called, never a TypeError', () => {
    const attempts: unknown[] = [undefined, null, { useFactory: 'x' }, { useClass: 'x' }, { useFactroy: () => ({}) }, { useFactory: () => ({}), inject: 'x' }];
    for (const options of attempts) {
      expect(() => ResilienceModule.forRootAsync(options as never)).toThrow(expect.objectContaining({ code: 'ERR_LLMR_NEST_INVALID_OPTIONS' }));
    }
    expect(() => ResilienceModule.forRootAsync(undefined as never)).toThrow(/^ResilienceModule.forRootAsync: expected \{ useFactory, inject\? \}, \{ useClass \} or \{ useExisting \}, got undefined\./);
  });

  it('refuses inject next to useClass or useExisting, where it would be ignored without a word', () => {
    @Injectable()
    class ResilienceConfig implements ResilienceOptionsFactory {
      createResilienceOptions() {
        return { policy: policy() };
      }
    }
    const attempts: [string, ResilienceModuleAsyncOptions][] = [
      ['useClass', { useClass: ResilienceConfig, inject: ['CONFIG'] }],
      ['useExisting', { useExisting: ResilienceConfig, inject: ['CONFIG'] }],
    ];
    for (const [source, options] of attempts) {
      let caught: unknown;
      try {
        ResilienceModule.forRootAsync(options);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(NestConfigError);
      expect(caught).toMatchObject({
        code: 'ERR_LLMR_NEST_INVALID_OPTIONS',
        message: expect.stringMatching(new RegExp(`^ResilienceModule\\.forRootAsync inject: lists the arguments of useFactory; next to ${source} it would be ignored\\.`)),
      });
    }
    // With useFactory, inject stays what it is for (an empty list too).
    expect(() => ResilienceModule.forRootAsync({ useFactory: () => ({ policy: policy() }), inject: [] })).not.toThrow();
  });

  it('stops the boot when a useClass has no createResilienceOptions method', async () => {
    @Injectable()
    class NotAFactory {}
    const boot = Test.createTestingModule({ imports: [ResilienceModule.forRootAsync({ useClass: NotAFactory as never })] }).compile();
    await expect(boot).rejects.toBeInstanceOf(NestConfigError);
    await expect(boot).rejects.toThrow(
      /^ResilienceModule.forRootAsync useClass: NotAFactory has no createResilienceOptions\(\) method; implement ResilienceOptionsFactory\./,
    );
  });

  it('stops the boot on unknown keys in the options a factory makes', async () => {
    const boot = Test.createTestingModule({
      imports: [ResilienceModule.forRootAsync({ useFactory: () => ({ policy: policy(), limts: [] }) as ResilienceModuleOptions })],
    }).compile();
    await expect(boot).rejects.toThrow(/^ResilienceModule.forRootAsync limts: not an option \(did you mean 'limits'\?\)/);
  });
});

describe('engineFromOptions', () => {
  it('needs exactly one of engine and policy', () => {
    const engine = createResilience(policy());
    expect(engineFromOptions({ engine })).toBe(engine);
    expect(() => engineFromOptions({})).toThrow(expect.objectContaining({ code: 'ERR_LLMR_NEST_INVALID_OPTIONS' }));
    expect(() => engineFromOptions({ engine, policy: policy() })).toThrow(/not both/);
    expect(() => engineFromOptions({ engine: {} as Resilience })).toThrow(/must be a Resilience engine/);
  });

  it('validates a raw policy and reports its problems', () => {
    expect(() => engineFromOptions({ policy: { routes: { chat: { chain: [] } } } })).toThrow(/Invalid llm-resilience policy/);
  });
});
