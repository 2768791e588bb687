import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as connectTcp, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis, { type RedisOptions } from 'ioredis';

/** The Redis the integration tests use (`.ci/run` starts one on 6379 if none is up). */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A prefix no other test file or run shares. */
export function uniquePrefix(label: string): string {
  return `llmr-test-${label}-${randomBytes(6).toString('hex')}`;
}

/** A client on REDIS_URL that fails fast instead of queueing forever when Redis is away. */
export function connect(options: RedisOptions = {}): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 2, ...options });
}

/** Redis server time in ms (same rounding as the scripts: whole milliseconds). */
export async function redisNow(redis: Redis): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

/** Deletes every key matching `pattern`. */
export async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/** A port nobody listens on right now. */
export async function sparePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

/** A redis-server child process owned by one test file (no persistence). */
export class RedisServerProcess {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'llmr-redis-'));

  constructor(
    readonly port: number,
    private readonly extraArgs: string[] = [],
  ) {}

  /** Starts the server and resolves once it accepts connections. */
  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...this.extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (b: Buffer) => {
        out += b.toString();
        if (out.includes('Ready to accept connections')) {
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.resume();
      child.once('exit', (code) => reject(new Error(`redis-server exited early (${code}): ${out.slice(-500)}`)));
    });
  }

  /** Kills the server (SIGKILL: an abrupt outage) and resolves once it is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  /** Stops the server and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Collects what a sync delivers (`onRemote`) and lets a test wait for the n-th delivery. */
export class Inbox<T> {
  readonly received: Array<[string, T]> = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  readonly onRemote = (key: string, value: T): void => {
    this.received.push([key, value]);
    this.waiters = this.waiters.filter((w) => {
      if (this.received.length < w.n) return true;
      w.resolve();
      return false;
    });
  };

  /** Resolves once `n` deliveries in all have arrived (counting those already there). */
  count(n: number): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  keys(): string[] {
    return this.received.map(([k]) => k);
  }
}

/** Waits until Redis `TIME` is past `ms` (epoch ms), yielding to the event loop between reads. */
export async function untilRedisTime(redis: Redis, ms: number): Promise<void> {
  while ((await redisNow(redis)) <= ms) await new Promise((r) => setImmediate(r));
}

/**
 * Runs `step` every `everyMs` until it returns true. Gives up after `timeoutMs` with an error naming
 * `what`, so a regression fails its test instead of leaving a loop running that keeps Jest from exiting.
 */
export async function pollUntil(what: string, step: () => boolean | Promise<boolean>, timeoutMs = 5000, everyMs = 10): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await step())) {
    if (Date.now() > end) throw new Error(`Gave up after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A TCP proxy in front of the Redis at REDIS_URL, on a free local port: what the proxies below share
 * (listening, keeping track of the sockets, stopping). Each decides what it does with a connection.
 */
abstract class RedisTcpProxy {
  private server: Server | undefined;
  protected readonly sockets = new Set<Socket>();
  protected readonly target: { host: string; port: number };

  protected constructor() {
    const url = new URL(REDIS_URL);
    this.target = { host: url.hostname, port: Number(url.port || 6379) };
  }

  /** Listens on a free local port, and returns it. */
  protected async listen(): Promise<number> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Keeps `s` until it closes (errors are the test's doing: ignored). */
  protected track(s: Socket): void {
    this.sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => this.sockets.delete(s));
  }

  /** A new connection to Redis, tracked; closing either side closes the other. */
  protected upstreamFor(client: Socket): Socket {
    const upstream = connectTcp(this.target.port, this.target.host);
    this.track(upstream);
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    return upstream;
  }

  protected abstract accept(client: Socket): void;
}

/**
 * A TCP proxy in front of Redis that can lose a reply: armed with {@link dropNextReply}, it forwards
 * what the client sends, and when Redis answers it closes both connections instead of passing the
 * answer on. Redis has run the command; the client never hears of it, and reconnects (through the
 * proxy again).
 */
export class ReplyDroppingProxy extends RedisTcpProxy {
  private armed = false;
  /** Replies dropped so far. */
  dropped = 0;

  /** Starts a proxy to REDIS_URL on a free local port. */
  static async start(): Promise<ReplyDroppingProxy & { port: number }> {
    const proxy = new ReplyDroppingProxy();
    return Object.assign(proxy, { port: await proxy.listen() });
  }

  /** The next bytes Redis sends back (on any connection) are dropped, and that connection is cut. */
  dropNextReply(): void {
    this.armed = true;
  }

  protected accept(client: Socket): void {
    this.track(client);
    const upstream = this.upstreamFor(client);
    client.on('data', (b: Buffer) => upstream.write(b));
    upstream.on('data', (b: Buffer) => {
      if (this.armed) {
        this.armed = false;
        this.dropped++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(b);
    });
  }
}

/**
 * A TCP proxy in front of Redis that can hold new connections: accepted (so ioredis sees the TCP
 * connect and moves to status `connect`, its handshake and ready check pending) but nothing is
 * forwarded until {@link release}. This is what a client sees while Redis is slow to answer after a
 * restart, a failover or a network blip, on every reconnect.
 */
export class ConnectionHoldingProxy extends RedisTcpProxy {
  private held: Array<() => void> = [];
  private holding = false;

  /** Starts a proxy to REDIS_URL on a free local port. */
  static async start(): Promise<ConnectionHoldingProxy & { port: number }> {
    const proxy = new ConnectionHoldingProxy();
    return Object.assign(proxy, { port: await proxy.listen() });
  }

  /** Cuts every open connection; new ones are held until {@link release}. */
  cutAndHold(): void {
    this.holding = true;
    for (const s of this.sockets) s.destroy();
  }

  /** Connects the held connections to Redis, and the next ones at once. */
  release(): void {
    this.holding = false;
    const held = this.held;
    this.held = [];
    for (const pipe of held) pipe();
  }

  override async stop(): Promise<void> {
    this.held = [];
    await super.stop();
  }

  protected accept(client: Socket): void {
    this.track(client);
    const buffered: Buffer[] = [];
    const buffer = (b: Buffer) => buffered.push(b);
    client.on('data', buffer);
    const pipe = () => {
      if (client.destroyed) return;
      const upstream = this.upstreamFor(client);
      client.off('data', buffer);
      for (const b of buffered) upstream.write(b);
      client.on('data', (b: Buffer) => upstream.write(b));
      upstream.on('data', (b: Buffer) => client.write(b));
    };
    if (this.holding) this.held.push(pipe);
    else pipe();
  }
}
