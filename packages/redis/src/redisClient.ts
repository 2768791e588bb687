import type { Cluster, Redis } from 'ioredis';
import { RedisKeyError } from './RedisKeyError';

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
  set(key: string, value: string, px: 'PX', ms: number): Promise<unknown>;
  nodes?(role?: 'all' | 'master' | 'slave'): ScriptClient[];
}

/**
 * A new connection like `redis` for SUBSCRIBE, owned by the caller: `redis.duplicate()`, for a
 * single-node (or Sentinel) client with `autoResubscribe: false`. The syncs resubscribe themselves on
 * every `ready` (bounded by their timeout, failures reported); ioredis' own resubscription is a
 * command whose promise nobody handles, so a connection closed (`disconnect()`) before its reply
 * came would reject it unhandled (`Connection is closed.`). A `Cluster` is duplicated as it is.
 *
 * @example
 * ```ts
 * const subscriber = duplicateForSubscribe(redis);
 * ```
 */
export function duplicateForSubscribe(redis: RedisClient): RedisClient {
  const d = redis as unknown as { isCluster?: boolean; duplicate(override?: object): RedisClient };
  return d.isCluster === true ? d.duplicate() : d.duplicate({ autoResubscribe: false });
}

/** Statuses of a client's first connection, before it was ever ready. */
const FIRST_CONNECTION = new Set(['wait', 'connecting', 'connect']);

/** Clients seen `ready` at least once: from then on, any other status is a reconnect. */
const seenReady = new WeakSet<object>();

/**
 * Why `client` cannot take a command right now, or `undefined` when it can. Anything but `ready`
 * means ioredis would put the command in its offline queue and run it whenever the connection is
 * back (through `connecting` and `connect`, the handshake and ready check, on every reconnect): late,
 * with stale relative times or charges nobody waits for any more. Only the client's very first
 * connection is waited for (`startup: 'wait'`, the default): `wait` (lazyConnect), `connecting` and
 * `connect` before the client was ever ready and before ioredis retried, so a process that uses its
 * new client at once is not sent to a failure mode for it (each caller bounds the wait by its own
 * timeout). `startup: 'refuse'` refuses those too (writes that must never run late).
 *
 * @example
 * ```ts
 * if (notReadyReason(client)) return fallback();
 * ```
 */
export function notReadyReason(client: ScriptClient, startup: 'wait' | 'refuse' = 'wait'): Error | undefined {
  const status = client.status;
  if (status === 'ready') {
    seenReady.add(client);
    return undefined;
  }
  // ioredis counts the attempts of a reconnect (reset when ready): > 0 is never a first connection.
  const retries = (client as { retryAttempts?: unknown }).retryAttempts;
  if (startup === 'wait' && FIRST_CONNECTION.has(status) && !seenReady.has(client) && !(typeof retries === 'number' && retries > 0)) return undefined;
  return new Error(`Redis connection is ${status}`);
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
  if (error instanceof RedisKeyError) return false; // Redis's answer for one reservation of a batch
  if (!(error instanceof Error)) return true;
  if (error.name !== 'ReplyError') return true;
  // OOM: `maxmemory` reached under `noeviction` (the usual policy for limiter keys): no write passes
  // until memory frees, like a read-only replica.
  return /^(LOADING|BUSY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|NOREPLICAS|MISCONF|OOM)\b/.test(error.message);
}
