import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
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
 * cannot slow another down: `file` is bundled to plain JavaScript (see `bundleForNode`), one process per
 * contender is started from the bundle and warmed up, one after the other, then every round runs each
 * contender once, rotating the order. Returns each contender's values per round.
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
  const children = new Map<K, ChildProcess>();
  const bundle = await bundleForNode(file);
  try {
    for (const name of names) {
      const child = fork(bundle.file, [FLAG, name], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, ...env },
        execArgv: [], // plain node: the bundle needs no TypeScript loader
      });
      children.set(name, child);
      await next<T>(child, name); // ready (built and warmed up)
    }
    const out = Object.fromEntries(names.map((n) => [n, [] as T[]])) as Record<K, T[]>;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(r + i) % names.length]!;
        const child = children.get(name)!;
        const reply = next<T>(child, name);
        child.send({ type: 'run' } satisfies ToChild);
        const m = await reply;
        if (m.type === 'result') out[name].push(m.value);
      }
    }
    return out;
  } finally {
    await Promise.all(
      [...children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            if (child.connected) child.send({ type: 'exit' } satisfies ToChild);
            else child.kill();
          }),
      ),
    );
    bundle.remove();
  }
}

/**
 * Bundles a benchmark file with everything it imports (our source through the tsconfig paths, and the
 * peers' packages) into one CommonJS file, with the esbuild that tsx uses. Contenders then run as
 * plain JavaScript, as they would from their published builds: under tsx every import between our
 * source files goes through a getter (CommonJS interop), which made the engine about twice as slow
 * per call as its bundled build; the peers ship built JavaScript already.
 */
async function bundleForNode(file: string): Promise<{ file: string; remove(): void }> {
  const esbuild = createRequire(require.resolve('tsx/package.json'))('esbuild') as {
    build(options: Record<string, unknown>): Promise<unknown>;
  };
  const dir = mkdtempSync(join(tmpdir(), 'llmr-bench-'));
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
