import 'reflect-metadata';
import { createResilience, definePolicy, MemoryLimiterStore, type Resilience } from '@llm-resilience/core';
import { RateLimited } from './decorators/RateLimited';
import { checkAsyncOptions, checkEngineSource, checkModuleOptions } from './moduleOptions';
import { engineFromOptions } from './ResilienceModule';
import { NestConfigError } from './NestConfigError';
import type { InboundLimitRule, ResilienceModuleOptions } from './types';

const policy = definePolicy({ targets: { a: { provider: 'openai', model: 'model-a' } }, routes: { chat: { chain: ['a'] } } });
const engine = createResilience(policy);
const WHERE = 'ResilienceModule.forRoot';

function errorOf(run: () => unknown): NestConfigError {
  try {
    run();
  } catch (e) {
    if (e instanceof NestConfigError) return e;
    throw e;
  }
  throw new Error('expected a NestConfigError');
}

describe('checkModuleOptions', () => {
  it('returns valid options unchanged', () => {
    const options: ResilienceModuleOptions = {
      engine,
      identity: () => ({ user: 'u1' }),
      audience: 'internal',
      limits: [{ scope: ['user'], limit: 20, window: '1m' }],
      shutdownEngine: true,
      drainTimeoutMs: 0,
    };
    expect(checkModuleOptions(options, WHERE)).toBe(options);
    const built = { policy, store: new MemoryLimiterStore(), engineOptions: {} };
    expect(checkModuleOptions(built, WHERE)).toBe(built);
  });

  it.each<[string, object, RegExp]>([
    ['identity', { identity: 'user' }, /^ResilienceModule.forRoot identity: expected a function \(context\) => Identity \| undefined, got 'user'\./],
    ['audience', { audience: 'everyone' }, /^ResilienceModule.forRoot audience: expected 'internal' or 'customer', got 'everyone'\./],
    ['shutdownEngine', { shutdownEngine: 'yes' }, /^ResilienceModule.forRoot shutdownEngine: expected true or false, got 'yes'\./],
    ['drainTimeoutMs', { drainTimeoutMs: -5 }, /^ResilienceModule.forRoot drainTimeoutMs: expected a number of ms from 0 to 2147483647 \(about 24.8 days, the longest timer Node keeps\), got -5\./],
    // Node fires a longer timer after 1 ms: app.close() would stop the engine at once instead of draining.
    ['drainTimeoutMs past the longest timer', { drainTimeoutMs: 2 ** 31 }, /^ResilienceModule.forRoot drainTimeoutMs: expected a number of ms from 0 to 2147483647 .*, got 2147483648\./],
    ['store beside engine', { store: new MemoryLimiterStore() }, /^ResilienceModule.forRoot store: configures the engine the module builds from `policy`; next to `engine` it would be ignored\./],
    ['engineOptions beside engine', { engineOptions: {} }, /^ResilienceModule.forRoot engineOptions: configures the engine/],
  ])('rejects a bad %s with ERR_LLMR_NEST_INVALID_OPTIONS naming the option', (_name, bad, message) => {
    const e = errorOf(() => checkModuleOptions({ engine, ...bad }, WHERE));
    expect(e.code).toBe('ERR_LLMR_NEST_INVALID_OPTIONS');
    expect(e.message).toMatch(message);
  });

  it.each<[string, object, RegExp]>([
    ['beside an engine passed in', { engine, drainTimeoutMs: 5_000 }, /^ResilienceModule.forRoot drainTimeoutMs: bounds the drain of an engine the module shuts down; an engine passed in as `engine` is not shut down by the module unless `shutdownEngine: true`, so it would be ignored\. Add `shutdownEngine: true`/],
    ['beside an engine passed in with shutdownEngine: false', { engine, drainTimeoutMs: 0, shutdownEngine: false }, /^ResilienceModule.forRoot drainTimeoutMs: .*unless `shutdownEngine: true`/],
    ['with a module-built engine and shutdownEngine: false', { policy, drainTimeoutMs: 5_000, shutdownEngine: false }, /^ResilienceModule.forRoot drainTimeoutMs: .*with `shutdownEngine: false` it would be ignored\./],
  ])('refuses drainTimeoutMs for an engine the module does not shut down (%s)', (_name, options, message) => {
    const e = errorOf(() => checkModuleOptions(options, WHERE));
    expect(e.code).toBe('ERR_LLMR_NEST_INVALID_OPTIONS');
    expect(e.message).toMatch(message);
  });

  it('accepts drainTimeoutMs for an engine the module shuts down', () => {
    expect(() => checkModuleOptions({ policy, drainTimeoutMs: 5_000 }, WHERE)).not.toThrow();
    expect(() => checkModuleOptions({ policy, drainTimeoutMs: 5_000, shutdownEngine: true }, WHERE)).not.toThrow();
    expect(() => checkModuleOptions({ engine, drainTimeoutMs: 5_000, shutdownEngine: true }, WHERE)).not.toThrow();
  });

  it('rejects engineOptions that are not an object', () => {
    expect(() => checkModuleOptions({ policy, engineOptions: 'fast' as never }, WHERE)).toThrow(
      /^ResilienceModule.forRoot engineOptions: expected a plain object of createResilience options, got 'fast'\./,
    );
  });

  it.each(['store', 'clock', 'logger', 'metrics'] as const)('refuses engineOptions.%s, a top-level option of the module, naming it and the option to use', (name) => {
    const values = { store: new MemoryLimiterStore(), clock: { now: () => 0 }, logger: { warn: () => undefined }, metrics: {} };
    const alone = errorOf(() => checkModuleOptions({ policy, engineOptions: { [name]: values[name] } as never }, WHERE));
    expect(alone.code).toBe('ERR_LLMR_NEST_INVALID_OPTIONS');
    expect(alone.message).toMatch(
      new RegExp(`^ResilienceModule.forRoot engineOptions\\.${name}: not an option of engineOptions\\. Use the top-level \`${name}\` option of the module`),
    );
    // Next to the top-level one, which used to win silently and drop this one.
    const both = errorOf(() => checkModuleOptions({ policy, [name]: values[name], engineOptions: { [name]: values[name] } } as never, WHERE));
    expect(both.message).toContain(`engineOptions.${name}: not an option of engineOptions; next to the top-level \`${name}\` one of them would be dropped without a word.`);
  });

  it('refuses engineOptions.store in engineFromOptions too, when called without checkModuleOptions', () => {
    const options = { policy, store: new MemoryLimiterStore(), engineOptions: { store: new MemoryLimiterStore() } } as never;
    const e = errorOf(() => engineFromOptions(options, WHERE));
    expect(e.code).toBe('ERR_LLMR_NEST_INVALID_OPTIONS');
    expect(e.message).toMatch(/^ResilienceModule.forRoot engineOptions\.store: .*Use the top-level `store` option/);
  });

  it.each<[InboundLimitRule, string]>([
    [{ scope: ['user'], limit: -1, window: '1m' }, "limits[0].limit: expected a positive number, got -1"],
    [{ scope: ['model' as never], limit: 1, window: '1m' }, "limits[0].scope: 'model' is not known before the handler runs"],
    [{ scope: ['user'], limit: 1, window: '1ms' }, 'limits[0].window: expected a window between'],
  ])('rejects the limit %j with the error @RateLimited gives for it', (rule, message) => {
    const fromModule = errorOf(() => checkModuleOptions({ engine, limits: [rule] }, WHERE));
    const fromDecorator = errorOf(() => {
      class Decorated {
        @RateLimited({ limits: [rule] })
        async m(): Promise<void> {}
      }
      return Decorated;
    });
    expect(fromModule.message.startsWith(`ResilienceModule.forRoot ${message}`)).toBe(true);
    expect(fromDecorator.message.startsWith(`Decorated.m: @RateLimited ${message}`)).toBe(true);
    expect([fromModule.code, fromModule.kind, fromModule.help]).toEqual([fromDecorator.code, fromDecorator.kind, fromDecorator.help]);
    expect(fromModule.code).toBe('ERR_LLMR_NEST_INVALID_LIMIT');
  });
});

describe('checkEngineSource', () => {
  it('needs exactly one of engine and policy, and an options object', () => {
    expect(() => checkEngineSource({ engine }, WHERE)).not.toThrow();
    expect(() => checkEngineSource({ policy }, WHERE)).not.toThrow();
    expect(() => checkEngineSource({ engine, policy }, WHERE)).toThrow(/^ResilienceModule.forRoot: give either `engine`.*not both/);
    expect(() => checkEngineSource({}, WHERE)).toThrow(/^ResilienceModule.forRoot: no engine\./);
    expect(() => checkEngineSource({ engine: {} as Resilience }, WHERE)).toThrow(/`engine` must be a Resilience engine/);
    expect(() => checkEngineSource(undefined, 'ResilienceModule.forRootAsync')).toThrow(/^ResilienceModule.forRootAsync: expected an options object \(\{ engine \} or \{ policy \}\), got undefined\./);
  });
});

describe('checkModuleOptions: unknown keys, plain engineOptions, values described by type', () => {
  it.each<[string, object, string]>([
    ['a misspelt limits', { engine, limts: [] }, "ResilienceModule.forRoot limts: not an option (did you mean 'limits'?); known: engine, policy, store,"],
    ['a misspelt identity', { engine, identiy: () => undefined }, "ResilienceModule.forRoot identiy: not an option (did you mean 'identity'?)"],
    ['an unrelated key', { policy, colour: 'red' }, 'ResilienceModule.forRoot colour: not an option; known: engine,'],
    ['engineOptions that are an array', { policy, engineOptions: [] }, 'ResilienceModule.forRoot engineOptions: expected a plain object of createResilience options, got an array.'],
    ['a BigInt drainTimeoutMs', { engine, drainTimeoutMs: 10n }, 'ResilienceModule.forRoot drainTimeoutMs: expected a number of ms from 0 to 2147483647 (about 24.8 days, the longest timer Node keeps), got a bigint.'],
    ['a policy that is a string', { policy: 'chat' }, 'ResilienceModule.forRoot policy: expected a policy (from definePolicy) or a policy config object, got a string.'],
  ])('rejects %s with ERR_LLMR_NEST_INVALID_OPTIONS', (_name, options, message) => {
    const e = errorOf(() => checkModuleOptions(options, WHERE));
    expect(e.code).toBe('ERR_LLMR_NEST_INVALID_OPTIONS');
    expect(e.message.startsWith(message)).toBe(true);
  });

  it('describes a BigInt inbound limit by its type instead of failing to serialise it', () => {
    const e = errorOf(() => checkModuleOptions({ engine, limits: [{ scope: ['user'], limit: 10n as never, window: '1m' }] }, WHERE));
    expect(e.message).toMatch(/^ResilienceModule.forRoot limits\[0\]\.limit: expected a positive number, got a bigint\./);
  });

  it('rejects options that are not an object by type, BigInt included', () => {
    expect(() => checkModuleOptions(5n, WHERE)).toThrow(/^ResilienceModule.forRoot: expected an options object \(\{ engine \} or \{ policy \}\), got a bigint\./);
    expect(() => checkModuleOptions([], WHERE)).toThrow(/got an array\./);
  });
});

describe('checkEngineSource: a real engine', () => {
  it.each<[string, unknown, string]>([
    ['an object with execute() only', { execute() {} }, 'an object without shutdown()'],
    ['an object without a store', { execute() {}, shutdown() {}, policy: engine.policy, clock: engine.clock }, 'an object without store'],
    ['a policy without traffic classes', { execute() {}, shutdown() {}, policy: { routes: {}, limits: [] }, store: {}, clock: {} }, 'an object whose policy has no trafficClasses'],
    ['a string', 'engine', 'a string'],
    ['a BigInt', 5n, 'a bigint'],
  ])('rejects %s', (_name, fake, got) => {
    expect(() => checkEngineSource({ engine: fake as Resilience }, WHERE)).toThrow(
      `ResilienceModule.forRoot: \`engine\` must be a Resilience engine (from createResilience), got ${got}.`,
    );
  });

  it('accepts an engine of another copy of the core that has every member the module uses', () => {
    const copy = { execute() {}, shutdown() {}, policy: engine.policy, store: engine.store, clock: engine.clock };
    expect(() => checkEngineSource({ engine: copy as unknown as Resilience }, WHERE)).not.toThrow();
  });
});

describe('checkAsyncOptions', () => {
  const ASYNC = 'ResilienceModule.forRootAsync';
  class Factory {
    createResilienceOptions() {
      return { policy };
    }
  }

  it('accepts one source with its arrays', () => {
    expect(() => checkAsyncOptions({ useFactory: () => ({ policy }), inject: [], imports: [], extraProviders: [] })).not.toThrow();
    expect(() => checkAsyncOptions({ useClass: Factory })).not.toThrow();
    expect(() => checkAsyncOptions({ useExisting: Factory })).not.toThrow();
  });

  it.each<[string, unknown, string]>([
    ['undefined', undefined, `${ASYNC}: expected { useFactory, inject? }, { useClass } or { useExisting }, got undefined.`],
    ['a BigInt', 5n, `${ASYNC}: expected { useFactory, inject? }, { useClass } or { useExisting }, got a bigint.`],
    ['no source', {}, `${ASYNC}: give one of useFactory, useClass or useExisting.`],
    ['two sources', { useFactory: () => ({}), useClass: Factory }, `${ASYNC}: give only one of useFactory, useClass or useExisting, got useFactory and useClass.`],
    ['a useFactory that is a string', { useFactory: 'x' }, `${ASYNC} useFactory: expected a function (...deps) => options, got 'x'.`],
    ['a useClass that is a string', { useClass: 'x' }, `${ASYNC} useClass: expected a class implementing ResilienceOptionsFactory, got 'x'.`],
    ['a useExisting that is a number', { useExisting: 5 }, `${ASYNC} useExisting: expected a class (or token) of a provider implementing ResilienceOptionsFactory, got 5.`],
    ['inject that is not an array', { useFactory: () => ({}), inject: 'ConfigService' }, `${ASYNC} inject: expected an array, got 'ConfigService'.`],
    ['a misspelt key', { useFactroy: () => ({}) }, `${ASYNC} useFactroy: not an option (did you mean 'useFactory'?)`],
  ])('rejects %s', (_name, options, message) => {
    const e = errorOf(() => checkAsyncOptions(options));
    expect(e.code).toBe('ERR_LLMR_NEST_INVALID_OPTIONS');
    expect(e.message.startsWith(message)).toBe(true);
  });
});
