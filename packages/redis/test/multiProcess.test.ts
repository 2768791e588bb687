import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { connect, deleteKeys, REDIS_URL, redisNow, uniquePrefix } from './redisTestUtils';
import type { HammerConfig } from './fixtures/hammerWorker';

const WORKERS = 4;
const DURATION_MS = 10_000;
/** 500 units/s with a burst of 100: T = 2 ms. */
const LIMIT = 100;
const WINDOW_MS = 200;

interface Done {
  type: 'done';
  admitted: number;
  denied: number;
  errors: number;
  firstAttemptAt: number;
  lastAdmitAt: number;
  message?: string;
}

function message<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string }) => {
      if (m.type !== type) return;
      child.off('message', onMessage);
      resolve(m as T);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before sending '${type}'`)));
  });
}

describe('4 processes share one limit through Redis', () => {
  let redis: Redis;
  const prefix = uniquePrefix('multi');
  const children: ChildProcess[] = [];

  beforeAll(() => {
    redis = connect();
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill();
    await deleteKeys(redis, `{${prefix}}:*`);
    await redis.quit();
  });

  it('never admits more than burst + rate × elapsed, and uses at least 97% of it', async () => {
    const worker = join(__dirname, 'fixtures', 'hammerWorker.ts');
    for (let i = 0; i < WORKERS; i++) {
      children.push(fork(worker, [], { execArgv: ['--import', 'tsx'], cwd: join(__dirname, '..', '..', '..'), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    }
    await Promise.all(children.map((c) => message(c, 'ready')));

    const config: HammerConfig = { redisUrl: REDIS_URL, prefix, key: 'model=shared|requests', limit: LIMIT, windowMs: WINDOW_MS, loops: 4, durationMs: DURATION_MS };
    const done = children.map((c) => message<Done>(c, 'done'));
    const start = await redisNow(redis);
    for (const c of children) c.send({ type: 'go', ...config });
    const results = await Promise.all(done);
    const end = await redisNow(redis);

    const admitted = results.reduce((n, r) => n + r.admitted, 0);
    // Upper bound over a window that surely contains every admission (Redis time around the run).
    const allowed = LIMIT + ((end - start) * LIMIT) / WINDOW_MS;
    // Utilization over the hammering itself (first attempt to last admission, as the workers saw it):
    // process start-up and IPC delays on a busy machine are not the limiter's doing.
    const busyMs = Math.max(...results.map((r) => r.lastAdmitAt)) - Math.min(...results.map((r) => r.firstAttemptAt));
    const available = LIMIT + (busyMs * LIMIT) / WINDOW_MS;
    const summary = { admitted, allowed, available, elapsedMs: end - start, busyMs, results };
    expect({ ...summary, errors: results.map((r) => r.errors) }).toMatchObject({ errors: [0, 0, 0, 0] });
    expect({ ...summary, everyWorkerAdmittedAndWasDenied: results.every((r) => r.admitted > 0 && r.denied > 0) }).toMatchObject({
      everyWorkerAdmittedAndWasDenied: true,
    });
    expect({ ...summary, withinLimit: admitted <= allowed }).toMatchObject({ withinLimit: true });
    expect({ ...summary, used97: admitted / available >= 0.97 }).toMatchObject({ used97: true });
    expect(busyMs).toBeGreaterThanOrEqual(DURATION_MS - 100);
  }, 40_000);
});
