import { createResilience, definePolicy, type RequestRecord } from '@llm-resilience/core';
import { once } from 'node:events';
import { RedisLimiterStore } from '../src/index';
import { connect, uniquePrefix } from './redisTestUtils';

describe('the downgrade lookup failing on Redis (fail-closed)', () => {
  // One record per request, also when Redis refuses the spend lookup of a budget with downgradeAt.
  it('emits a failure record when the downgrade lookup fails', async () => {
    const redis = connect();
    redis.on('error', () => undefined);
    await once(redis, 'ready');
    const policy = definePolicy(
      {
        targets: {
          a: { provider: 'openai', model: 'model-a', price: { input: 1, output: 2 } },
          free: { provider: 'openai', model: 'model-free', price: { input: 0, output: 0 } },
        },
        routes: { chat: { chain: ['a'] }, cheap: { chain: ['free'] } },
        budgets: [{ id: 'daily', scope: ['tenant'], limitUsd: 1, window: '1d', downgradeAt: 0.5, downgradeTo: 'cheap' }],
      },
      { onWarning: () => undefined },
    );
    const store = new RedisLimiterStore({ redis, prefix: uniquePrefix('engine-budget-lookup'), timeoutMs: 500, onRedisError: 'fail-closed' });
    await store.load();
    const engine = createResilience(policy, { store });
    const records: RequestRecord[] = [];
    engine.events.on('record', (r) => records.push(r));
    redis.disconnect(); // Redis away: the store refuses (fail-closed); no key was written
    try {
      const err = await engine.execute({ route: 'chat', identity: { tenant: 't' }, inputTokens: 10 }, async () => ({})).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_LLMR_REDIS_UNAVAILABLE' });
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'unknown' });
    } finally {
      await engine.shutdown();
      store.close();
    }
  });
});
