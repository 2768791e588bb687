import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';

const FLAG = '--bench-contender';

/** Messages between the parent and a contender process. */
type ToChild = { type: 'run' } | { type: 'exit' };
type FromChild<T> = { type: 'ready' } | { type: 'result'; value: T } | { type: 'error'; message: string };

/**
 * The contender this process was started for by {@link interleaveIsolated}, or undefined in the
 * parent process.
 *
 * @example
 * ```ts
 * if (require.main === module) {
 *   const name = contenderName();
 *   if (name !== undefined) void serveContender(name, makeContender);
 *   else void run().then(printResult);
 * }
 * ```
 */
export function contenderName(): string | undefined {
  const i = process.argv.indexOf(FLAG);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/**
 * Child side: builds contender `name` (its warm-up included), tells the parent it is ready, then
 * measures one round per `run` message and sends the value back.
 *
 * @example
 * ```ts
 * void serveContender(name, async (n) => { const loop = build(n); await warmUp(loop); return () => timeLoop(loop); });
 * ```
 */
export async function serveContender<T>(name: string, make: (name: string) => Promise<() => Promise<T>>): Promise<void> {
  const send = (m: FromChild<T>) => process.send?.(m);
  let measure: () => Promise<T>;
  try {
    measure = await make(name);
  } catch (err) {
    send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    return;
  }
  process.on('message', (m: ToChild) => {
    if (m.type === 'exit') process.exit(0);
    measure().then(
      (value) => send({ type: 'result', value }),
      (err: unknown) => send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  });
  send({ type: 'ready' });
}

function next<T>(child: ChildProcess, name: string): Promise<FromChild<T>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromChild<T>) => {
      cleanup();
      if (m.type === 'error') reject(new Error(`contender ${name} failed: ${m.message}`));
      else resolve(m);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`contender ${name} exited with code ${code}`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/**
 * Measures each contender in its own Node process, one at a time, so JIT feedback from one contender
 * cannot slow another down: `file` is bundled to plain JavaScript (see `bundleForNode`), and every
 * round starts a fresh process per contender (rotating the order), which warms up, runs twice and
 * reports its second run. A fresh process per round matters: JIT and heap layouts differ from process
 * to process, and with one process per contender for all rounds the same code came out 1.6x faster
 * or slower depending on the process it happened to get. Returns each contender's values per round.
 *
 * @example
 * ```ts
 * const byName = await interleaveIsolated<Timing>(__filename, ['bare', 'ours'], 7);
 * ```
 */
export async function interleaveIsolated<T, K extends string = string>(
  file: string,
  names: readonly K[],
  rounds: number,
  /** Extra environment for the contender processes (e.g. the benchmark's options). */
  env: Record<string, string> = {},
): Promise<Record<K, T[]>> {
  const bundle = await bundleForNode(file);
  try {
    const out = Object.fromEntries(names.map((n) => [n, [] as T[]])) as Record<K, T[]>;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(r + i) % names.length]!;
        const child = fork(bundle.file, [FLAG, name], {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          env: { ...process.env, ...env },
          execArgv: [], // plain node: the bundle needs no TypeScript loader
        });
        try {
          await next<T>(child, name); // ready (built and warmed up)
          let m: FromChild<T> | undefined;
          for (let run = 0; run < RUNS_PER_PROCESS; run++) {
            const reply = next<T>(child, name);
            child.send({ type: 'run' } satisfies ToChild);
            m = await reply;
          }
          if (m?.type === 'result') out[name].push(m.value); // the last run: the JIT has settled
        } finally {
          await stop(child);
        }
      }
    }
    return out;
  } finally {
    bundle.remove();
  }
}

/** Measured runs per process; only the last is kept (the first after the warm-up still ran slower). */
const RUNS_PER_PROCESS = 2;

function stop(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    if (child.connected) child.send({ type: 'exit' } satisfies ToChild);
    else child.kill();
  });
}

/**
 * Bundles a benchmark file with everything it imports (our source through the tsconfig paths, and the
 * peers' packages) into one CommonJS file, with the esbuild that tsx uses. Contenders then run as
 * plain JavaScript, as they would from their published builds: under tsx every import between our
 * source files goes through a getter (CommonJS interop), which made the engine about twice as slow
 * per call as its bundled build; the peers ship built JavaScript already. The bundle is written under
 * `bench/node_modules/.cache/`, so a package the benchmark loads at run time (`createRequire`) resolves
 * from there as it does from the benchmark file.
 *
 * @example
 * ```ts
 * const bundle = await bundleForNode(__filename);
 * const child = fork(bundle.file, ['--serve', 'ours'], { execArgv: [] });
 * ```
 */
export async function bundleForNode(file: string): Promise<{ file: string; remove(): void }> {
  const esbuild = createRequire(require.resolve('tsx/package.json'))('esbuild') as {
    build(options: Record<string, unknown>): Promise<unknown>;
  };
  const cache = join(__dirname, '..', 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'llmr-bench-'));
  const out = join(dir, basename(file).replace(/\.ts$/, '.cjs'));
  await esbuild.build({
    entryPoints: [file],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: out,
    tsconfig: join(__dirname, '..', '..', 'tsconfig.json'),
    logLevel: 'error',
  });
  return { file: out, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
