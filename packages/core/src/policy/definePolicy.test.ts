import { z } from 'zod';
import { PolicyConfigError } from '../errors/ResilienceError';
import { definePolicy } from './definePolicy';

const targets = {
  'fast-a': { provider: 'openai', model: 'gpt-4o-mini', contextWindow: 128_000, price: { input: 0.15, output: 0.6 } },
  'fast-b': { provider: 'anthropic', model: 'claude-haiku', contextWindow: 200_000, dataClasses: ['public'] },
};

function problems(input: unknown): string[] {
  try {
    definePolicy(input as never, { onWarning: () => {} });
  } catch (e) {
    if (e instanceof PolicyConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  throw new Error('expected definePolicy to throw');
}

describe('definePolicy', () => {
  it('normalizes targets, routes, limits and defaults', () => {
    const policy = definePolicy(
      {
        targets,
        routes: { chat: { chain: ['fast-a', 'fast-b'] } },
        limits: [
          { scope: ['user'], metric: 'requests', limit: 20, window: '1m' },
          { scope: ['team'], metric: 'totalTokens', limit: 500_000, window: '1h' },
          { scope: ['model'], metric: 'concurrency', limit: 4 },
        ],
      },
      { onWarning: () => {} },
    );
    const chat = policy.routes.chat!;
    expect(chat.chain.map((t) => t.id)).toEqual(['fast-a', 'fast-b']);
    expect(chat.priority).toBe('live');
    expect(chat.retry.maxAttempts).toBe(4);
    expect(chat.retry.perKind.rate_limited).toBe(2);
    expect(chat.retry.perKind.quota_exhausted).toBe(0);
    expect(chat.fallbackOn.has('overloaded')).toBe(true);
    expect(chat.fallbackOn.has('policy_rejected')).toBe(false);
    expect(policy.limits.map((l) => [l.id, l.windowMs])).toEqual([
      ['user:requests:60000', 60_000],
      ['team:totalTokens:3600000', 3_600_000],
      ['model:concurrency:inflight', 0],
    ]);
    expect(policy.targets['fast-a']!.tokenizer).toBe('openai');
    expect(policy.targets['fast-b']!.tokenizer).toBe('heuristic');
    expect(policy.breaker.errorRate).toBe(0.2);
    expect(Object.isFrozen(policy.routes.chat)).toBe(true);
  });

  it('names the path and the expected value of an inline chain target', () => {
    expect(
      problems({ routes: { support_reply: { chain: ['x', { provider: 'openai' }] } }, targets: { x: targets['fast-a'] } }),
    ).toEqual(['routes.support_reply.chain[1].model: expected string, got undefined']);
  });

  it('lists every problem at once', () => {
    const found = problems({
      targets: { a: { provider: 'openai', model: 'm', contextWindw: 1 } },
      routes: { chat: { chain: ['a', 'missing'], priority: 'urgent' } },
      limits: [
        { scope: ['user'], metric: 'requests', limit: 20, window: '1y' },
        { scope: ['planet'], metric: 'requests', limit: -1, window: '1m' },
        { scope: ['user'], metric: 'inputTokens', limit: 10 },
      ],
    });
    expect(found).toEqual(
      expect.arrayContaining([
        "targets.a: unexpected key(s) 'contextWindw'",
        expect.stringMatching(/^limits\[0\]\.window: expected a window .* got "1y"$/),
        expect.stringMatching(/^limits\[1\]\.scope\[0\]: expected one of "user", .* got "planet"$/),
        'limits[1].limit: expected > 0, got -1',
        "limits[2].window: expected a window between '1s' and '1d' for metric 'inputTokens', got undefined",
        // References are checked too, although the shape is invalid.
        "routes.chat.chain[1]: expected the name of a target (one of 'a'), got 'missing'",
        "routes.chat.priority: expected a traffic class (one of 'live', 'batch', 'experiment'), got 'urgent'",
      ]),
    );
    expect(found).toHaveLength(7);
  });

  it('reports unknown chain targets and traffic classes after the shape is valid', () => {
    expect(problems({ targets, routes: { chat: { chain: ['fast-a', 'nope'], priority: 'urgent' } } })).toEqual([
      "routes.chat.chain[1]: expected the name of a target (one of 'fast-a', 'fast-b'), got 'nope'",
      "routes.chat.priority: expected a traffic class (one of 'live', 'batch', 'experiment'), got 'urgent'",
    ]);
  });

  it('rejects duplicate limit ids and unknown downgrade routes', () => {
    expect(
      problems({
        targets,
        routes: { chat: { chain: ['fast-a'] } },
        limits: [
          { id: 'x', scope: ['user'], metric: 'requests', limit: 1, window: '1s' },
          { id: 'x', scope: ['team'], metric: 'requests', limit: 1, window: '1s' },
        ],
        budgets: [{ scope: ['tenant'], limitUsd: 5, window: '1d', downgradeTo: 'cheap' }],
      }),
    ).toEqual([
      "limits[1].id: expected a unique id, got 'x' (also limits[0])",
      "budgets[0].downgradeTo: expected the name of a route (one of 'chat'), got 'cheap'",
    ]);
  });

  it('rejects a scope naming a dimension twice and a concurrency rule with fractional slots', () => {
    const base = { targets, routes: { chat: { chain: ['fast-a'] } } };
    expect(
      problems({
        ...base,
        limits: [
          { scope: ['user', 'team', 'user'], metric: 'requests', limit: 10, window: '1m' },
          { scope: ['model'], metric: 'concurrency', limit: 2.5 },
        ],
      }),
    ).toEqual(["limits[0].scope: expected distinct dimensions, got 'user' twice", 'limits[1].limit: expected a whole number of slots, got 2.5']);
  });

  it('rejects a bucket of whole units that holds less than one unit, by limit or burst, concurrency included', () => {
    const base = { targets, routes: { chat: { chain: ['fast-a'] } } };
    expect(
      problems({
        ...base,
        limits: [
          { scope: ['user'], metric: 'requests', limit: 0.5, window: '1m' },
          { scope: ['team'], metric: 'inputTokens', limit: 5, burst: 0.5, window: '1m' },
          { scope: ['model'], metric: 'concurrency', limit: 0.5 },
          { scope: ['provider'], metric: 'concurrency', limit: 0.5, burst: 4 }, // a concurrency rule has no burst
          { scope: ['user'], metric: 'totalTokens', limit: 0.2, window: '1m' },
        ],
      }),
    ).toEqual([
      'limits[0].limit: expected at least 1, got 0.5',
      'limits[1].burst: expected at least 1, got 0.5',
      'limits[2].limit: expected at least 1, got 0.5',
      'limits[2].limit: expected a whole number of slots, got 0.5',
      'limits[3].limit: expected at least 1, got 0.5',
      'limits[3].limit: expected a whole number of slots, got 0.5',
      'limits[3].burst: expected no burst on a concurrency rule (slots are held, not refilled), got 4',
      'limits[4].limit: expected at least 1, got 0.2',
    ]);
    // Still accepted: a burst of at least one on a slow rate, and fractional dollars.
    const policy = definePolicy(
      {
        ...base,
        limits: [
          { scope: ['user'], metric: 'requests', limit: 0.5, burst: 1, window: '1m' },
          { scope: ['team'], metric: 'cost', limit: 0.5, window: '1h' },
          { scope: ['tenant'], metric: 'cost', limit: 5, burst: 0.25, window: '1h' },
        ],
      },
      { onWarning: () => {} },
    );
    expect(policy.limits.map((l) => [l.limit, l.burst])).toEqual([
      [0.5, 1],
      [0.5, undefined],
      [5, 0.25],
    ]);
  });

  it('warns when a chain has more than three fallbacks', () => {
    const emitted: string[] = [];
    const policy = definePolicy(
      { targets, routes: { chat: { chain: ['fast-a', 'fast-b', 'fast-a', 'fast-b', 'fast-a'] } } },
      { onWarning: (w) => emitted.push(w) },
    );
    expect(policy.warnings).toEqual([expect.stringContaining('routes.chat.chain has 4 fallbacks')]);
    expect(emitted).toEqual(policy.warnings);
  });

  it('warns when perKind retries a kind that no retry can fix (policy-wide and per route)', () => {
    const emitted: string[] = [];
    const policy = definePolicy(
      {
        targets,
        retry: { perKind: { auth: 2, rate_limited: 3 } },
        routes: {
          chat: { chain: ['fast-a'], retry: { perKind: { quota_exhausted: 1, context_length: 0 } } },
          other: { chain: ['fast-b'] },
        },
      },
      { onWarning: (w) => emitted.push(w) },
    );
    expect(policy.warnings).toEqual([
      expect.stringContaining('retry.perKind.auth is 2'),
      expect.stringContaining('routes.chat.retry.perKind.quota_exhausted is 1'),
    ]);
    expect(emitted).toEqual(policy.warnings);
    // The opt-in still applies: it is advice, not an error. (A route's perKind replaces the policy's.)
    expect(policy.routes['chat']!.retry.perKind).toMatchObject({ auth: 0, quota_exhausted: 1, context_length: 0 });
    expect(policy.routes['other']!.retry.perKind).toMatchObject({ auth: 2, rate_limited: 3, quota_exhausted: 0 });
  });

  it('emits advice as process warnings with its own code when no onWarning is given', () => {
    const emit = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      definePolicy({ targets, retry: { perKind: { invalid_request: 1 } }, routes: { chat: { chain: ['fast-a', 'fast-b', 'fast-a', 'fast-b', 'fast-a'] } } });
      expect(emit.mock.calls.map((c) => (c[1] as { code: string }).code).sort()).toEqual(['LLMR_LONG_CHAIN', 'LLMR_RETRY_NEVER_SUCCEEDS']);
    } finally {
      emit.mockRestore();
    }
  });

  it('accepts a Standard Schema as route output and requires one for onInvalidOutput', () => {
    const Intent = z.object({ intent: z.string() });
    const policy = definePolicy({ targets, routes: { cls: { chain: ['fast-a'], output: Intent, onInvalidOutput: 'fail' } } }, { onWarning: () => {} });
    expect(policy.routes.cls!.output).toBe(Intent);
    expect(problems({ targets, routes: { cls: { chain: ['fast-a'], onInvalidOutput: 'fail' } } })).toEqual([
      'routes.cls.onInvalidOutput: expected an `output` schema on the route, got none',
    ]);
    expect(problems({ targets, routes: { cls: { chain: ['fast-a'], output: { parse: () => 1 } } } })).toEqual([
      'routes.cls.output: expected a Standard Schema (e.g. a zod 4 schema)',
    ]);
  });

  it('parses durations and backoff strategies', () => {
    const policy = definePolicy({
      targets,
      routes: {
        a: { chain: ['fast-a'], timeout: '30s', retry: { backoff: { strategy: 'constant', delay: '2s' } } },
        b: { chain: ['fast-a'], priority: 'batch', retry: { backoff: { strategy: 'decorrelated' } } },
      },
    });
    expect(policy.routes.a!.timeoutMs).toBe(30_000);
    expect(policy.routes.a!.retry.backoff.delay(1, 0, Math.random)).toBe(2000);
    expect(policy.routes.b!.retry.backoff.strategy).toBe('decorrelated');
    expect(policy.routes.b!.retry.maxHintMs).toBe(60_000);
  });

  it('rejects budgets scoped by provider or model, which would never be charged', () => {
    expect(problems({ targets, routes: { chat: { chain: ['fast-a'] } }, budgets: [{ scope: ['tenant', 'model'], limitUsd: 5, window: '1d' }] })).toEqual([
      expect.stringMatching(/^budgets\[0\]\.scope: expected request dimensions .* got 'model'/),
    ]);
  });
});
