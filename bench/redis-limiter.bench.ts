/**
 * Redis limiter benchmark: decisions/s and latency of our combined RPM + TPM reservation (two GCRA
 * charges, one Lua round trip) against rate-limiter-flexible's `RateLimiterRedis` (one fixed-window
 * counter, `consume(key, 1)`), on the same Redis, in the same run, with the same number of requests
 * in flight. Rounds alternate (ours, peer, ours, peer, ...); each contender's median round is
 * reported, and the ratios are the medians of the per-round ratios (adjacent rounds share the machine's
 * background load, so their ratio is steadier than either number).
 *
 * Run: `npx tsx bench/redis-limiter.bench.ts` (REDIS_URL, default redis://127.0.0.1:6379).
 * Options via env: BENCH_CONCURRENCY (50), BENCH_DURATION_MS (2000 per round), BENCH_ROUNDS (5).
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import Redis from 'ioredis';
import { RedisLimiterStore, type RedisStoreEvent } from '@llm-resilience/redis';
import type { LimitCharge } from '@llm-resilience/core';
import { metric, type BenchResult } from './lib/result';
import { median as medianOf, medianItem } from './lib/stats';
import { deleteKeys } from '../packages/redis/test/redisTestUtils';

// rate-limiter-flexible is a devDependency of packages/redis: resolve it from there.
const requireFromRedisPackage = createRequire(join(__dirname, '..', 'packages', 'redis', 'package.json'));
const { RateLimiterRedis } = requireFromRedisPackage('rate-limiter-flexible') as {
  RateLimiterRedis: new (opts: Record<string, unknown>) => { consume(key: string, points?: number): Promise<unknown> };
};

/** Numbers of one contender. */
export interface ContenderResult {
  /** Decisions (admitted or denied) per second. */
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Decisions measured in the reported round. */
  decisions: number;
  /** CPU time per decision: this process (client) and the Redis server (whole server, from INFO). */
  cpuUsPerDecision: { client: number; redis: number };
}

/**
 * What {@link run} returns: the runner's {@link BenchResult} (metrics with ours, peer, ratio, target)
 * plus the raw numbers of each contender's median round.
 */
export interface RedisLimiterBenchResult extends BenchResult {
  details: {
    concurrency: number;
    ours: ContenderResult;
    peer: ContenderResult;
    /** Median over rounds of ours.opsPerSec / peer.opsPerSec (target: >= 1). */
    throughputRatio: number;
    /** Median over rounds of ours.p99Ms / peer.p99Ms (lower is better). */
    p99Ratio: number;
    /** Per-round throughput ratios, in order. */
    roundRatios: number[];
    /** Times our store fell back to its local limiter (must be 0 for a fair result). */
    fallbacks: number;
  };
}

/** Options of {@link run}. */
export interface RedisLimiterBenchOptions {
  redisUrl?: string;
  concurrency?: number;
  durationMs?: number;
  rounds?: number;
  users?: number;
}

type Decide = (i: number) => Promise<void>;

async function redisCpuSeconds(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

async function measure(decide: Decide, concurrency: number, durationMs: number, admin: Redis): Promise<ContenderResult> {
  const latencies: number[] = [];
  // Warm-up: connections, script caches, JIT.
  const warmUntil = performance.now() + 300;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < warmUntil) await decide(n++);
    }),
  );
  const cpu0 = process.cpuUsage();
  const redis0 = await redisCpuSeconds(admin);
  const start = performance.now();
  const stopAt = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < stopAt) {
        const t = performance.now();
        await decide(n++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const redisCpu = (await redisCpuSeconds(admin)) - redis0;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  const decisions = latencies.length;
  return {
    opsPerSec: (decisions / elapsed) * 1000,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    decisions,
    cpuUsPerDecision: { client: (cpu.user + cpu.system) / decisions, redis: (redisCpu * 1e6) / decisions },
  };
}

/** The round with the median throughput. */
/**
 * Runs the benchmark and returns the numbers (also used by the bench runner).
 *
 * @example
 * ```ts
 * const { throughputRatio } = await run({ durationMs: 2000 });
 * ```
 */
export async function run(options: RedisLimiterBenchOptions = {}): Promise<RedisLimiterBenchResult> {
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const concurrency = options.concurrency ?? Number(process.env.BENCH_CONCURRENCY ?? 50);
  const durationMs = options.durationMs ?? Number(process.env.BENCH_DURATION_MS ?? 2000);
  const rounds = options.rounds ?? Number(process.env.BENCH_ROUNDS ?? 5);
  const users = options.users ?? 1000;
  const tag = randomBytes(4).toString('hex');

  // One client per contender, same options.
  const oursClient = new Redis(redisUrl);
  const peerClient = new Redis(redisUrl);
  const admin = new Redis(redisUrl);
  let fallbacks = 0;
  const store = new RedisLimiterStore({
    redis: oursClient,
    prefix: `llmr-bench-${tag}`,
    timeoutMs: 1000,
    onEvent: (e: RedisStoreEvent) => {
      if (e.type === 'unavailable' || e.type === 'error') fallbacks++;
    },
  });
  const peer = new RateLimiterRedis({ storeClient: peerClient, keyPrefix: `rlflx-bench-${tag}`, points: 1_000_000_000, duration: 60 });

  const charges: LimitCharge[][] = Array.from({ length: users }, (_, u) => [
    { key: `rpm|user=u${u}`, kind: 'rate', limit: 1_000_000, windowMs: 60_000, amount: 1 },
    { key: `tpm|user=u${u}`, kind: 'rate', limit: 1_000_000_000, windowMs: 60_000, amount: 850 },
  ]);
  const ours: Decide = async (i) => {
    await store.reserve(charges[i % users]!);
  };
  const theirs: Decide = async (i) => {
    try {
      await peer.consume(`u${i % users}`, 1);
    } catch {
      // A rejection is a decision too (RateLimiterRes).
    }
  };

  try {
    await store.load();
    const oursRounds: ContenderResult[] = [];
    const peerRounds: ContenderResult[] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternate who goes first, so neither always runs right after the other's garbage.
      if (r % 2 === 0) {
        oursRounds.push(await measure(ours, concurrency, durationMs, admin));
        peerRounds.push(await measure(theirs, concurrency, durationMs, admin));
      } else {
        peerRounds.push(await measure(theirs, concurrency, durationMs, admin));
        oursRounds.push(await measure(ours, concurrency, durationMs, admin));
      }
    }
    const o = medianItem(oursRounds, (x) => x.opsPerSec)!;
    const p = medianItem(peerRounds, (x) => x.opsPerSec)!;
    const roundRatios = oursRounds.map((x, i) => x.opsPerSec / peerRounds[i]!.opsPerSec);
    const throughputRatio = medianOf(roundRatios);
    const p99Ratio = medianOf(oursRounds.map((x, i) => x.p99Ms / peerRounds[i]!.p99Ms));
    const peerName = 'rate-limiter-flexible RateLimiterRedis (1 counter)';
    const cpu = (rs: ContenderResult[], side: 'client' | 'redis') => medianOf(rs.map((x) => x.cpuUsPerDecision[side]));
    return {
      name: 'redis-limiter',
      title: 'Redis limiter: RPM+TPM reservation (2 charges, 1 round trip) vs RateLimiterRedis (1 counter)',
      metrics: [
        metric({ label: 'decisions/s', ours: o.opsPerSec, peer: p.opsPerSec, peerName, unit: 'ops/s', better: 'higher', ratio: throughputRatio, target: '>= 1x peer', targetRatio: 1 }),
        metric({ label: 'p99 latency', ours: o.p99Ms, peer: p.p99Ms, peerName, unit: 'ms', better: 'lower', ratio: p99Ratio }),
        metric({ label: 'client CPU per decision', ours: cpu(oursRounds, 'client'), peer: cpu(peerRounds, 'client'), peerName, unit: 'µs', better: 'lower' }),
        metric({ label: 'Redis CPU per decision', ours: cpu(oursRounds, 'redis'), peer: cpu(peerRounds, 'redis'), peerName, unit: 'µs', better: 'lower' }),
      ],
      notes: [
        `${concurrency} requests in flight per contender, ${users} users, ${rounds} alternating rounds of ${durationMs} ms after a 300 ms warm-up; ` +
          'numbers are the median round, ratios medians of per-round ratios (ours / peer).',
        'Ours: two GCRA charges (RPM and TPM, 850 tokens) reserved atomically by one Lua script per batch of concurrent reservations; ' +
          'peer: one fixed-window counter, consume(key, 1). Same Redis, one ioredis client each, default options.',
        'Redis CPU is the whole server\'s (INFO used_cpu) over the round, so other clients of the same Redis add noise.',
        `Our store fell back to its local limiter ${fallbacks} times (must be 0).`,
      ],
      details: { concurrency, ours: o, peer: p, throughputRatio, p99Ratio, roundRatios, fallbacks },
    };
  } finally {
    await deleteKeys(oursClient, store.keyspace.pattern());
    await deleteKeys(peerClient, `rlflx-bench-${tag}*`);
    store.close();
    await Promise.all([oursClient.quit(), peerClient.quit(), admin.quit()]);
  }
}

if (require.main === module) {
  void import('./lib/report').then(({ runStandalone }) =>
    runStandalone(run, (result) => console.log(`per-round throughput ratios: ${result.details.roundRatios.map((x) => x.toFixed(2)).join(' ')}`)),
  );
}
