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
      redact: { secrets: ['0123456789abcdef0123456789abcdef'], patterns: [/\bgw_[A-Za-z0-9]{24,}/] },
    });
    expect(engine).toBeDefined();
    expect(createResilience(policy, { retryBudget: false })).toBeDefined();
    expect(createResilience(policy, { redact: { secrets: () => [] } })).toBeDefined();
  });

  it('fails at start-up listing every bad option with what was expected, never quoting a value', () => {
    const e = errorOf({ retryBudget: { maxTokens: Number.NaN }, tokenizer: {}, random: 0.5, loger: console, defaultMaxOutputTokens: -1, store: 'redis://:s3cret@host' });
    expect(e).toBeInstanceOf(ResilienceError);
    expect(e.code).toBe('ERR_LLMR_INVALID_OPTIONS');
    expect(e.message.split('\n')).toEqual([
      'Invalid createResilience options:',
      '  - options.retryBudget.maxTokens: expected a finite number > 0, got NaN',
      '  - options.tokenizer: expected an object with count(), got object',
      '  - options.random: expected a function, got 0.5',
      expect.stringMatching(/^ {2}- options\.loger: unknown option \(known: clock, store, tokenizer, logger, /),
      '  - options.defaultMaxOutputTokens: expected a finite number > 0, got -1',
      '  - options.store: expected an object with reserve() and adjust(), got string',
    ]);
    expect(e.message).not.toContain('s3cret');
  });

  it('refuses an unknown retryBudget key (a misspelt maxToken), naming options.retryBudget.<key>', () => {
    expect(errorOf({ retryBudget: { maxToken: 1 } }).message.split('\n')).toEqual([
      'Invalid createResilience options:',
      '  - options.retryBudget.maxToken: unknown option (known: maxTokens, tokenRatio)',
    ]);
  });

  it('reports one problem per bad retryBudget field', () => {
    expect(errorOf({ retryBudget: { tokenRatio: -1, maxTokens: Infinity } }).message.split('\n')).toEqual([
      'Invalid createResilience options:',
      '  - options.retryBudget.tokenRatio: expected a finite number > 0, got -1',
      '  - options.retryBudget.maxTokens: expected a finite number > 0, got Infinity',
    ]);
    expect(errorOf({ retryBudget: true }).message).toContain('options.retryBudget: expected false, or { maxTokens, tokenRatio } with finite numbers > 0, got boolean');
  });

  it('refuses a metrics sink with no Metrics method (a misspelt requests)', () => {
    expect(errorOf({ metrics: { requests() {} } }).message).toContain(
      'options.metrics: expected an object with at least one of request(), attempt(), breaker(), queue(), lateUsage(), got object',
    );
    expect(errorOf({ metrics: {} }).message).toContain('options.metrics: expected an object with at least one of');
  });

  it('refuses a known metrics method that is not a function', () => {
    expect(errorOf({ metrics: { request() {}, attempt: true } }).message.split('\n')).toEqual([
      'Invalid createResilience options:',
      '  - options.metrics.attempt: expected a function, got boolean',
    ]);
  });

  it('accepts a partial metrics sink with other members, like a class instance with its own fields', () => {
    class CountingSink {
      readonly registry = new Map<string, number>();
      request(): void {
        this.registry.set('requests', (this.registry.get('requests') ?? 0) + 1);
      }
    }
    expect(createResilience(policy, { metrics: new CountingSink() as never })).toBeDefined();
    expect(createResilience(policy, { metrics: { lateUsage: () => undefined, label: 'x' } as never })).toBeDefined();
  });

  it('checks a logger level by level', () => {
    expect(errorOf({ logger: { warn: 'stderr' } }).message).toContain('options.logger: expected an object whose warn is a function, got object');
  });
});

describe('createResilience options: redact', () => {
  it('refuses secrets too short to cut and patterns that are not RegExps at start-up, naming each path, never quoting a secret', () => {
    const e = errorOf({ redact: { secrets: ['0123456789abcdef0123456789abcdef', 'abc123', process.env.LLMR_UNSET_KEY], patterns: ['gw_.*'], secret: [] } });
    expect(e.code).toBe('ERR_LLMR_INVALID_OPTIONS');
    expect(e.message.split('\n')).toEqual([
      'Invalid createResilience options:',
      '  - options.redact.secrets[1]: expected a string of at least 8 characters (shorter ones would shred ordinary text), got a string of 6 characters',
      '  - options.redact.secrets[2]: expected a string of at least 8 characters (shorter ones would shred ordinary text), got undefined',
      '  - options.redact.patterns[0]: expected a RegExp, got string',
      '  - options.redact.secret: unknown option (known: secrets, patterns)',
    ]);
    expect(e.message).not.toContain('abc123');
  });

  it('refuses a redact that is not an object, and secrets that are neither an array nor a function', () => {
    expect(errorOf({ redact: 'sk-my-key-0001' }).message).toContain('options.redact: expected an object { secrets?, patterns? }, got string');
    expect(errorOf({ redact: { secrets: 'sk-my-key-0001' } }).message).toContain('options.redact.secrets: expected an array of strings or a function returning them, got string');
    expect(errorOf({ redact: { secrets: 'sk-my-key-0001' } }).message).not.toContain('sk-my-key-0001');
  });
});
