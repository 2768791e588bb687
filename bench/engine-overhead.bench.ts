/**
 * Engine overhead benchmark: what `engine.execute(request, call)` adds to a successful call, against
 * cockatiel's `wrap(retry, circuitBreaker)` and against calling `call()` bare, in the same run.
 *
 * The call resolves at once (`async () => reply`, an OpenAI-shaped reply with usage), so everything
 * measured is the wrapper's own work:
 *
 * - `bare`: `await call()`;
 * - `cockatiel`: `wrap(retry(handleAll, { maxAttempts: 3, backoff }), circuitBreaker(handleAll, { halfOpenAfter, breaker: new ConsecutiveBreaker(5) })).execute(call)`;
 * - `ours (no limits)`: `engine.execute({ route, identity, inputTokens, maxOutputTokens }, call)` with a
 *   one-target route (retry, breaker, record, settle all active; no limit rules);
 * - `ours (RPM+TPM)`: the same with per-user RPM and TPM rules (reserve before, settle after);
 * - `ours (RPM+TPM, reads ctx.signal)`: the call reads `ctx.signal`, as one passing it to an SDK does,
 *   which makes the engine create the attempt's AbortController (created lazily otherwise);
 * - `ours (RPM+TPM, tokenized)`: the request carries a short prompt instead of `inputTokens`, so the
 *   engine counts its tokens with the default tokenizer (informative: cockatiel does no such work).
 *
 * Each contender runs in its own Node process, bundled to plain JavaScript (bench/lib/isolated.ts), one
 * at a time. Overhead = wrapper µs/call − bare µs/call, per round; medians of rounds are reported.
 * Iterations run sequentially (one call in flight) after a warm-up, timed by CPU time
 * (`process.cpuUsage()`, the headline: steady on a shared machine) and wall time (`process.hrtime.bigint()`).
 *
 * Run: `npx tsx bench/engine-overhead.bench.ts`. Env: BENCH_ITERATIONS (100000 per round), BENCH_ROUNDS (7).
 */
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleAll, retry, wrap } from 'cockatiel';
import { createResilience, type PolicyInput, type Resilience } from '@llm-resilience/core';
import { metric, type BenchResult } from './lib/result';
import { contenderName, interleaveIsolated, serveContender } from './lib/isolated';
import { formatNumber, median, startTiming } from './lib/stats';

/** Options of {@link run}. */
export interface EngineOverheadBenchOptions {
  /** Calls per contender per round. */
  iterations?: number;
  rounds?: number;
}

const USERS = 1000;
const TARGET_US = 2;

/** What a chat completion returns, as far as the engine reads it (usage). */
const REPLY = Object.freeze({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 500, completion_tokens: 120, total_tokens: 620 },
});
const call = async () => REPLY;
/** The same call, reading the attempt's abort signal as a real SDK call would (`{ signal: ctx.signal }`). */
const signalCall = async (_t: unknown, ctx: { signal: AbortSignal }) => (ctx.signal.aborted ? Promise.reject(ctx.signal.reason) : REPLY);

const MESSAGES = [
  { role: 'system', content: 'You are a helpful support assistant. Answer briefly.' },
  { role: 'user', content: 'My order #1234 has not arrived yet, can you check where it is?' },
];

function policy(withLimits: boolean): PolicyInput {
  return {
    targets: { primary: { provider: 'openai', model: 'gpt-bench', contextWindow: 128_000, price: { input: 0.15, output: 0.6 } } },
    routes: { chat: { chain: ['primary'] } },
    limits: withLimits
      ? [
          { id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 100_000_000, window: '1m' },
          { id: 'user-tpm', scope: ['user'], metric: 'totalTokens', limit: 100_000_000_000, window: '1m' },
        ]
      : [],
  };
}

/** µs per call of one measured loop. */
interface Timing {
  wall: number;
  cpu: number;
}

/** Runs `iterations` sequential calls of `fn(i)`; returns µs per call by wall and by CPU time. */
async function timeLoop(iterations: number, fn: (i: number) => Promise<unknown>): Promise<Timing> {
  const t = startTiming();
  for (let i = 0; i < iterations; i++) await fn(i);
  const { wallUs, cpuUs } = t.stop();
  return { wall: wallUs / iterations, cpu: cpuUs / iterations };
}

function engineLoop(engine: Resilience, mode: 'plain' | 'tokenized' | 'signal'): (i: number) => Promise<unknown> {
  if (mode === 'tokenized') {
    return (i) => engine.execute({ route: 'chat', identity: { user: 'user-' + (i % USERS) }, input: { messages: MESSAGES }, maxOutputTokens: 200 }, call);
  }
  const fn = mode === 'signal' ? signalCall : call;
  return (i) => engine.execute({ route: 'chat', identity: { user: 'user-' + (i % USERS) }, inputTokens: 500, maxOutputTokens: 200 }, fn);
}

const NAMES = ['bare', 'cockatiel', 'ours', 'oursLimits', 'oursSignal', 'oursTokenized'] as const;
type Name = (typeof NAMES)[number];

/** Builds one contender in this (child) process, warms it up, and returns its measurement. */
async function makeContender(name: string): Promise<() => Promise<Timing>> {
  const iterations = Number(process.env.BENCH_ITERATIONS ?? 100_000);
  let loop: (i: number) => Promise<unknown>;
  switch (name as Name) {
    case 'bare':
      loop = () => call();
      break;
    case 'cockatiel': {
      const policy = wrap(
        retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() }),
        circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
      );
      loop = () => policy.execute(call);
      break;
    }
    case 'ours':
      loop = engineLoop(createResilience(policy(false)), 'plain');
      break;
    case 'oursLimits':
      loop = engineLoop(createResilience(policy(true)), 'plain');
      break;
    case 'oursSignal':
      loop = engineLoop(createResilience(policy(true)), 'signal');
      break;
    case 'oursTokenized':
      loop = engineLoop(createResilience(policy(true)), 'tokenized');
      break;
    default:
      throw new Error(`unknown contender ${name}`);
  }
  // The tokenizer makes that one several times slower per call; a tenth of the iterations is plenty.
  const n = name === 'oursTokenized' ? Math.max(1000, Math.floor(iterations / 10)) : iterations;
  await timeLoop(Math.min(n, 50_000), loop); // warm-up
  return () => timeLoop(n, loop);
}

/**
 * Runs the benchmark and returns the numbers (also used by `bench/run.ts`).
 *
 * @example
 * ```ts
 * const r = await run({ iterations: 50_000, rounds: 5 });
 * r.metrics.find((m) => m.label.startsWith('overhead'))?.ours; // µs per call
 * ```
 */
export async function run(options: EngineOverheadBenchOptions = {}): Promise<BenchResult> {
  const iterations = options.iterations ?? Number(process.env.BENCH_ITERATIONS ?? 100_000);
  const rounds = options.rounds ?? Number(process.env.BENCH_ROUNDS ?? 7);

  const samples = await interleaveIsolated<Timing, Name>(__filename, NAMES, rounds, { BENCH_ITERATIONS: String(iterations) });
  /** Per-round µs/call of `k`, by wall or CPU time. */
  const per = (k: Name, clock: keyof Timing) => samples[k].map((t) => t[clock]);
  /** Per-round overhead (wrapper − bare) of `k`. */
  const over = (k: Name, clock: keyof Timing) => per(k, clock).map((v, i) => v - per('bare', clock)[i]!);
  const overheadRatio = (k: Name) => median(over(k, 'cpu').map((v, i) => v / over('cockatiel', 'cpu')[i]!));
  const peerName = 'cockatiel wrap(retry, circuitBreaker)';
  const overheadMetric = (k: Name, label: string, target: boolean) =>
    metric({
      label: `CPU overhead per call, ${label}`,
      ours: median(over(k, 'cpu')),
      peer: median(over('cockatiel', 'cpu')),
      peerName,
      unit: 'µs',
      better: 'lower',
      ratio: overheadRatio(k),
      ...(target ? { target: `< ${TARGET_US} µs`, targetValue: TARGET_US } : {}),
    });
  const row = (k: Name, label: string) => [
    label,
    median(per(k, 'cpu')),
    k === 'bare' ? 0 : median(over(k, 'cpu')),
    median(per(k, 'wall')),
    k === 'bare' ? 0 : median(over(k, 'wall')),
  ];

  return {
    name: 'engine-overhead',
    title: 'Engine overhead per successful call vs cockatiel and a bare call',
    metrics: [
      overheadMetric('ours', 'ours (no limits)', true),
      overheadMetric('oursLimits', 'ours (RPM+TPM limits)', true),
      overheadMetric('oursSignal', 'ours (RPM+TPM, call reads ctx.signal)', false),
      overheadMetric('oursTokenized', 'ours (RPM+TPM, prompt tokenized)', false),
      metric({
        label: 'wall-clock overhead per call, ours (no limits)',
        ours: median(over('ours', 'wall')),
        peer: median(over('cockatiel', 'wall')),
        peerName,
        unit: 'µs',
        better: 'lower',
        ratio: median(over('ours', 'wall').map((v, i) => v / over('cockatiel', 'wall')[i]!)),
      }),
    ],
    tables: [
      {
        title: 'µs per call (median of rounds)',
        columns: ['contender', 'CPU µs/call', 'CPU overhead µs', 'wall µs/call', 'wall overhead µs'],
        rows: [
          row('bare', 'bare call()'),
          row('cockatiel', peerName),
          row('ours', 'ours, no limits'),
          row('oursLimits', 'ours, RPM+TPM'),
          row('oursSignal', 'ours, RPM+TPM, call reads ctx.signal'),
          row('oursTokenized', 'ours, RPM+TPM, prompt tokenized'),
        ],
      },
    ],
    notes: [
      `Each contender runs in its own Node process (no shared JIT state); ${formatNumber(iterations)} sequential calls per contender ` +
        `per round (a tenth for the tokenized one), ${rounds} rounds after a warm-up, one process at a time; overheads are medians ` +
        'of per-round (wrapper − bare), ratios medians of per-round ours/cockatiel overhead.',
      'Headline numbers are CPU time of this process per call (process.cpuUsage, GC threads included); wall time ' +
        '(process.hrtime.bigint) also counts time spent waiting for a CPU on a shared machine and is in the table.',
      `Requests carry inputTokens: 500 and maxOutputTokens: 200 and rotate over ${USERS} users; the engine is created with defaults ` +
        '(memory store, system clock, 60 s attempt timeout, breakers, retry budget, one record per request).',
      'cockatiel: ExponentialBackoff, halfOpenAfter 10 s, ConsecutiveBreaker(5); it does no limits, tokens, timeout or records, ' +
        "and its ctx.signal is the caller's (no AbortController per call). Ours creates the attempt's AbortController only when " +
        'the call reads ctx.signal (an SDK call does: see that row).',
    ],
  };
}

if (require.main === module && contenderName() !== undefined) {
  void serveContender(contenderName()!, makeContender);
} else if (require.main === module) {
  void import('./lib/report').then(({ runStandalone }) => runStandalone(run));
}
