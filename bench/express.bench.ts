/**
 * Express middleware benchmark: requests/s of one Express 5 app with
 *
 * - `bare`: no middleware, the baseline;
 * - `express-rate-limit`: one per-user request counter (memory store, draft-7 headers);
 * - `ours`: `resilience()` with one per-user inbound request limit (engine's memory store,
 *   draft-7 headers) and `req.resilience` bound to the request;
 * - `ours (no limits)`: `resilience()` binding `req.resilience` only.
 *
 * Every server runs in its own child process, a fresh one per contender and round, started from one
 * esbuild bundle of this file (plain
 * JavaScript, as our packages and the peers run from their published builds; under tsx our source would
 * pay for its CommonJS interop getters). autocannon drives them from this process, in rounds (the order
 * rotates every round), with 1000 users spread over the requests. On Linux with 2+ CPUs this process is
 * pinned to CPU 0 and the servers to CPU 1 (`taskset`), so the load generator and the server never take
 * turns on one core. The median round of each is reported; ratios are medians of per-round ratios
 * (target: ours / bare >= 0.9). Rounds are short and many because this machine's speed changes
 * from one ten-second stretch to the next (a bare server's CPU per request moved between 115 and
 * 250 µs): contenders measured back to back in one round see the same machine, and the median of
 * many per-round ratios is robust to the stretches that do not. Each round also records the server's own CPU time per request
 * (`/proc/<pid>/stat`), which does not depend on the load generator.
 *
 * Requests/s on this shared VM move by 15% from one minute to the next, so when valgrind is installed
 * the benchmark also counts the instructions each server executes per request under callgrind
 * (bench/lib/callgrind.ts: a fixed number of requests after a warm-up, every thread counted, the
 * same within a few percent from run to run): a machine-independent view of how much work the middleware
 * adds to a request, where the in-process figure below leaves out what Express and Node do with
 * the request it touches.
 *
 * Run: `npx tsx bench/express.bench.ts`.
 * Options via env: BENCH_CONNECTIONS (50), BENCH_DURATION_S (2 per round), BENCH_ROUNDS (11),
 * BENCH_CALLGRIND (0 skips the instruction counts), BENCH_CALLGRIND_REQUESTS (3000 per counted
 * window; three windows after 8000 warm-up requests).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { hasCallgrind, startUnderCallgrind } from './lib/callgrind';
import { bundleForNode } from './lib/isolated';
import { pinToCpu, processCpuUs } from './lib/pin';
import { median, medianItem } from './lib/stats';

/** The contenders, by the name the child process is started with. */
const SERVERS = ['bare', 'express-rate-limit', 'ours', 'ours-no-limits'] as const;
type ServerKind = (typeof SERVERS)[number];
/** How the printed tables name each contender. */
const LABELS: Record<ServerKind, string> = {
  bare: 'bare Express 5',
  'express-rate-limit': 'express-rate-limit (per-user, draft-7)',
  ours: 'ours: resilience() per-user limit, draft-7',
  'ours-no-limits': 'ours: resilience() without limits',
};
const USERS = 1000;

/** Numbers of one contender (median round). */
export interface ExpressContenderResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Server CPU time per request (µs) in the reported round, when /proc is readable. */
  serverCpuUsPerRequest: number | undefined;
  /** Non-2xx responses in the reported round (must be 0 for a fair result). */
  non2xx: number;
  errors: number;
}

/** What {@link run} returns. */
export interface ExpressBenchResult {
  name: 'express-middleware';
  connections: number;
  durationS: number;
  rounds: number;
  bare: ExpressContenderResult;
  expressRateLimit: ExpressContenderResult;
  ours: ExpressContenderResult;
  oursNoLimits: ExpressContenderResult;
  /** ours / bare requests/s (target >= 0.9). */
  oursToBare: number;
  /** express-rate-limit / bare requests/s. */
  peerToBare: number;
  /** ours / express-rate-limit requests/s. */
  oursToPeer: number;
  /** ours without limits / bare requests/s. */
  bindingToBare: number;
  /** Whether autocannon and the servers ran on separate CPUs. */
  pinned: boolean;
  /** ours / bare of every round, to judge the noise. */
  roundRatiosOursToBare: number[];
  /**
   * CPU time of the middleware itself, called in this process with stand-in request/response
   * objects (no HTTP): ns per request with the per-user limit and draft-7 headers, and binding only.
   * A machine-load-independent view of the cost the autocannon numbers include.
   */
  inProcessNsPerRequest: { ours: number; oursNoLimits: number };
  /**
   * Instructions each server executes per request under valgrind's callgrind (every thread: JIT, GC),
   * over a fixed number of requests after a warm-up: independent of the machine's load and speed,
   * unlike requests/s. Undefined, with the reason in `instructionsSkipped`, without valgrind or with
   * BENCH_CALLGRIND=0.
   */
  instructions?: InstructionCounts;
  instructionsSkipped?: string;
  /** Instructions per request, ours / bare (from {@link instructions}; for the summary table). */
  instructionsOursToBare?: number;
  /** Instructions per request, express-rate-limit / bare. */
  instructionsPeerToBare?: number;
  /** Instructions per request, ours without limits / bare. */
  instructionsBindingToBare?: number;
}

/** Instructions per request by contender, and ratios to bare Express (see {@link ExpressBenchResult.instructions}). */
export interface InstructionCounts {
  requests: number;
  warmUpRequests: number;
  connections: number;
  perRequest: Record<ServerKind, number>;
  /** contender / bare: 1.10 means 10% more instructions per request than bare Express. */
  toBare: Record<ServerKind, number>;
}

/** Options of {@link run}. */
export interface ExpressBenchOptions {
  connections?: number;
  durationS?: number;
  rounds?: number;
  /** Count instructions under callgrind too (default: when valgrind is installed, unless BENCH_CALLGRIND=0). */
  callgrind?: boolean;
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  setupRequest?: (req: AutocannonRequest) => AutocannonRequest;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration?: number;
  /** Send exactly this many requests instead of running for `duration`. */
  amount?: number;
  requests?: AutocannonRequest[];
}) => Promise<AutocannonResult>;

// autocannon ships no types: describe the part used here.
const requireHere = createRequire(__filename);
const autocannon = requireHere('autocannon') as Autocannon;

// ------------------------------------------------------------------------------------- servers

/** The part of Express used here (the bench package has no @types/express). */
interface BenchRequest {
  get(name: string): string | undefined;
}
interface BenchApp {
  disable(name: string): void;
  set(name: string, value: unknown): void;
  use(handler: unknown): void;
  get(path: string, handler: (req: BenchRequest, res: { send(body: string): void }) => void): void;
  listen(port: number, host: string, cb: () => void): { address(): { port: number } | string | null };
}

async function serve(kind: ServerKind): Promise<void> {
  const express = requireHere('express') as () => BenchApp;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const userOf = (req: BenchRequest) => req.get('x-user') ?? 'anonymous';
  if (kind === 'express-rate-limit') {
    const { rateLimit } = await import('express-rate-limit');
    app.use(
      rateLimit({
        windowMs: 60_000,
        limit: 1_000_000_000,
        standardHeaders: 'draft-7',
        legacyHeaders: false,
        keyGenerator: (req) => userOf(req as unknown as BenchRequest),
      }),
    );
  }
  if (kind === 'ours' || kind === 'ours-no-limits') {
    const { createResilience, definePolicy } = await import('@llm-resilience/core');
    const { resilience } = await import('@llm-resilience/express');
    const engine = createResilience(
      definePolicy({ targets: { a: { provider: 'openai', model: 'gpt-4o-mini' } }, routes: { chat: { chain: ['a'] } } }),
    );
    app.use(
      resilience({
        engine,
        identity: (req) => ({ user: userOf(req) }),
        route: 'chat',
        standardHeaders: 'draft-7',
        ...(kind === 'ours'
          ? { limits: [{ id: 'user-rpm', scope: ['user' as const], metric: 'requests' as const, limit: 1_000_000_000, window: '1m' as const }] }
          : {}),
      }),
    );
  }
  app.get('/', (_req, res) => {
    res.send('ok');
  });
  process.on('SIGINT', () => process.exit(0));
  const server = app.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
}

interface Server {
  child: ChildProcess;
  url: string;
  pinned: boolean;
}

function start(bundle: string, kind: ServerKind): Promise<Server> {
  const child = fork(bundle, ['--serve', kind], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve({ child, url: `http://127.0.0.1:${m.port}`, pinned: pinToCpu(child.pid!, 1) }));
    child.once('exit', (code) => reject(new Error(`bench server '${kind}' exited with ${code}`)));
  });
}

function stop(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) return resolve();
    server.child.once('exit', () => resolve());
    server.child.kill();
  });
}

// ------------------------------------------------------------------------------------- driver

/** `GET /` with an `x-user` header that cycles over {@link USERS} users. */
function userRequests(): AutocannonRequest[] {
  let i = 0;
  return [{ method: 'GET', path: '/', setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'x-user': `u${i++ % USERS}` } }) }];
}

async function measure(server: Server, connections: number, durationS: number): Promise<ExpressContenderResult> {
  const cpuBefore = processCpuUs(server.child.pid!);
  const r = await autocannon({ url: server.url, connections, duration: durationS, requests: userRequests() });
  const cpuAfter = processCpuUs(server.child.pid!);
  const serverCpuUsPerRequest = cpuBefore !== undefined && cpuAfter !== undefined && r.requests.total > 0 ? (cpuAfter - cpuBefore) / r.requests.total : undefined;
  return { requestsPerSec: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, serverCpuUsPerRequest, non2xx: r.non2xx, errors: r.errors };
}

/**
 * Runs each server under callgrind and counts the instructions it executes per request over three
 * windows of `requests` requests after `warmUp` requests (the same `GET /` with a rotating `x-user`
 * as the requests/s rounds); the median window is kept.
 */
async function countInstructions(bundle: string, connections: number, requests: number, warmUp: number): Promise<InstructionCounts> {
  const perRequest = {} as Record<ServerKind, number>;
  for (const kind of SERVERS) {
    const server = startUnderCallgrind(bundle, ['--serve', kind]);
    try {
      const port = await new Promise<number>((resolve, reject) => {
        server.child.once('message', (m: { port: number }) => resolve(m.port));
        server.child.once('exit', (code) => reject(new Error(`bench server '${kind}' under valgrind exited with ${code}: ${server.stderr}`)));
      });
      const send = async (amount: number) => {
        const r = await autocannon({ url: `http://127.0.0.1:${port}`, connections, amount, requests: userRequests() });
        if (r.non2xx > 0 || r.errors > 0) throw new Error(`bench server '${kind}': ${r.non2xx} non-2xx answers and ${r.errors} errors`);
      };
      await send(warmUp);
      // Three windows, the median kept: a window in which V8 happened to (re)compile a hot function
      // counts the compiler's work too.
      const windows: number[] = [];
      for (let w = 0; w < 3; w++) windows.push((await server.count(() => send(requests))) / requests);
      perRequest[kind] = median(windows);
    } finally {
      await server.stop();
    }
  }
  const toBare = {} as Record<ServerKind, number>;
  for (const kind of SERVERS) toBare[kind] = perRequest[kind] / perRequest.bare;
  return { requests, warmUpRequests: warmUp, connections, perRequest, toBare };
}

/** Calls the middleware directly, many times, and returns ns per call. */
async function inProcessCost(withLimits: boolean): Promise<number> {
  const { createResilience, definePolicy } = await import('@llm-resilience/core');
  const { resilience } = await import('@llm-resilience/express');
  const engine = createResilience(definePolicy({ targets: { a: { provider: 'openai', model: 'gpt-4o-mini' } }, routes: { chat: { chain: ['a'] } } }));
  const middleware = resilience({
    engine,
    identity: (req) => ({ user: req.get('x-user') }),
    route: 'chat',
    standardHeaders: 'draft-7',
    ...(withLimits ? { limits: [{ id: 'user-rpm', scope: ['user' as const], metric: 'requests' as const, limit: 1_000_000_000, window: '1m' as const }] } : {}),
  });
  type Args = Parameters<typeof middleware>;
  const res = { headersSent: false, writableFinished: false, setHeader: () => res, once: () => res } as unknown as Args[1];
  const users = Array.from({ length: USERS }, (_, i) => `u${i}`);
  let calls = 0;
  const next = () => void calls++;
  const loop = (n: number) => {
    for (let i = 0; i < n; i++) {
      const user = users[i % USERS];
      const req = { headers: {}, get: () => user } as unknown as Args[0];
      middleware(req, res, next);
    }
  };
  loop(200_000); // warm-up
  const n = 1_000_000;
  const t = process.hrtime.bigint();
  loop(n);
  const ns = Number(process.hrtime.bigint() - t) / n;
  if (calls !== n + 200_000) throw new Error('the middleware did not call next() for every request');
  return ns;
}

/**
 * Runs the benchmark and returns the numbers (also used by the bench runner).
 *
 * @example
 * ```ts
 * const { oursToBare } = await run({ durationS: 3, rounds: 3 });
 * ```
 */
export async function run(options: ExpressBenchOptions = {}): Promise<ExpressBenchResult> {
  const connections = options.connections ?? Number(process.env.BENCH_CONNECTIONS ?? 50);
  const durationS = options.durationS ?? Number(process.env.BENCH_DURATION_S ?? 2);
  const rounds = options.rounds ?? Number(process.env.BENCH_ROUNDS ?? 11);
  const bundle = await bundleForNode(__filename);
  const pinned = pinToCpu(process.pid, 0);
  let allPinned = pinned;
  try {
    const results = new Map<ServerKind, ExpressContenderResult[]>(SERVERS.map((k) => [k, []]));
    for (let r = 0; r < rounds; r++) {
      // Rotate the order every round so that drifting machine load hits every contender alike.
      for (let j = 0; j < SERVERS.length; j++) {
        const kind = SERVERS[(j + r) % SERVERS.length]!;
        // A fresh server process per round: identical servers in separate processes differed by up
        // to 10% for the whole run (JIT and heap layout luck), more than the effect being measured.
        const server = await start(bundle.file, kind);
        try {
          allPinned &&= server.pinned;
          await measure(server, connections, 1); // warm-up: JIT, keep-alive connections
          results.get(kind)!.push(await measure(server, connections, durationS));
        } finally {
          await stop(server);
        }
      }
    }
    let instructions: InstructionCounts | undefined;
    let instructionsSkipped: string | undefined;
    if (!(options.callgrind ?? process.env.BENCH_CALLGRIND !== '0')) instructionsSkipped = 'turned off (BENCH_CALLGRIND=0)';
    else if (!hasCallgrind()) instructionsSkipped = 'valgrind is not installed';
    else {
      const requests = Number(process.env.BENCH_CALLGRIND_REQUESTS ?? 3000);
      instructions = await countInstructions(bundle.file, 10, requests, 8000);
    }
    const per = (k: ServerKind) => results.get(k)!;
    const [bare, peer, ours, binding] = SERVERS.map((k) => medianItem(per(k), (x) => x.requestsPerSec)!) as [
      ExpressContenderResult,
      ExpressContenderResult,
      ExpressContenderResult,
      ExpressContenderResult,
    ];
    // Ratios are medians of per-round ratios (each round measures every contender back to back).
    const ratio = (a: ServerKind, b: ServerKind) => median(per(a).map((x, i) => x.requestsPerSec / per(b)[i]!.requestsPerSec));
    return {
      name: 'express-middleware',
      connections,
      durationS,
      rounds,
      bare,
      expressRateLimit: peer,
      ours,
      oursNoLimits: binding,
      oursToBare: ratio('ours', 'bare'),
      peerToBare: ratio('express-rate-limit', 'bare'),
      oursToPeer: ratio('ours', 'express-rate-limit'),
      bindingToBare: ratio('ours-no-limits', 'bare'),
      pinned: allPinned,
      roundRatiosOursToBare: per('ours').map((x, i) => x.requestsPerSec / per('bare')[i]!.requestsPerSec),
      inProcessNsPerRequest: { ours: await inProcessCost(true), oursNoLimits: await inProcessCost(false) },
      ...(instructions
        ? {
            instructions,
            instructionsOursToBare: instructions.toBare.ours,
            instructionsPeerToBare: instructions.toBare['express-rate-limit'],
            instructionsBindingToBare: instructions.toBare['ours-no-limits'],
          }
        : {}),
      ...(instructionsSkipped ? { instructionsSkipped } : {}),
    };
  } finally {
    bundle.remove();
  }
}

function print(r: ExpressBenchResult): void {
  const row = (name: string, c: ExpressContenderResult) =>
    `${name.padEnd(44)} ${c.requestsPerSec.toFixed(0).padStart(8)} req/s   p50 ${String(c.p50Ms).padStart(4)} ms   p99 ${String(c.p99Ms).padStart(4)} ms   server CPU ${c.serverCpuUsPerRequest?.toFixed(0) ?? '?'} µs/req   non-2xx ${c.non2xx}   errors ${c.errors}`;
  console.log(
    `express middleware bench: ${r.connections} connections, ${r.durationS} s x ${r.rounds} rounds, median round, ` +
      (r.pinned ? 'autocannon on CPU 0, servers on CPU 1' : 'not pinned to CPUs'),
  );
  console.log(row(LABELS.bare, r.bare));
  console.log(row(LABELS['express-rate-limit'], r.expressRateLimit));
  console.log(row(LABELS.ours, r.ours));
  console.log(row(LABELS['ours-no-limits'], r.oursNoLimits));
  console.log(
    `ratios: ours/bare ${r.oursToBare.toFixed(3)} (target >= 0.9), express-rate-limit/bare ${r.peerToBare.toFixed(3)}, ` +
      `ours/express-rate-limit ${r.oursToPeer.toFixed(3)}, binding only/bare ${r.bindingToBare.toFixed(3)}`,
  );
  console.log(`ours/bare per round: ${r.roundRatiosOursToBare.map((x) => x.toFixed(3)).join(' ')}`);
  console.log(
    `middleware CPU in-process (no HTTP): ${r.inProcessNsPerRequest.ours.toFixed(0)} ns/request with the limit, ` +
      `${r.inProcessNsPerRequest.oursNoLimits.toFixed(0)} ns/request binding only`,
  );
  const ins = r.instructions;
  if (ins === undefined) {
    console.log(`instructions per request (callgrind): skipped, ${r.instructionsSkipped ?? 'unknown reason'}`);
    return;
  }
  console.log(`instructions per request under callgrind (median of 3 windows of ${ins.requests} requests after ${ins.warmUpRequests}, ${ins.connections} connections):`);
  for (const kind of SERVERS) {
    console.log(`  ${LABELS[kind].padEnd(44)} ${Math.round(ins.perRequest[kind]).toLocaleString('en-US').padStart(9)}   x${ins.toBare[kind].toFixed(3)} of bare`);
  }
}

if (require.main === module) {
  const serveAt = process.argv.indexOf('--serve');
  if (serveAt !== -1) {
    serve(process.argv[serveAt + 1] as ServerKind).catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  } else {
    run().then(print, (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
  }
}
