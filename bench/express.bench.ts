/**
 * Express middleware benchmark: requests/s of one Express 5 app with
 *
 * - `bare`: no middleware, the baseline;
 * - `express-rate-limit`: one per-user request counter (memory store, draft-7 headers);
 * - `ours`: `resilience()` with one per-user inbound request limit (engine's memory store,
 *   draft-7 headers) and `req.resilience` bound to the request;
 * - `ours (no limits)`: `resilience()` binding `req.resilience` only.
 *
 * Every server runs in its own child process; autocannon drives them from this process, in rounds
 * (the order rotates every round), with 1000 users spread over the requests. The median round of
 * each is reported; ratios are medians of per-round ratios (target: ours / bare >= 0.9).
 *
 * Run: `npx tsx bench/express.bench.ts`.
 * Options via env: BENCH_CONNECTIONS (50), BENCH_DURATION_S (3 per round), BENCH_ROUNDS (5).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';

/** The contenders, by the name the child process is started with. */
const SERVERS = ['bare', 'express-rate-limit', 'ours', 'ours-no-limits'] as const;
type ServerKind = (typeof SERVERS)[number];
const USERS = 1000;

/** Numbers of one contender (median round). */
export interface ExpressContenderResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
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
  /** ours / bare of every round, to judge the noise. */
  roundRatiosOursToBare: number[];
  /**
   * CPU time of the middleware itself, called in this process with stand-in request/response
   * objects (no HTTP): ns per request with the per-user limit and draft-7 headers, and binding only.
   * A machine-load-independent view of the cost the autocannon numbers include.
   */
  inProcessNsPerRequest: { ours: number; oursNoLimits: number };
}

/** Options of {@link run}. */
export interface ExpressBenchOptions {
  connections?: number;
  durationS?: number;
  rounds?: number;
}

interface AutocannonResult {
  requests: { average: number };
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
  duration: number;
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

function start(kind: ServerKind): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(__filename, ['--serve', kind], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve({ child, url: `http://127.0.0.1:${m.port}` }));
    child.once('exit', (code) => reject(new Error(`bench server '${kind}' exited with ${code}`)));
  });
}

// ------------------------------------------------------------------------------------- driver

async function measure(url: string, connections: number, durationS: number): Promise<ExpressContenderResult> {
  let i = 0;
  const r = await autocannon({
    url,
    connections,
    duration: durationS,
    requests: [
      {
        method: 'GET',
        path: '/',
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'x-user': `u${i++ % USERS}` } }),
      },
    ],
  });
  return { requestsPerSec: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function median(results: ExpressContenderResult[]): ExpressContenderResult {
  const sorted = [...results].sort((a, b) => a.requestsPerSec - b.requestsPerSec);
  return sorted[Math.floor(sorted.length / 2)]!;
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
  const durationS = options.durationS ?? Number(process.env.BENCH_DURATION_S ?? 3);
  const rounds = options.rounds ?? Number(process.env.BENCH_ROUNDS ?? 5);
  const servers = await Promise.all(SERVERS.map(start));
  try {
    // Warm-up: JIT, connection pools.
    for (const s of servers) await measure(s.url, connections, 1);
    const results = new Map<ServerKind, ExpressContenderResult[]>(SERVERS.map((k) => [k, []]));
    for (let r = 0; r < rounds; r++) {
      // Rotate the order every round so that drifting machine load hits every contender alike.
      for (let j = 0; j < SERVERS.length; j++) {
        const k = (j + r) % SERVERS.length;
        results.get(SERVERS[k]!)!.push(await measure(servers[k]!.url, connections, durationS));
      }
    }
    const per = (k: ServerKind) => results.get(k)!;
    const [bare, peer, ours, binding] = SERVERS.map((k) => median(per(k))) as [
      ExpressContenderResult,
      ExpressContenderResult,
      ExpressContenderResult,
      ExpressContenderResult,
    ];
    // Ratios are medians of per-round ratios (each round measures every contender back to back).
    const ratio = (a: ServerKind, b: ServerKind) => medianOf(per(a).map((x, i) => x.requestsPerSec / per(b)[i]!.requestsPerSec));
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
      roundRatiosOursToBare: per('ours').map((x, i) => x.requestsPerSec / per('bare')[i]!.requestsPerSec),
      inProcessNsPerRequest: { ours: await inProcessCost(true), oursNoLimits: await inProcessCost(false) },
    };
  } finally {
    for (const s of servers) s.child.kill();
  }
}

function print(r: ExpressBenchResult): void {
  const row = (name: string, c: ExpressContenderResult) =>
    `${name.padEnd(44)} ${c.requestsPerSec.toFixed(0).padStart(8)} req/s   p50 ${String(c.p50Ms).padStart(4)} ms   p99 ${String(c.p99Ms).padStart(4)} ms   non-2xx ${c.non2xx}   errors ${c.errors}`;
  console.log(`express middleware bench: ${r.connections} connections, ${r.durationS} s x ${r.rounds} rounds, median round`);
  console.log(row('bare Express 5', r.bare));
  console.log(row('express-rate-limit (per-user, draft-7)', r.expressRateLimit));
  console.log(row('ours: resilience() per-user limit, draft-7', r.ours));
  console.log(row('ours: resilience() without limits', r.oursNoLimits));
  console.log(
    `ratios: ours/bare ${r.oursToBare.toFixed(3)} (target >= 0.9), express-rate-limit/bare ${r.peerToBare.toFixed(3)}, ` +
      `ours/express-rate-limit ${r.oursToPeer.toFixed(3)}, binding only/bare ${r.bindingToBare.toFixed(3)}`,
  );
  console.log(`ours/bare per round: ${r.roundRatiosOursToBare.map((x) => x.toFixed(3)).join(' ')}`);
  console.log(
    `middleware CPU in-process (no HTTP): ${r.inProcessNsPerRequest.ours.toFixed(0)} ns/request with the limit, ` +
      `${r.inProcessNsPerRequest.oursNoLimits.toFixed(0)} ns/request binding only`,
  );
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
