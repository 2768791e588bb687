/**
 * In-memory limiter benchmark: decisions per second of our `Limiter` + `MemoryLimiterStore` checking
 * two rules at once (per-user RPM and per-user TPM, reserve the estimate on both atomically, then settle
 * to the real usage) against `rate-limiter-flexible`'s `RateLimiterMemory`, in the same process and run:
 *
 * - `ours`: `await limiter.reserve({ user }, estimate, 'request')` then `reservation.settle(actual)`
 *   (two GCRA charges, all or nothing, refund of the unused output tokens);
 * - `ours (sync)`: the same without `await` (the memory store answers synchronously);
 * - `RLF x1`: one `RateLimiterMemory`, `await consume(user, 1)` (requests only);
 * - `RLF x2`: two `RateLimiterMemory` (RPM and TPM) consumed in sequence, then `reward()` of the unused
 *   tokens on the TPM one: the same work as ours, but not atomic (a TPM denial leaves the RPM point spent);
 * - `two awaits, no limiter`: the loop of `ours` (user id, `await` of the decision, `await` of settle's
 *   `undefined`) around no limiter at all: what the loop and its two awaits cost on their own, so the
 *   table shows how much of `ours` is the limiter (`RLF x1` awaits once, on the promise `consume` returns).
 *
 * Three scenarios: `admit` (limits never reached: the common path), `deny` (tight limits: after the
 * warm-up every decision is a denial, which costs more in both libraries) and `many` (`admit` with ten
 * times the users: state that does not fit the CPU caches). Users are picked by a fixed pseudo-random
 * sequence over 10 000 users (100 000 for `many`); user ids are built per decision (`'user-' + n`) for
 * every contender, as a server would get them per request.
 * Each contender runs in its own Node process, bundled to plain JavaScript (bench/lib/isolated.ts), one
 * at a time; rounds rotate the order; the ratio is the median of per-round ratios. Throughput is
 * reported per CPU-second (steady on a shared machine) and per wall-second.
 *
 * Run: `npx tsx bench/limiter.bench.ts`. Env: BENCH_USERS (10000), BENCH_OPS (200000 per round),
 * BENCH_ROUNDS (7).
 */
import { Limiter, MemoryLimiterStore, type LimitRule, type UsageAmounts } from '@llm-resilience/core';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { metric, type BenchMetric, type BenchResult } from './lib/result';
import { contenderName, interleaveIsolated, serveContender } from './lib/isolated';
import { ratios } from './lib/rounds';
import { formatNumber, median, startTiming } from './lib/stats';

/** Options of {@link run}. */
export interface LimiterBenchOptions {
  users?: number;
  /** Decisions per contender per round. */
  ops?: number;
  rounds?: number;
}

const ESTIMATE: UsageAmounts = { inputTokens: 500, outputTokens: 200, costUsd: 0 };
const ACTUAL: UsageAmounts = { inputTokens: 500, outputTokens: 120, costUsd: 0 };
const ESTIMATE_TOKENS = ESTIMATE.inputTokens + ESTIMATE.outputTokens;
const REFUND_TOKENS = ESTIMATE_TOKENS - (ACTUAL.inputTokens + ACTUAL.outputTokens);

interface Limits {
  rpm: number;
  tpm: number;
  /** Users in this scenario, as a multiple of BENCH_USERS. */
  usersFactor: number;
}
const SCENARIOS: Record<'admit' | 'deny' | 'many', Limits> = {
  admit: { rpm: 10_000_000, tpm: 10_000_000_000, usersFactor: 1 },
  deny: { rpm: 10, tpm: 5_000, usersFactor: 1 },
  // `admit` with ten times the users: keys and state no longer fit the CPU caches, and the limiter's
  // key cache works near its size.
  many: { rpm: 10_000_000, tpm: 10_000_000_000, usersFactor: 10 },
};

/** One contender: runs `ops` decisions over `users`, returns how many were denied. */
type Contender = (users: Int32Array, ops: number) => Promise<number>;

function ours(limits: Limits, awaited: boolean): Contender {
  const rules: LimitRule[] = [
    { id: 'user-rpm', scope: ['user'], metric: 'requests', limit: limits.rpm, windowMs: 60_000 },
    { id: 'user-tpm', scope: ['user'], metric: 'totalTokens', limit: limits.tpm, windowMs: 60_000 },
  ];
  const limiter = new Limiter(rules, new MemoryLimiterStore());
  if (awaited) {
    return async (users, ops) => {
      let denied = 0;
      for (let i = 0; i < ops; i++) {
        const d = await limiter.reserve({ user: 'user-' + users[i]! }, ESTIMATE, 'request');
        if (d.ok) await d.settle(ACTUAL);
        else denied++;
      }
      return denied;
    };
  }
  return async (users, ops) => {
    let denied = 0;
    for (let i = 0; i < ops; i++) {
      // The memory store answers synchronously: no promise on this path.
      const d = limiter.reserve({ user: 'user-' + users[i]! }, ESTIMATE, 'request') as Awaited<ReturnType<Limiter['reserve']>>;
      if (d.ok) d.settle(ACTUAL);
      else denied++;
    }
    return denied;
  };
}

/** The awaited loop of {@link ours} without the limiter: a user id, two awaits of values that are not promises. */
function awaitsOnly(): Contender {
  const decision = { ok: true };
  return async (users, ops) => {
    let denied = 0;
    for (let i = 0; i < ops; i++) {
      const user = 'user-' + users[i]!;
      const d = await (user.length > 0 ? decision : undefined);
      if (d?.ok) await undefined;
      else denied++;
    }
    return denied;
  };
}

function rlfOne(limits: Limits): Contender {
  const rpm = new RateLimiterMemory({ points: limits.rpm, duration: 60 });
  return async (users, ops) => {
    let denied = 0;
    for (let i = 0; i < ops; i++) {
      try {
        await rpm.consume('user-' + users[i]!, 1);
      } catch {
        denied++; // rejected with a RateLimiterRes: a decision too
      }
    }
    return denied;
  };
}

function rlfTwo(limits: Limits): Contender {
  const rpm = new RateLimiterMemory({ points: limits.rpm, duration: 60, keyPrefix: 'rpm' });
  const tpm = new RateLimiterMemory({ points: limits.tpm, duration: 60, keyPrefix: 'tpm' });
  return async (users, ops) => {
    let denied = 0;
    for (let i = 0; i < ops; i++) {
      const user = 'user-' + users[i]!;
      try {
        await rpm.consume(user, 1);
        await tpm.consume(user, ESTIMATE_TOKENS);
        await tpm.reward(user, REFUND_TOKENS); // settle: give back the unused output tokens
      } catch {
        denied++;
      }
    }
    return denied;
  };
}

/** A fixed pseudo-random sequence of user indexes (xorshift32), the same for every contender. */
function userSequence(users: number, length: number): Int32Array {
  const out = new Int32Array(length);
  let x = 2463534242;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) % users;
  }
  return out;
}

/** Decisions per second of one round, by wall time and by CPU time. */
interface Sample {
  wall: number;
  cpu: number;
  deniedShare: number;
}

interface ScenarioNumbers {
  /** Median decisions/s by wall time and by CPU time, per contender. */
  wall: Record<ContenderName, number>;
  cpu: Record<ContenderName, number>;
  deniedShare: Record<ContenderName, number>;
  /** Medians of per-round ratios (ours / peer), by wall and by CPU time. */
  ratio: Record<'rlf1' | 'rlf2' | 'syncRlf1', { wall: number; cpu: number }>;
}

const CONTENDERS = ['ours', 'oursSync', 'rlf1', 'rlf2', 'awaits'] as const;
type ContenderName = (typeof CONTENDERS)[number];
type ScenarioName = keyof typeof SCENARIOS;

/** Child process side: builds `<scenario>:<contender>`, warms it up, returns its measurement. */
async function makeContender(id: string): Promise<() => Promise<Sample>> {
  const [scenarioName, name] = id.split(':') as [ScenarioName, ContenderName];
  const limits = SCENARIOS[scenarioName];
  const ops = Number(process.env.BENCH_OPS ?? 200_000);
  const users = userSequence(Number(process.env.BENCH_USERS ?? 10_000), ops);
  const contender =
    name === 'ours'
      ? ours(limits, true)
      : name === 'oursSync'
        ? ours(limits, false)
        : name === 'rlf1'
          ? rlfOne(limits)
          : name === 'rlf2'
            ? rlfTwo(limits)
            : awaitsOnly();
  // Warm-up: let the JIT settle and every user key exist (and, for `deny`, every user run out).
  await contender(users, ops);
  return async () => {
    const t = startTiming();
    const denied = await contender(users, ops);
    const { wallUs, cpuUs } = t.stop();
    return { wall: ops / (wallUs / 1e6), cpu: ops / (cpuUs / 1e6), deniedShare: denied / ops };
  };
}

async function scenario(name: ScenarioName, userCount: number, ops: number, rounds: number): Promise<ScenarioNumbers> {
  const ids = CONTENDERS.map((c) => `${name}:${c}`);
  const users = userCount * SCENARIOS[name].usersFactor;
  const raw = await interleaveIsolated<Sample>(__filename, ids, rounds, { BENCH_OPS: String(ops), BENCH_USERS: String(users) });
  const by = Object.fromEntries(CONTENDERS.map((c) => [c, raw[`${name}:${c}`]!])) as Record<ContenderName, Sample[]>;
  const pick = (k: keyof Sample) => Object.fromEntries(CONTENDERS.map((n) => [n, median(by[n].map((x) => x[k]))])) as Record<ContenderName, number>;
  const ratio = (a: ContenderName, b: ContenderName) => ({
    wall: median(ratios(by[a].map((x) => x.wall), by[b].map((x) => x.wall))),
    cpu: median(ratios(by[a].map((x) => x.cpu), by[b].map((x) => x.cpu))),
  });
  return {
    wall: pick('wall'),
    cpu: pick('cpu'),
    deniedShare: pick('deniedShare'),
    ratio: { rlf1: ratio('ours', 'rlf1'), rlf2: ratio('ours', 'rlf2'), syncRlf1: ratio('oursSync', 'rlf1') },
  };
}

/**
 * Runs the scenarios and returns the numbers (also used by `bench/run.ts`).
 *
 * @example
 * ```ts
 * const result = await run({ ops: 100_000, rounds: 5 });
 * console.log(result.metrics[0]?.ratio);
 * ```
 */
export async function run(options: LimiterBenchOptions = {}): Promise<BenchResult> {
  const userCount = options.users ?? Number(process.env.BENCH_USERS ?? 10_000);
  const ops = options.ops ?? Number(process.env.BENCH_OPS ?? 200_000);
  const rounds = options.rounds ?? Number(process.env.BENCH_ROUNDS ?? 7);

  const metrics: BenchMetric[] = [];
  const rows: Array<Array<string | number>> = [];
  const notes: string[] = [];
  const names: Record<ContenderName, string> = {
    ours: 'ours: Limiter RPM+TPM, await reserve, settle',
    oursSync: 'ours: the same without await',
    rlf1: 'RLF x1: RateLimiterMemory consume(key, 1)',
    rlf2: 'RLF x2: RPM + TPM consume, TPM reward',
    awaits: 'two awaits, no limiter (the loop alone)',
  };
  for (const name of Object.keys(SCENARIOS) as ScenarioName[]) {
    const n = await scenario(name, userCount, ops, rounds);
    const headline = (label: string, who: 'ours' | 'oursSync', peer: 'rlf1' | 'rlf2', r: { wall: number; cpu: number }, target: boolean) =>
      metric({
        label: `${name}: ${label}`,
        ours: n.cpu[who],
        peer: n.cpu[peer],
        peerName: names[peer],
        unit: 'decisions/CPU-s',
        better: 'higher',
        ratio: r.cpu,
        ...(target ? { target: '>= 1x', targetRatio: 1 } : {}),
      });
    metrics.push(
      headline('ours RPM+TPM vs RLF 1 limiter', 'ours', 'rlf1', n.ratio.rlf1, name !== 'deny'),
      headline('ours RPM+TPM vs RLF RPM+TPM', 'ours', 'rlf2', n.ratio.rlf2, false),
      headline('ours RPM+TPM, no await, vs RLF 1 limiter', 'oursSync', 'rlf1', n.ratio.syncRlf1, false),
    );
    for (const c of Object.keys(names) as ContenderName[]) {
      // The ratio column: ours vs this peer, or (for ours without await) vs RLF x1.
      const r = c === 'rlf1' || c === 'rlf2' ? n.ratio[c] : c === 'oursSync' ? n.ratio.syncRlf1 : undefined;
      const ratioText = r ? `${r.cpu.toFixed(2)}x / ${r.wall.toFixed(2)}x${c === 'oursSync' ? ' (vs RLF x1)' : ''}` : '';
      rows.push([name, names[c], Math.round(n.cpu[c]), Math.round(n.wall[c]), ratioText, `${(n.deniedShare[c] * 100).toFixed(1)}%`]);
    }
    const sc = SCENARIOS[name];
    notes.push(`${name}: ${formatNumber(userCount * sc.usersFactor)} users, per user RPM ${formatNumber(sc.rpm)}, TPM ${formatNumber(sc.tpm)}.`);
    const ns = (c: ContenderName) => (1e9 / n.cpu[c]).toFixed(0);
    notes.push(
      `${name}, CPU ns per decision: ours awaited ${ns('ours')}, ours without await ${ns('oursSync')}, the loop with its two ` +
        `awaits and no limiter ${ns('awaits')}, RLF x1 ${ns('rlf1')} (one await).`,
    );
  }
  notes.push(
    `${formatNumber(ops)} decisions per contender per round, ${rounds} rounds after a warm-up ` +
      'round; each contender runs in its own Node process (bundled, no shared JIT state), one at a time; numbers are medians ' +
      'of rounds, ratios medians of per-round ratios.',
    'Headline numbers are decisions per CPU-second of this process (process.cpuUsage): wall time on a shared machine also counts ' +
      'time spent waiting for a CPU. Wall-clock decisions/s (process.hrtime.bigint) are in the table.',
    `Estimate ${ESTIMATE_TOKENS} tokens (500 in + 200 max out), settled to ${ACTUAL.inputTokens + ACTUAL.outputTokens}. ` +
      'Ours is GCRA (continuous refill); RLF is a fixed 60 s window.',
    'RLF x2 is not atomic: a TPM denial leaves the RPM point consumed. Ours reserves both or neither.',
  );
  const tables = [
    {
      title: 'decisions/s per contender (median of rounds)',
      columns: ['scenario', 'contender', 'per CPU-s', 'per wall-s', 'ours/peer (CPU / wall)', 'denied'],
      rows,
    },
  ];
  return { name: 'limiter', title: 'In-memory limiter: decisions/s, RPM+TPM vs rate-limiter-flexible', metrics, tables, notes };
}

if (require.main === module && contenderName() !== undefined) {
  void serveContender(contenderName()!, makeContender);
} else if (require.main === module) {
  void import('./lib/report').then(({ runStandalone }) => runStandalone(run));
}
