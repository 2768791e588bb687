import { execFile, execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * True when `valgrind` and `callgrind_control` are on the PATH (Linux with the valgrind package).
 *
 * @example
 * ```ts
 * if (!hasCallgrind()) console.log('instruction counts skipped: no valgrind');
 * ```
 */
export function hasCallgrind(): boolean {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A Node process running under callgrind with instrumentation off until {@link CallgrindProcess.count}. */
export interface CallgrindProcess {
  readonly child: ChildProcess;
  /** The last 4 000 characters valgrind and the process wrote to stderr. */
  readonly stderr: string;
  /** Instructions the process executes while `work` runs (every thread: JIT, GC, the main thread). */
  count(work: () => Promise<void>): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Forks `file` (plain JavaScript) under `valgrind --tool=callgrind`, with instrumentation off from the
 * start, so that only the window passed to {@link CallgrindProcess.count} is counted. The child keeps
 * its IPC channel (`process.send` works as with a plain `fork`).
 *
 * Instruction counts do not depend on how busy or how fast the machine is: the same build, inputs and
 * requests give the same count within a few percent (JIT and garbage-collection timing still vary), where
 * wall-clock and CPU-time measurements on a shared VM move by 15% or more from one minute to the next.
 * They are a proxy for CPU time: they do not see cache misses or the kernel's share of a request
 * (syscalls are not counted).
 *
 * @example
 * ```ts
 * const p = startUnderCallgrind(bundle, ['--serve', 'bare']);
 * const port = await new Promise<number>((r) => p.child.once('message', (m: { port: number }) => r(m.port)));
 * const instructions = await p.count(() => load(port, 5000));
 * await p.stop();
 * ```
 */
export function startUnderCallgrind(file: string, args: readonly string[]): CallgrindProcess {
  const dir = mkdtempSync(join(tmpdir(), 'llmr-callgrind-'));
  const out = join(dir, 'callgrind.out');
  const child = fork(file, [...args], {
    execPath: 'valgrind',
    // JIT code is written at run time: --smc-check=all-non-file makes valgrind notice it.
    execArgv: ['--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  // valgrind writes to stderr: read it (an unread pipe that fills up would stall the server) and keep
  // the end of it for the error message if the server dies.
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4_000);
  });
  let dumps = 0;
  const control = (...a: string[]) => run('callgrind_control', [...a, String(child.pid)]);
  return {
    child,
    get stderr() {
      return stderrTail;
    },
    async count(work) {
      await control('-i', 'on');
      try {
        await work();
      } finally {
        await control('-i', 'off');
      }
      await control('-d');
      dumps++;
      return readTotal(`${out}.${dumps}`);
    },
    stop() {
      return new Promise((resolve) => {
        const done = () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', done);
        child.kill();
      });
    },
  };
}

/** The `totals:` line of a callgrind dump, waiting up to 30 s for valgrind to finish writing it. */
async function readTotal(file: string): Promise<number> {
  for (let waited = 0; ; waited += 100) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not written yet
    }
    const totals = /^totals:\s*(\d+)/m.exec(text);
    if (totals) return Number(totals[1]);
    if (waited >= 30_000) throw new Error(`callgrind wrote no totals to ${file} within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
