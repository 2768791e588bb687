/**
 * `pnpm bench`: runs every `bench/*.bench.ts` that exports `run()`, one after the other, prints each
 * result (ours, peer, ratio) and writes a Markdown summary to `bench/results/<date>.md` and
 * `bench/results/latest.md` (plus the raw results as `latest.json`, which git ignores).
 *
 * A benchmark that throws is reported as failed and the others still run. A result of another shape
 * than `BenchResult` (bench/lib/result.ts) is printed as JSON.
 *
 * Usage: `pnpm bench` (all), `pnpm bench limiter outage` (only files whose name contains one of the
 * words). Env: BENCH_STRICT=1 exits with status 1 when a benchmark failed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { printResult, toMarkdown, type BenchRun } from './lib/report';

const BENCH_DIR = __dirname;
const RESULTS_DIR = join(BENCH_DIR, 'results');
/** Peers whose versions the summary states. */
const PEERS = ['rate-limiter-flexible', 'cockatiel', '@langchain/core', '@langchain/openai', 'openai', 'express', 'express-rate-limit', 'autocannon', 'ioredis'];

function benchFiles(filters: readonly string[]): string[] {
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
    .sort();
}

function versionOf(pkg: string): string {
  try {
    const json = JSON.parse(readFileSync(join(BENCH_DIR, 'node_modules', pkg, 'package.json'), 'utf8')) as { version?: string };
    return json.version ?? '?';
  } catch {
    return 'not installed';
  }
}

function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: BENCH_DIR, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: BENCH_DIR, encoding: 'utf8' }).trim() !== '';
    return `${sha}${dirty ? ' (with uncommitted changes)' : ''}`;
  } catch {
    return 'unknown';
  }
}

function describeError(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

async function runOne(file: string): Promise<BenchRun | undefined> {
  const t0 = performance.now();
  let mod: { run?: unknown };
  try {
    mod = (await import(join(BENCH_DIR, file))) as { run?: unknown };
  } catch (err) {
    return { file, ok: false, error: `could not load: ${describeError(err)}`, durationMs: performance.now() - t0 };
  }
  if (typeof mod.run !== 'function') {
    console.log(`- ${file}: no run() export, skipped`);
    return undefined;
  }
  try {
    const result: unknown = await (mod.run as () => unknown)();
    return { file, ok: true, result, durationMs: performance.now() - t0 };
  } catch (err) {
    return { file, ok: false, error: describeError(err), durationMs: performance.now() - t0 };
  }
}

async function main(): Promise<void> {
  const files = benchFiles(process.argv.slice(2));
  const date = new Date();
  const loadBefore = loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`Running ${files.length} benchmark(s): ${files.join(', ')}`);
  const runs: BenchRun[] = [];
  for (const file of files) {
    console.log(`\n### ${file}`);
    const r = await runOne(file);
    if (r === undefined) continue;
    runs.push(r);
    if (r.ok) printResult(r.result);
    else console.log(`FAILED after ${(r.durationMs / 1000).toFixed(1)} s:\n${r.error}`);
  }
  const cpu = cpus();
  const environment = [
    `Node ${process.version} on ${platform()} ${release()}, ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}`,
    `Load average (1/5/15 min) before: ${loadBefore}; after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `Commit ${gitCommit()}`,
    `Peers: ${PEERS.map((p) => `${p} ${versionOf(p)}`).join(', ')}`,
  ];
  mkdirSync(RESULTS_DIR, { recursive: true });
  const md = toMarkdown(runs, { date, environment });
  const dated = join(RESULTS_DIR, `${date.toISOString().slice(0, 10)}.md`);
  writeFileSync(dated, md);
  writeFileSync(join(RESULTS_DIR, 'latest.md'), md);
  writeFileSync(join(RESULTS_DIR, 'latest.json'), JSON.stringify({ date: date.toISOString(), environment, runs }, null, 2));
  const failed = runs.filter((r) => !r.ok);
  console.log(`\nWrote ${dated} and bench/results/latest.md. ${runs.length - failed.length} ran, ${failed.length} failed${failed.length ? `: ${failed.map((f) => f.file).join(', ')}` : ''}.`);
  if (failed.length > 0 && process.env.BENCH_STRICT === '1') process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
