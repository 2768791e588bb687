import { z } from 'zod';
import { MAX_TIMER_MS } from '../clock';
import { PolicyConfigError } from '../errors/ResilienceError';
import { createResilience } from '../index';
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

  describe('budget ids', () => {
    const routes = { chat: { chain: ['fast-a'] }, cheap: { chain: ['fast-a'] } };

    it('keeps the generated id of a budget without match, and appends match pairs (in dimension order) otherwise', () => {
      const policy = definePolicy({
        targets,
        routes,
        budgets: [
          { scope: [], limitUsd: 50, window: '1d' },
          { scope: ['tenant'], limitUsd: 5, window: '1d', match: {} },
          { scope: [], match: { route: 'chat' }, limitUsd: 5, window: '1d' },
          { scope: ['team'], match: { route: 'cheap', environment: 'prod' }, limitUsd: 1, window: '1h' },
        ],
      });
      expect(policy.budgets.map((b) => b.id)).toEqual([
        'budget:global:86400000',
        'budget:tenant:86400000',
        'budget:global:86400000:route=chat',
        'budget:team:3600000:environment=prod,route=cheap',
      ]);
    });

    it('gives per-route caps with the same scope and window distinct ids, so the engine accepts them', () => {
      const policy = definePolicy({
        targets,
        routes,
        budgets: [
          { scope: [], match: { route: 'chat' }, limitUsd: 5, window: '1d' },
          { scope: [], match: { route: 'cheap' }, limitUsd: 1, window: '1d' },
        ],
      });
      expect(policy.budgets.map((b) => b.id)).toEqual(['budget:global:86400000:route=chat', 'budget:global:86400000:route=cheap']);
      expect(() => createResilience(policy)).not.toThrow();
    });

    it('rejects budgets whose generated ids collide at definePolicy, naming the path, not as a RangeError in the engine', () => {
      expect(
        problems({
          targets,
          routes,
          budgets: [
            { scope: ['tenant'], match: { route: 'chat' }, limitUsd: 5, window: '1d' },
            { scope: ['tenant'], match: { route: 'chat' }, limitUsd: 1, window: '1d' },
          ],
        }),
      ).toEqual([
        "budgets[1].id: expected a unique id, got 'budget:tenant:86400000:route=chat' (also budgets[0]) (generated from scope, window and match: give one of them an explicit id, or merge them)",
      ]);
    });

    it('rejects explicit duplicate budget ids', () => {
      expect(
        problems({
          targets,
          routes,
          budgets: [
            { id: 'cap', scope: ['tenant'], limitUsd: 5, window: '1d' },
            { id: 'cap', scope: ['team'], limitUsd: 1, window: '1h' },
          ],
        }),
      ).toEqual(["budgets[1].id: expected a unique id, got 'cap' (also budgets[0])"]);
    });
  });

  it('rejects downgradeAt without downgradeTo, which would never downgrade', () => {
    expect(
      problems({ targets, routes: { chat: { chain: ['fast-a'] } }, budgets: [{ scope: ['tenant'], limitUsd: 5, window: '1d', downgradeAt: 0.8 }] }),
    ).toEqual(["budgets[0].downgradeTo: expected the name of a route to downgrade to with downgradeAt 0.8 (one of 'chat'), got undefined"]);
    // downgradeTo alone is meaningful: requests move when the cap itself denies.
    expect(() =>
      definePolicy({ targets, routes: { chat: { chain: ['fast-a'] }, cheap: { chain: ['fast-a'] } }, budgets: [{ scope: ['tenant'], limitUsd: 5, window: '1d', downgradeTo: 'cheap' }] }),
    ).not.toThrow();
  });

  it('rejects a window on a concurrency rule, which counts requests in flight and would ignore it', () => {
    expect(problems({ targets, routes: { chat: { chain: ['fast-a'] } }, limits: [{ scope: ['user'], metric: 'concurrency', limit: 5, window: '1m' }] })).toEqual([
      "limits[0].window: expected no window on a concurrency rule (it counts requests in flight, not per window; use metric 'requests' for a count per window), got 60000 ms",
    ]);
  });

  describe('match', () => {
    const routes = { chat: { chain: ['fast-a', { provider: 'mistral', model: 'mistral-small' }] } };

    it('rejects a match.route naming no route, on limits and budgets, which would never apply', () => {
      expect(
        problems({
          targets,
          routes,
          limits: [{ scope: ['user'], match: { route: 'chta' }, metric: 'requests', limit: 5, window: '1m' }],
          budgets: [{ scope: ['tenant'], match: { route: 'chta' }, limitUsd: 5, window: '1d' }],
        }),
      ).toEqual([
        "limits[0].match.route: expected the name of a route (one of 'chat'), got 'chta'",
        "budgets[0].match.route: expected the name of a route (one of 'chat'), got 'chta'",
      ]);
    });

    it('reports a match.route naming no route alongside shape errors', () => {
      expect(
        problems({
          targets,
          routes,
          limits: [{ scope: ['user'], match: { route: 'chta' }, metric: 'requests', limit: -1, window: '1m' }],
        }),
      ).toEqual(['limits[0].limit: expected > 0, got -1', "limits[0].match.route: expected the name of a route (one of 'chat'), got 'chta'"]);
    });

    it("rejects a match.provider or match.model that none of the targets has (inline chain targets count)", () => {
      expect(
        problems({
          targets,
          routes,
          limits: [
            { scope: ['model'], match: { model: 'gpt-4o-mni' }, metric: 'totalTokens', limit: 5, window: '1m' },
            { scope: ['provider'], match: { provider: 'opneai' }, metric: 'concurrency', limit: 5 },
          ],
        }),
      ).toEqual([
        "limits[0].match.model: expected the model of a target (one of 'gpt-4o-mini', 'claude-haiku', 'mistral-small'), got 'gpt-4o-mni'",
        "limits[1].match.provider: expected the provider of a target (one of 'openai', 'anthropic', 'mistral'), got 'opneai'",
      ]);
      const policy = definePolicy({
        targets,
        routes,
        limits: [
          { scope: ['model'], match: { model: 'mistral-small' }, metric: 'totalTokens', limit: 5, window: '1m' },
          { scope: ['provider'], match: { provider: 'anthropic' }, metric: 'concurrency', limit: 5 },
        ],
      });
      expect(policy.limits).toHaveLength(2);
    });

    it('rejects a provider or model match where no target is chosen yet (a request-scoped limit, a budget)', () => {
      expect(
        problems({
          targets,
          routes,
          limits: [{ scope: ['user'], match: { model: 'gpt-4o-mini' }, metric: 'requests', limit: 5, window: '1m' }],
          budgets: [{ scope: ['tenant'], match: { provider: 'openai' }, limitUsd: 5, window: '1d' }],
        }),
      ).toEqual([
        expect.stringMatching(/^limits\[0\]\.match\.model: expected no 'model' match here \(a rule whose scope has neither .* got 'gpt-4o-mini'; add 'model' to the scope$/),
        expect.stringMatching(/^budgets\[0\]\.match\.provider: expected no 'provider' match here \(a budget is reserved once per request, before a target is chosen, so it would never apply\), got 'openai'/),
      ]);
    });
  });

  describe('error messages name the expected value', () => {
    const routes = { chat: { chain: ['fast-a'] } };

    it('an empty string asks for a non-empty string', () => {
      expect(problems({ targets: { a: { provider: 'openai', model: '' } }, routes: { chat: { chain: ['a'] } } })).toEqual([
        'targets.a.model: expected a non-empty string, got ""',
      ]);
      expect(problems({ targets, routes: { chat: { chain: ['fast-a', ''] } } })).toEqual(['routes.chat.chain[1]: expected a non-empty string, got ""']);
    });

    it('Infinity and NaN ask for a finite number', () => {
      expect(
        problems({
          targets,
          routes,
          limits: [
            { scope: [], metric: 'requests', limit: Infinity, window: '1m' },
            { scope: [], metric: 'requests', limit: Number.NaN, window: '1m' },
          ],
        }),
      ).toEqual(['limits[0].limit: expected a finite number, got Infinity', 'limits[1].limit: expected a finite number, got NaN']);
    });

    it('a duration of the wrong type names both of its forms', () => {
      expect(problems({ targets, routes, limits: [{ scope: [], metric: 'requests', limit: 5, window: true }] })).toEqual([
        "limits[0].window: expected a window (a number of ms or a duration string like '500ms', '1s', '1m', '1h', '1d' between 1000 ms and 86400000 ms), got true",
      ]);
      expect(problems({ targets, routes, budgets: [{ scope: [], limitUsd: 5 }] })).toEqual([
        expect.stringMatching(/^budgets\[0\]\.window: expected a window \(a number of ms or a duration string like .*\), got undefined$/),
      ]);
      expect(problems({ targets, routes, timeout: Infinity })).toEqual([expect.stringMatching(/^timeout: expected a timeout .*, got Infinity$/)]);
    });

    it('a value of no type a union accepts names every type it accepts', () => {
      expect(problems({ targets, routes: { chat: { chain: ['fast-a', 5] } } })).toEqual(['routes.chat.chain[1]: expected string or object, got 5']);
    });
  });
});

describe('definePolicy: generated budget ids are unambiguous', () => {
  const base = {
    targets: { fast: { provider: 'openai', model: 'gpt-4o-mini' } },
    routes: { chat: { chain: ['fast'] }, 'b,x': { chain: ['fast'] } },
  };

  it('two budgets with different matches get different generated ids (values containing "," and "=")', () => {
    // Unescaped, { tenant: 'a,route=chat' } and { tenant: 'a', route: 'chat' } would both give
    // 'budget:global:86400000:tenant=a,route=chat'.
    const policy = definePolicy({
      ...base,
      budgets: [
        { scope: [], match: { tenant: 'a,route=chat' }, limitUsd: 1, window: '1d' },
        { scope: [], match: { tenant: 'a', route: 'chat' }, limitUsd: 2, window: '1d' },
      ],
    });
    expect(policy.budgets[0]!.id).not.toBe(policy.budgets[1]!.id);
  });
});

describe('definePolicy: per-attempt timeouts fit in one timer', () => {
  // An attempt timeout is one setTimeout; Node fires a delay above MAX_TIMER_MS after 1 ms, so every
  // attempt would time out at once.
  const route = (extra: object = {}) => ({ chat: { chain: ['fast-a'], ...extra } });

  it.each([
    ['timeout', { targets, routes: route(), timeout: '30d' }],
    ['routes.chat.timeout', { targets, routes: route({ timeout: '30d' }) }],
    ['targets.fast-a.timeout', { targets: { ...targets, 'fast-a': { ...targets['fast-a'], timeout: MAX_TIMER_MS + 1 } }, routes: route() }],
  ])('refuses %s above MAX_TIMER_MS, naming the path and the bound', (path, input) => {
    const lines = problems(input);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${path.replace(/\./g, '\\.')}: expected a timeout .*between 1 ms and 2147483647 ms.*about 24\\.8 d`));
  });

  it('accepts a timeout of exactly MAX_TIMER_MS', () => {
    const policy = definePolicy({ targets, routes: route({ timeout: MAX_TIMER_MS }), timeout: MAX_TIMER_MS });
    expect(policy.routes.chat!.timeoutMs).toBe(MAX_TIMER_MS);
  });
});

describe('definePolicy: backoff base above max', () => {
  it.each(['exponential', 'decorrelated'] as const)('refuses a %s base above max (policy and route), naming retry.backoff.base', (strategy) => {
    const backoff = { strategy, base: '1m', max: '1s' };
    expect(problems({ targets, routes: { chat: { chain: ['fast-a'], retry: { backoff } } }, retry: { backoff } })).toEqual([
      'routes.chat.retry.backoff.base: expected a base delay at most max (1000 ms), got 60000 ms (base defaults to 500 ms, max to 30000 ms)',
      'retry.backoff.base: expected a base delay at most max (1000 ms), got 60000 ms (base defaults to 500 ms, max to 30000 ms)',
    ]);
  });

  it('refuses a max below the default base, and accepts base equal to max', () => {
    expect(problems({ targets, routes: { chat: { chain: ['fast-a'] } }, retry: { backoff: { strategy: 'exponential', max: '100ms' } } })).toEqual([
      expect.stringMatching(/^retry\.backoff\.base: expected a base delay at most max \(100 ms\), got 500 ms/),
    ]);
    expect(definePolicy({ targets, routes: { chat: { chain: ['fast-a'] } }, retry: { backoff: { strategy: 'exponential', base: '1s', max: '1s' } } })).toBeDefined();
  });
});

describe('definePolicy: names are looked up as own properties, never through Object.prototype', () => {
  it.each(['toString', 'constructor', 'hasOwnProperty'])("reports chain entry '%s' as an unknown target instead of putting Object.prototype's function in the chain", (name) => {
    expect(problems({ targets, routes: { chat: { chain: ['fast-a', name] } } })).toEqual([
      `routes.chat.chain[1]: expected the name of a target (one of 'fast-a', 'fast-b'), got '${name}'`,
    ]);
  });

  it.each(['toString', 'constructor', 'hasOwnProperty'])("gives a traffic class named '%s' the batch defaults it falls back to (not undefined, a NaN maxWait)", (name) => {
    const policy = definePolicy({ targets, routes: { chat: { chain: ['fast-a'], priority: name } }, trafficClasses: { [name]: { priority: 5 } } }, { onWarning: () => {} });
    expect(policy.trafficClasses[name]).toEqual({ name, priority: 5, reserve: 0.2, whenLimited: 'queue', maxWaitMs: 600_000, maxQueue: 10_000 });
  });
});
