import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/**
 * Pins a process (all its threads) to one CPU with `taskset`, so that a load generator and the server
 * it drives do not take turns on the same core: on a 2-core machine, unpinned runs of the same server
 * differed by up to 40% from round to round. Returns false (and changes nothing) when the machine has
 * a single CPU or no `taskset` (not Linux, or util-linux missing); the benchmark then runs unpinned and
 * says so.
 *
 * @example
 * ```ts
 * pinToCpu(process.pid, 0);   // autocannon, in this process
 * pinToCpu(server.pid!, 1);  // the server under test
 * ```
 */
export function pinToCpu(pid: number, cpu: number): boolean {
  if (process.platform !== 'linux' || cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu % cpus().length), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * CPU time (user + system, in µs) a process has used so far, read from `/proc/<pid>/stat`; undefined
 * where there is no `/proc`.
 *
 * @example
 * ```ts
 * const before = processCpuUs(child.pid!);
 * ```
 */
export function processCpuUs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticksPerSecond = 100; // USER_HZ, 100 on every Linux Node supports
    return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1e6;
  } catch {
    return undefined;
  }
}
