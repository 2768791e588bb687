import {
  clientOption,
  describeValue,
  knownKeys,
  MAX_TIMEOUT_MS,
  nestedOptions,
  oneOfOption,
  prefixOption,
  timeoutOption,
} from './optionChecks';
import { RedisStoreConfigError } from './RedisStoreConfigError';

function thrown(run: () => unknown): RedisStoreConfigError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(RedisStoreConfigError);
    return e as RedisStoreConfigError;
  }
  throw new Error('expected a RedisStoreConfigError');
}

describe('describeValue', () => {
  it('shows numbers and booleans, and only the type of anything else', () => {
    expect(describeValue(-1)).toBe('-1');
    expect(describeValue(NaN)).toBe('NaN');
    expect(describeValue(false)).toBe('false');
    expect(describeValue('redis://:hunter2@cache:6379')).toBe('a string');
    expect(describeValue('')).toBe('an empty string');
    expect(describeValue(null)).toBe('null');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue([1])).toBe('an array');
    expect(describeValue({ password: 'hunter2' })).toBe('an object');
    expect(describeValue(() => 1)).toBe('a function');
    expect(describeValue(1n)).toBe('a bigint');
  });
});

describe('option checks', () => {
  it('name the option path and what it expects, never quoting a string value', () => {
    const e = thrown(() => timeoutOption('timeoutMs', '100', 100));
    expect(e.code).toBe('ERR_LLMR_REDIS_CONFIG');
    expect(e.option).toBe('timeoutMs');
    expect(e.message).toBe(`Invalid Redis store option: \`timeoutMs\` must be a positive number of milliseconds, at most ${MAX_TIMEOUT_MS}, got a string.`);
    const secret = thrown(() => oneOfOption('onRedisError', 'redis://:hunter2@cache', ['fail-open', 'fail-closed'], 'fail-open'));
    expect(secret.message).not.toContain('hunter2');
    expect(secret.message).toContain("one of 'fail-open', 'fail-closed', got a string");
  });

  it('reject timeouts a timer cannot honour, and accept the largest one it can', () => {
    expect(timeoutOption('timeoutMs', MAX_TIMEOUT_MS, 100)).toBe(MAX_TIMEOUT_MS);
    expect(thrown(() => timeoutOption('timeoutMs', MAX_TIMEOUT_MS + 1, 100)).option).toBe('timeoutMs');
    expect(timeoutOption('timeoutMs', undefined, 100)).toBe(100);
  });

  it('reject an empty prefix (the hash tag `{}` would not hold the keys in one slot)', () => {
    expect(thrown(() => prefixOption('prefix', '')).message).toMatch(/`prefix` must be a non-empty string, got an empty string/);
    expect(prefixOption('prefix', 'app')).toBe('app');
  });

  it('reject unknown keys with a hint, and nested ones with their full path', () => {
    const e = thrown(() => knownKeys({ redis: 1, timeout: 5 }, ['redis', 'timeoutMs'], 'RedisLimiterStore'));
    expect(e.option).toBe('timeout');
    expect(e.message).toMatch(/unknown option `timeout` of RedisLimiterStore \(did you mean `timeoutMs`\?\); known options: redis, timeoutMs\./);
    const nested = thrown(() => nestedOptions('probeBackoffMs', { inital: 5 }, ['initial', 'max'], 'RedisLimiterStore'));
    expect(nested.option).toBe('probeBackoffMs.inital');
    expect(nested.message).toMatch(/known options of `probeBackoffMs`: initial, max/);
    expect(thrown(() => nestedOptions('probeBackoffMs', 100, ['initial', 'max'], 'X')).message).toMatch(
      /`probeBackoffMs` must be an object with `initial` and\/or `max`, got 100/,
    );
  });

  it('recognise a client by its method and describe anything else by type', () => {
    const client = { evalsha: () => undefined };
    expect(clientOption('redis', client, 'evalsha')).toBe(client);
    const e = thrown(() => clientOption('redis', 'redis://:hunter2@cache:6379', 'evalsha'));
    expect(e.message).toBe('Invalid Redis store option: `redis` must be an ioredis Redis or Cluster instance, got a string.');
  });
});
