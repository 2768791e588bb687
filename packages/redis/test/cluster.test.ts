import { ManualClock, type BreakerState } from '@llm-resilience/core';
import Redis, { Cluster } from 'ioredis';
import { RedisBreakerSync, RedisLimiterStore, RedisStoreConfigError, type RedisSyncError } from '../src/index';
import { Inbox, RedisServerProcess, sparePort, uniquePrefix } from './redisTestUtils';

/**
 * A one-node Redis Cluster (cluster mode on, all 16384 slots on one node): real Cluster routing,
 * real CROSSSLOT checks, started in a few ms by this file.
 */
describe('the Redis store and syncs on a Redis Cluster', () => {
  let server: RedisServerProcess;
  let cluster: Cluster;

  beforeAll(async () => {
    const port = await sparePort();
    server = new RedisServerProcess(port, [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      `nodes-${port}.conf`,
      '--cluster-announce-ip',
      '127.0.0.1',
    ]);
    await server.start();
    const admin = new Redis(port, '127.0.0.1');
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    // The node declares the cluster ok on its next cron tick (about a second).
    const deadline = Date.now() + 10_000;
    while (!String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
      if (Date.now() > deadline) throw new Error('single-node cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 20));
    }
    admin.disconnect();
    cluster = new Cluster([{ host: '127.0.0.1', port }]);
    await new Promise<void>((resolve, reject) => {
      cluster.once('ready', resolve);
      cluster.once('error', reject);
    });
  }, 15_000);

  afterAll(async () => {
    cluster.disconnect();
    await server.dispose();
  });

  it('reserves across several keys in one slot, loads scripts on the masters, and rejects hashTag: false', async () => {
    const store = new RedisLimiterStore({ redis: cluster, prefix: uniquePrefix('cluster'), timeoutMs: 2000 });
    await store.load();
    const charges = [
      { key: 'rpm|model=m', kind: 'rate' as const, limit: 10, windowMs: 60_000, amount: 1 },
      { key: 'tpm|model=m', kind: 'rate' as const, limit: 1000, windowMs: 60_000, amount: 400 },
      { key: 'tenant=a}{b', kind: 'concurrency' as const, limit: 2, windowMs: 0, amount: 1 },
    ];
    expect(await store.reserve(charges)).toMatchObject({ ok: true, states: [{ remaining: 9 }, { remaining: 600 }, { remaining: 1 }] });
    await store.adjust([{ ...charges[1]!, delta: -400 }]);
    expect(await store.peek(charges)).toMatchObject([{ remaining: 9 }, { remaining: 1000 }, { remaining: 1 }]);

    const node = cluster.nodes('master')[0]!;
    const keys = await node.keys(store.keyspace.pattern());
    expect(keys.map((k) => k.split(':')[1]).sort()).toEqual(['a', 'c', 'r']); // rpm, the slot's leases, the adjust run's record
    const slots = await Promise.all(keys.map((k) => node.call('CLUSTER', 'KEYSLOT', k)));
    expect(new Set(slots).size).toBe(1);
    expect(store.health).toBe('up');

    expect(() => new RedisLimiterStore({ redis: cluster, hashTag: false })).toThrow(RedisStoreConfigError);
  });

  it('shares breaker states over Cluster pub/sub, and keeps budgets as window counters', async () => {
    const prefix = uniquePrefix('cluster-sync');
    const errors: RedisSyncError[] = [];
    const clock = new ManualClock(Date.now());
    const a = new RedisBreakerSync({ redis: cluster, prefix, clock, timeoutMs: 2000, onError: (e) => errors.push(e) });
    const b = new RedisBreakerSync({ redis: cluster, prefix, clock, timeoutMs: 2000, onError: (e) => errors.push(e) });
    try {
      const atB = new Inbox<BreakerState>();
      b.subscribe(atB.onRemote);
      await b.ready();
      await a.publish('target:fast-a', { state: 'open', until: clock.now() + 30_000, reason: 'error_rate' });
      await atB.count(1);
      expect(atB.received).toEqual([['target:fast-a', { state: 'open', until: clock.now() + 30_000, reason: 'error_rate' }]]);
      expect(await b.load()).toEqual([['target:fast-a', expect.objectContaining({ state: 'open' })]]);

      const store = new RedisLimiterStore({ redis: cluster, prefix, timeoutMs: 2000 });
      const budget = { key: 'budget|tenant=acme|w=1', kind: 'concurrency' as const, limit: 1, windowMs: 86_400_000, amount: 0.6 };
      expect((await store.reserve([budget, { key: 'rpm', kind: 'rate', limit: 10, windowMs: 60_000, amount: 1 }])).ok).toBe(true);
      expect(await store.reserve([budget])).toMatchObject({ ok: false, index: 0 });
      expect(store.health).toBe('up');
      expect(errors).toEqual([]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
