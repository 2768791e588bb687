import 'reflect-metadata';
import { createResilience, definePolicy, MemoryLimiterStore, type Resilience } from '@llm-resilience/core';
import { RateLimited } from './decorators/RateLimited';
import { checkEngineSource, checkModuleOptions } from './moduleOptions';
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
    ['drainTimeoutMs', { drainTimeoutMs: -5 }, /^ResilienceModule.forRoot drainTimeoutMs: expected a number of ms \(0 or more\), got -5\./],
    ['store beside engine', { store: new MemoryLimiterStore() }, /^ResilienceModule.forRoot store: configures the engine the module builds from `policy`; next to `engine` it would be ignored\./],
    ['engineOptions beside engine', { engineOptions: {} }, /^ResilienceModule.forRoot engineOptions: configures the engine/],
  ])('rejects a bad %s with ERR_LLMR_NEST_INVALID_OPTIONS naming the option', (_name, bad, message) => {
    const e = errorOf(() => checkModuleOptions({ engine, ...bad }, WHERE));
    expect(e.code).toBe('ERR_LLMR_NEST_INVALID_OPTIONS');
    expect(e.message).toMatch(message);
  });

  it('rejects engineOptions that are not an object', () => {
    expect(() => checkModuleOptions({ policy, engineOptions: 'fast' as never }, WHERE)).toThrow(
      /^ResilienceModule.forRoot engineOptions: expected an object of createResilience options, got 'fast'\./,
    );
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
    expect(() => checkEngineSource(undefined, 'ResilienceModule.forRootAsync')).toThrow(/^ResilienceModule.forRootAsync: expected an options object, got undefined\./);
  });
});
