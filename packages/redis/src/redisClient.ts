import type { Cluster, Redis } from 'ioredis';

/**
 * The client the stores accept: an `ioredis` `Redis` (standalone or Sentinel) or `Cluster` instance,
 * created and owned by the application.
 *
 * @example
 * ```ts
 * const client: RedisClient = new Redis(process.env.REDIS_URL!);
 * ```
 */
export type RedisClient = Redis | Cluster;

/**
 * The slice of the ioredis API the stores use; both `Redis` and `Cluster` provide it.
 *
 * @example
 * ```ts
 * const client = redis as unknown as ScriptClient;
 * ```
 */
export interface ScriptClient {
  status: string;
  isCluster?: boolean;
  /** A single-node client's current connection (ioredis replaces it on every reconnect). */
  stream?: unknown;
  evalsha(...args: (string | number)[]): Promise<unknown>;
  eval(...args: (string | number)[]): Promise<unknown>;
  script(subcommand: 'LOAD', lua: string): Promise<unknown>;
  ping(): Promise<unknown>;
  nodes?(role?: 'all' | 'master' | 'slave'): ScriptClient[];
}

/** Client statuses in which a command would sit in ioredis' offline queue and run late (stale). */
const OFFLINE = new Set(['reconnecting', 'close', 'end', 'disconnecting']);

/**
 * Why `client` cannot take a command right now, or `undefined` when it can. `wait` (lazyConnect) and
 * `connecting` at start-up are accepted: the command triggers/awaits the first connection.
 *
 * @example
 * ```ts
 * if (notReadyReason(client)) return fallback();
 * ```
 */
export function notReadyReason(client: ScriptClient): Error | undefined {
  if (!OFFLINE.has(client.status)) return undefined;
  return new Error(`Redis connection is ${client.status}`);
}

/**
 * Is `error` a sign that Redis is unreachable or unable to serve (as opposed to a bug such as a
 * malformed argument)? Replies Redis sends while overloaded, loading or failing over count as outages.
 *
 * @example
 * ```ts
 * if (isOutageError(err)) health.markDown(err);
 * ```
 */
export function isOutageError(error: unknown): boolean {
  if (!(error instanceof Error)) return true;
  if (error.name !== 'ReplyError') return true;
  return /^(LOADING|BUSY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|NOREPLICAS|MISCONF)\b/.test(error.message);
}
