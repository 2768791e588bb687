import { RedisKeyspace } from './RedisKeyspace';
import { notReadyReason, type ScriptClient } from './redisClient';
import type { RedisClient } from './redisClient';
import { booleanOption, clientOption, knownKeys, optionsObject, prefixOption, timeoutOption } from './optionChecks';
import { RedisUnavailableError } from './RedisUnavailableError';
import { withTimeout } from './withTimeout';

/**
 * Options of {@link RedisStateStore}.
 *
 * @example
 * ```ts
 * const opts: RedisStateStoreOptions = { redis, prefix: 'llmr', timeoutMs: 100 };
 * ```
 */
export interface RedisStateStoreOptions {
  /** An ioredis `Redis` or `Cluster` instance (yours; never closed by the store). */
  redis: RedisClient;
  /** Namespace, shared with the limiter store if you like (keys use kind `s`). Default `'llmr'`. */
  prefix?: string;
  /** Wrap the namespace in a Cluster hash tag. Default `true`. */
  hashTag?: boolean;
  /** Longest an operation waits for Redis. Default `100` ms. */
  timeoutMs?: number;
}

/** Every key of {@link RedisStateStoreOptions} (the compiler keeps this list complete). */
const STATE_STORE_KEYS = { redis: true, prefix: true, hashTag: true, timeoutMs: true } satisfies Record<keyof RedisStateStoreOptions, true>;
const STATE_STORE_OPTION_NAMES: readonly string[] = Object.keys(STATE_STORE_KEYS);

/**
 * Small JSON state shared by every process, each entry with a TTL: the seam for shared breaker and
 * pacing state (an opened breaker, remaining quota read from provider headers). Values are whole JSON
 * documents written with `SET ... PX`; keys are escaped like the limiter's. Failures reject with
 * {@link RedisUnavailableError}: the caller keeps its local state and decides how to degrade.
 *
 * @example
 * ```ts
 * const state = new RedisStateStore({ redis });
 * await state.set('breaker|target=fast-a', { state: 'open', until: Date.now() + 30_000 }, 30_000);
 * const b = await state.get<{ state: string; until: number }>('breaker|target=fast-a');
 * ```
 */
export class RedisStateStore {
  private readonly client: ScriptClient;
  private readonly keyspace: RedisKeyspace;
  private readonly timeoutMs: number;

  constructor(options: RedisStateStoreOptions) {
    const o = optionsObject(options, 'RedisStateStore');
    knownKeys(o, STATE_STORE_OPTION_NAMES, 'RedisStateStore');
    this.client = clientOption<ScriptClient>('redis', o.redis, 'get');
    this.keyspace = new RedisKeyspace({ prefix: prefixOption('prefix', o.prefix), hashTag: booleanOption('hashTag', o.hashTag) });
    this.timeoutMs = timeoutOption('timeoutMs', o.timeoutMs, 100);
  }

  /**
   * The value stored under `key`, or `undefined` when missing or expired.
   *
   * @example
   * ```ts
   * const pacing = await state.get<{ remainingTokens: number }>('pacing|target=fast-a');
   * ```
   */
  async get<T>(key: string): Promise<T | undefined> {
    const raw = await this.call('get', (c) => c.get(this.keyspace.key('s', key)));
    return raw === null || raw === undefined ? undefined : (JSON.parse(raw) as T);
  }

  /**
   * Stores `value` (JSON) under `key` for `ttlMs`.
   *
   * @example
   * ```ts
   * await state.set('pacing|target=fast-a', { remainingTokens: 1200 }, 60_000);
   * ```
   */
  async set<T>(key: string, value: T, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError(`RedisStateStore.set: ttlMs must be a positive number, got ${ttlMs}.`);
    const json = JSON.stringify(value);
    await this.call('set', (c) => c.set(this.keyspace.key('s', key), json, 'PX', Math.ceil(ttlMs)));
  }

  /**
   * Removes `key`.
   *
   * @example
   * ```ts
   * await state.delete('breaker|target=fast-a');
   * ```
   */
  async delete(key: string): Promise<void> {
    await this.call('delete', (c) => c.del(this.keyspace.key('s', key)));
  }

  private async call<R>(operation: string, run: (c: StateClient) => Promise<R>): Promise<R> {
    const notReady = notReadyReason(this.client);
    if (notReady !== undefined) throw new RedisUnavailableError(`${operation} shared state`, 0, notReady);
    try {
      return await withTimeout(run(this.client as unknown as StateClient), this.timeoutMs);
    } catch (error) {
      throw new RedisUnavailableError(`${operation} shared state`, 0, error);
    }
  }
}

interface StateClient {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, px: 'PX', ms: number): Promise<unknown>;
  del(key: string): Promise<unknown>;
}
