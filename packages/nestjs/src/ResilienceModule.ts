import { createResilience, type Resilience } from '@llm-resilience/core';
import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { checkAsyncOptions, checkEngineOptions, checkEngineSource, checkModuleOptions, engineBuildError, optionsFromFactory } from './moduleOptions';
import { ResilienceService } from './ResilienceService';
import {
  RESILIENCE_ENGINE,
  RESILIENCE_MODULE_OPTIONS,
  type ResilienceModuleAsyncOptions,
  type ResilienceModuleOptions,
  type ResilienceOptionsFactory,
} from './types';

/**
 * The engine of the module options: the one passed in, or one built from the policy. Throws
 * `ERR_LLMR_NEST_INVALID_OPTIONS`, naming the option after `where`, unless exactly one of `engine`
 * and `policy` is given, or when `createResilience` refuses the policy or an option of the engine
 * (`store`, `clock`, `logger`, `metrics`, `engineOptions`; the core's error is the `cause`).
 *
 * @example
 * ```ts
 * const engine = engineFromOptions({ policy, store }, 'ResilienceModule.forRoot');
 * ```
 */
export function engineFromOptions(options: ResilienceModuleOptions, where = 'ResilienceModule'): Resilience {
  checkEngineSource(options, where);
  if (options.engine !== undefined) return options.engine;
  // Called without checkModuleOptions too: never let a top-level option drop one of engineOptions silently.
  checkEngineOptions(options, where);
  try {
    return createResilience(options.policy!, {
      ...options.engineOptions,
      ...(options.store !== undefined ? { store: options.store } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
      ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
    });
  } catch (e) {
    throw engineBuildError(e, options, where);
  }
}

/** The engine provider of `forRoot` / `forRootAsync`; errors name the option after `where`. */
function engineProvider(where: string): Provider {
  return {
    provide: RESILIENCE_ENGINE,
    useFactory: (options: ResilienceModuleOptions) => engineFromOptions(options, where),
    inject: [RESILIENCE_MODULE_OPTIONS],
  };
}

const FOR_ROOT_WHERE = 'ResilienceModule.forRoot';

const EXPORTS = [RESILIENCE_MODULE_OPTIONS, RESILIENCE_ENGINE, ResilienceService];

/**
 * The NestJS module of llm-resilience: global, provides the shared engine (`RESILIENCE_ENGINE`),
 * `ResilienceService` and the options (`RESILIENCE_MODULE_OPTIONS`), and makes `@RateLimited` /
 * `@Fallback` methods of the application find that engine. Register it once, in the root module.
 *
 * @example
 * ```ts
 * const engine = createResilience(policy, { store });     // also used by Express / LangChain code
 * @Module({ imports: [ResilienceModule.forRoot({ engine })], providers: [SupportService] })
 * export class AppModule {}
 * ```
 */
@Module({})
export class ResilienceModule {
  /**
   * Registers the module with options known up front. They are checked when the application starts
   * (see `checkModuleOptions`): a bad option stops the boot with a `NestConfigError` naming it
   * (`ResilienceModule.forRoot limits[0].limit: ...`).
   *
   * @example
   * ```ts
   * ResilienceModule.forRoot({ policy: definePolicy(config), store: new MemoryLimiterStore() });
   * ```
   */
  static forRoot(options: ResilienceModuleOptions): DynamicModule {
    return {
      module: ResilienceModule,
      global: true,
      imports: [DiscoveryModule],
      providers: [
        { provide: RESILIENCE_MODULE_OPTIONS, useFactory: () => checkModuleOptions(options, FOR_ROOT_WHERE) },
        engineProvider(FOR_ROOT_WHERE),
        ResilienceService,
      ],
      exports: EXPORTS,
    };
  }

  /**
   * Registers the module with options made by a factory (e.g. from `ConfigService`) or a class. The
   * async options themselves are checked here (one of `useFactory`, `useClass`, `useExisting`; no
   * unknown key), the options the factory makes as soon as it made them, during the boot
   * (`ResilienceModule.forRootAsync audience: ...`).
   *
   * @example
   * ```ts
   * ResilienceModule.forRootAsync({
   *   imports: [ConfigModule],
   *   inject: [ConfigService],
   *   useFactory: (config: ConfigService) => ({ policy: policyFor(config.getOrThrow('LLM_USER_RPM')) }),
   * });
   * ```
   */
  static forRootAsync(options: ResilienceModuleAsyncOptions): DynamicModule {
    checkAsyncOptions(options, ASYNC_WHERE);
    return {
      module: ResilienceModule,
      global: true,
      imports: [DiscoveryModule, ...(options.imports ?? [])],
      providers: [...asyncOptionsProviders(options), engineProvider(ASYNC_WHERE), ResilienceService, ...(options.extraProviders ?? [])],
      exports: EXPORTS,
    };
  }
}

const ASYNC_WHERE = 'ResilienceModule.forRootAsync';

function asyncOptionsProviders(options: ResilienceModuleAsyncOptions): Provider[] {
  const useFactory = options.useFactory;
  if (useFactory) {
    return [
      {
        provide: RESILIENCE_MODULE_OPTIONS,
        useFactory: async (...deps: unknown[]) => checkModuleOptions(await useFactory(...deps), ASYNC_WHERE),
        inject: options.inject ?? [],
      },
    ];
  }
  const option = options.useClass ? 'useClass' : 'useExisting';
  const factoryClass = (options.useClass ?? options.useExisting)!;
  const fromFactory: Provider = {
    provide: RESILIENCE_MODULE_OPTIONS,
    useFactory: async (factory: ResilienceOptionsFactory) => checkModuleOptions(await optionsFromFactory(factory, option, ASYNC_WHERE), ASYNC_WHERE),
    inject: [factoryClass],
  };
  return options.useClass ? [fromFactory, { provide: options.useClass, useClass: options.useClass }] : [fromFactory];
}
