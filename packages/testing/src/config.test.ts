import { MAX_TIMER_MS } from '@llm-resilience/core';
import { FakeProviderConfigError, modelSettings, validateConfig, validateFaults } from './config';
import { MAX_SLEEP_MS } from './sse';

function issuesOf(input: unknown): string[] {
  try {
    validateConfig(input);
  } catch (e) {
    if (e instanceof FakeProviderConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

describe('validateConfig', () => {
  it('accepts a full scenario and fills defaults', () => {
    const config = validateConfig({
      seed: 3,
      models: {
        a: { provider: 'anthropic', contextWindow: 1000, maxOutputTokens: 100, limits: { rpm: 1, tpm: 2, itpm: 3, otpm: 4, rpd: 5, concurrency: 6, algorithm: 'window' }, latency: { firstTokenMs: 1, perTokenMs: 0, jitterMs: 2 } },
        b: { contextWindow: 10, latency: { distribution: { p50: 1, p95: 2 } } },
      },
      faults: [{ kind: 'hang', model: 'a', from: 1, to: 2, probability: 0.5, every: 2, count: 1 }],
    });
    expect(config.faults).toHaveLength(1);
    expect(validateConfig({ models: {} }).faults).toEqual([]);
  });

  it('names the path of every problem', () => {
    const issues = issuesOf({
      models: { 'fast-a': { contextWindow: -1, limits: { rpm: 1.5, rmp: 3 }, provider: 'google' } },
      faults: [{ kind: 'explode', model: 'nope', from: 5, to: 2, probability: 2 }],
      extra: true,
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        'config.extra: unknown key; allowed keys: seed, apiKey, models, defaultModel, faults',
        'config.models["fast-a"].contextWindow: expected a number > 0, got -1',
        'config.models["fast-a"].limits.rpm: expected an integer, got 1.5',
        expect.stringMatching(/^config\.models\["fast-a"\]\.limits\.rmp: unknown key/),
        expect.stringMatching(/^config\.models\["fast-a"\]\.provider: expected one of openai, anthropic, got "google"/),
        expect.stringMatching(/^config\.faults\[0\]\.kind: expected one of rate_limit, /),
        'config.faults[0].model: unknown model "nope"; configured: fast-a (or "*")',
        'config.faults[0].to: expected to > from (5), got 2',
        'config.faults[0].probability: expected a number <= 1, got 2',
      ]),
    );
  });

  it('requires models and contextWindow, rejects non-objects', () => {
    expect(issuesOf({})).toEqual(['config.models: required: an object of model name -> settings']);
    expect(issuesOf({ models: { a: {} } })).toEqual(['config.models["a"].contextWindow: required']);
    expect(issuesOf([])).toEqual(['config: expected an object, got an array']);
    expect(issuesOf({ models: { a: { contextWindow: 5, latency: { firstTokenMs: 1, distribution: { p50: 5, p95: 1 } } } } })).toEqual([
      'config.models["a"].latency.distribution.p95: expected p95 >= p50 (5), got 1',
      'config.models["a"].latency.firstTokenMs: use either firstTokenMs (+ jitterMs) or distribution, not both',
    ]);
  });

  it('checks the errorType of a stream_error fault', () => {
    expect(issuesOf({ models: {}, faults: [{ kind: 'stream_error', errorType: 'rate_limit', afterChunks: 2 }] })).toEqual([]);
    expect(issuesOf({ models: {}, faults: [{ kind: 'stream_error', errorType: 'overload' }] })).toEqual([
      'config.faults[0].errorType: expected one of overloaded, rate_limit, server_error, got "overload"',
    ]);
  });

  it('refuses a delay above the longest timer Node keeps (it would fire after 1 ms), for every ms option that feeds one timer', () => {
    expect(MAX_SLEEP_MS).toBe(MAX_TIMER_MS);
    const over = MAX_TIMER_MS + 1;
    const bound = `expected a number of ms <= ${MAX_TIMER_MS} (the longest timer Node keeps; a longer one fires after 1 ms), got`;
    // A timeout fault meant to hang would answer at once: the scenario would silently test nothing.
    expect(issuesOf({ models: { m: { contextWindow: 1000 } }, faults: [{ kind: 'timeout', delayMs: 3_000_000_000 }] })).toEqual([
      `config.faults[0].delayMs: ${bound} 3000000000`,
    ]);
    expect(issuesOf({ models: {}, faults: [{ kind: 'slow_tokens', perTokenMs: over }] })).toEqual([`config.faults[0].perTokenMs: ${bound} ${over}`]);
    expect(issuesOf({ models: { m: { contextWindow: 10, latency: { firstTokenMs: over, perTokenMs: over, jitterMs: over } } } })).toEqual([
      `config.models["m"].latency.firstTokenMs: ${bound} ${over}`,
      `config.models["m"].latency.perTokenMs: ${bound} ${over}`,
      `config.models["m"].latency.jitterMs: ${bound} ${over}`,
    ]);
    expect(issuesOf({ models: { m: { contextWindow: 10, latency: { distribution: { p50: over, p95: over } } } } })).toEqual([
      `config.models["m"].latency.distribution.p50: ${bound} ${over}`,
      `config.models["m"].latency.distribution.p95: ${bound} ${over}`,
    ]);
    // firstTokenMs + jitterMs are waited in one timer.
    expect(issuesOf({ models: { m: { contextWindow: 10, latency: { firstTokenMs: MAX_TIMER_MS, jitterMs: 1 } } } })).toEqual([
      `config.models["m"].latency.jitterMs: expected firstTokenMs + jitterMs <= ${MAX_TIMER_MS} (one timer; a longer one fires after 1 ms), got ${MAX_TIMER_MS} + 1`,
    ]);
    expect(() => validateFaults([{ kind: 'slow_first_token', delayMs: over }], validateConfig({ models: {} }))).toThrow(/faults\[0\]\.delayMs: expected a number of ms <= 2147483647/);
    // The bound itself is accepted.
    expect(issuesOf({ models: { m: { contextWindow: 10, latency: { firstTokenMs: MAX_TIMER_MS, perTokenMs: MAX_TIMER_MS } } }, faults: [{ kind: 'timeout', delayMs: MAX_TIMER_MS }] })).toEqual([]);
  });

  it('allows faults on any model name when defaultModel is set', () => {
    expect(issuesOf({ models: {}, defaultModel: { contextWindow: 10 }, faults: [{ kind: 'auth', model: 'whatever' }] })).toEqual([]);
  });

  it('has a stable code and kind, and a message that says what to do', () => {
    try {
      validateConfig({ models: 1 });
      throw new Error('expected a throw');
    } catch (e) {
      expect(e).toBeInstanceOf(FakeProviderConfigError);
      const err = e as FakeProviderConfigError;
      expect(err.code).toBe('ERR_LLMR_FAKE_PROVIDER_CONFIG');
      expect(err.kind).toBe('invalid_request');
      expect(err.message).toMatch(/fix these and start again/);
    }
  });
});

describe('validateFaults', () => {
  it('checks runtime fault lists against the configured models', () => {
    const config = validateConfig({ models: { a: { contextWindow: 10 } } });
    expect(validateFaults([{ kind: 'auth', model: 'a' }], config)).toEqual([{ kind: 'auth', model: 'a' }]);
    expect(() => validateFaults([{ kind: 'auth', model: 'b' }], config)).toThrow(/faults\[0\]\.model: unknown model "b"/);
    expect(() => validateFaults({}, config)).toThrow(/faults: expected an array/);
  });
});

describe('modelSettings', () => {
  it('falls back to defaultModel, else undefined', () => {
    const a = { contextWindow: 1 };
    const d = { contextWindow: 2 };
    expect(modelSettings({ models: { a } }, 'a')).toBe(a);
    expect(modelSettings({ models: { a } }, 'b')).toBeUndefined();
    expect(modelSettings({ models: { a }, defaultModel: d }, 'b')).toBe(d);
    expect(modelSettings({ models: { a } }, 'toString')).toBeUndefined();
  });
});
