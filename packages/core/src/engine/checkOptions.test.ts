import { ResilienceError } from '../errors/ResilienceError';
import { definePolicy } from '../policy/definePolicy';
import { ManualClock } from '../clock';
import { MemoryLimiterStore } from '../limits/MemoryLimiterStore';
import { createResilience } from './createResilience';
import type { ResilienceOptions } from './types';

const policy = definePolicy({ targets: { a: { provider: 'openai', model: 'm' } }, routes: { chat: { chain: ['a'] } } });

function errorOf(options: unknown): ResilienceError {
  try {
    createResilience(policy, options as ResilienceOptions);
  } catch (e) {
    return e as ResilienceError;
  }
  throw new Error('createResilience accepted the options');
}

describe('createResilience options', () => {
  it('accepts every documented option with a valid value', () => {
    const clock = new ManualClock(0);
    const engine = createResilience(policy, {
      clock,
      store: new MemoryLimiterStore({ clock }),
      tokenizer: { count: (t) => t.length },
      logger: { warn: () => undefined },
      random: () => 0.5,
      usage: () => undefined,
      text: () => undefined,
      retryBudget: { maxTokens: 5 },
      defaultMaxOutputTokens: 256,
      metrics: { request: () => undefined, attempt: () => undefined, breaker: () => undefined, queue: () => undefined },
    });
    expect(engine).toBeDefined();
    expect(createResilience(policy, { retryBudget: false })).toBeDefined();
  });

  it('fails at start-up listing every bad option with what was expected, never quoting a value', () => {
    const e = errorOf({ retryBudget: { maxTokens: Number.NaN }, tokenizer: {}, random: 0.5, loger: console, defaultMaxOutputTokens: -1, store: 'redis://:s3cret@host' });
    expect(e).toBeInstanceOf(ResilienceError);
    expect(e.code).toBe('ERR_LLMR_INVALID_OPTIONS');
    expect(e.message.split('\n')).toEqual([
      'Invalid createResilience options:',
      '  - options.retryBudget: expected false, or { maxTokens, tokenRatio } with finite numbers > 0, got object',
      '  - options.tokenizer: expected an object with count(), got object',
      '  - options.random: expected a function, got 0.5',
      expect.stringMatching(/^ {2}- options\.loger: unknown option \(known: clock, store, tokenizer, logger, /),
      '  - options.defaultMaxOutputTokens: expected a finite number > 0, got -1',
      '  - options.store: expected an object with reserve() and adjust(), got string',
    ]);
    expect(e.message).not.toContain('s3cret');
  });

  it('checks a logger level by level', () => {
    expect(errorOf({ logger: { warn: 'stderr' } }).message).toContain('options.logger: expected an object whose warn is a function, got object');
  });
});
