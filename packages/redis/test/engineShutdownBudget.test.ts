import { createResilience, definePolicy, QueueRejectedError, type Resilience } from '@llm-resilience/core';
import type Redis from 'ioredis';
import { RedisLimiterStore } from '../src/index';
import { connect, deleteKeys, uniquePrefix } from './redisTestUtils';

const reply = { choices: [{ message: { content: 'x' } }], usage: { prompt_tokens: 10, completion_tokens: 5 } };

describe('shutdown while a budget admission is answered by Redis', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const engines: Resilience[] = [];
  const stores: RedisLimiterStore[] = [];

  beforeAll(() => {
    redis = connect();
  });
  afterAll(async () => {
    for (const e of engines) await e.shutdown();
    for (const s of stores) {
      await s.flush();
      s.close();
    }
    for (const p of prefixes) await deleteKeys(redis, `*${p}*`);
    await redis.quit();
  });

  /** An engine on Redis whose store counts adjustments (refunds, releases) still on their way. */
  function build(budget: Record<string, unknown>) {
    const prefix = uniquePrefix('engine-shutdown-budget');
    prefixes.push(prefix);
    const policy = definePolicy(
      {
        targets: {
          a: { provider: 'openai', model: 'model-a', price: { input: 1, output: 2 } },
          free: { provider: 'openai', model: 'model-free', price: { input: 0, output: 0 } },
        },
        routes: { chat: { chain: ['a'] }, cheap: { chain: ['free'] } },
        budgets: [{ id: 'daily', scope: ['tenant'], limitUsd: 1, window: '1d', ...budget }],
      },
      { onWarning: () => undefined },
    );
    const store = new RedisLimiterStore({ redis, prefix, timeoutMs: 2000 });
    stores.push(store);
    const pending = new Set<Promise<unknown>>();
    const adjust = store.adjust.bind(store);
    store.adjust = (a) => {
      const p = Promise.resolve(adjust(a));
      const tracked = p.finally(() => pending.delete(tracked));
      pending.add(tracked);
      return p;
    };
    const engine = createResilience(policy, { store });
    engines.push(engine);
    return { engine, store, pending };
  }

  // A request refused at shutdown while Redis answered its admission: what it reserved is given back
  // before shutdown() resolves (docs/concepts/scheduling.md), so a process exiting then loses no refund.
  it('gives the budget reservation of a request refused at shutdown back before shutdown() resolves', async () => {
    const { engine, pending } = build({});
    const outcome = engine.execute({ route: 'chat', identity: { tenant: 't1' }, inputTokens: 10, maxOutputTokens: 5_000 }, async () => reply).catch((e: unknown) => e);
    await engine.shutdown();
    const inFlight = pending.size;
    const err = await outcome;
    expect(err).toBeInstanceOf(QueueRejectedError);
    expect((err as QueueRejectedError).reason).toBe('shutdown');
    expect(inFlight).toBe(0);
  });
});
