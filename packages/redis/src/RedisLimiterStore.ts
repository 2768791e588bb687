import { randomBytes } from 'node:crypto';
import { scrubRedisError } from './scrubRedisError';
import { CONCURRENCY_RETRY_MS } from '@llm-resilience/core';
import type { Clock, LimitAdjustment, LimitCharge, LimiterStore, LimitState, ReserveResult } from '@llm-resilience/core';
import { LeaseMark } from './LeaseMark';
import { ADJUST_LUA, ADJUST_UNIT_ARGS, PEEK_LUA, RESERVE_LUA, UNIT_ARGS } from './limiterScripts';
import { LocalFallbackLimiter, LocalMark } from './LocalFallbackLimiter';
import { isOutageError, notReadyReason, type ScriptClient } from './redisClient';
import { RedisHealth, type RedisHealthState } from './RedisHealth';
import { RedisKeyError } from './RedisKeyError';
import { RedisKeyspace } from './RedisKeyspace';
import { RedisScript } from './RedisScript';
import { RedisUnavailableError } from './RedisUnavailableError';
import { isLeaseRelease, ReleaseQueue, type QueuedRelease } from './ReleaseQueue';
import { resolveStoreOptions } from './resolveStoreOptions';
import type { RedisFailureMode, RedisLimiterStoreOptions, RedisStoreEvent } from './types';
import { failEntry, ScriptBatcher, type BatchEntry } from './ScriptBatcher';
import { withTimeout } from './withTimeout';

// Scripts are immutable and shared by every store instance.
const RESERVE = new RedisScript(RESERVE_LUA);
const ADJUST = new RedisScript(ADJUST_LUA);
const PEEK = new RedisScript(PEEK_LUA);

type Operation = 'reserve' | 'adjust' | 'peek';
type Unit = LimitCharge | LimitAdjustment;

/** Most releases kept for Redis while it is away (see {@link ReleaseQueue}), per store. */
const MAX_QUEUED_RELEASES = 100_000;
/** Most kept releases sent in one script run. */
const REPLAY_CHUNK = 500;
/** Sends of a kept release that Redis may refuse with an error that is not an outage before it is dropped. */
const REPLAY_ATTEMPTS = 3;
/** Lifetime of the key the recovery probe writes (`{prefix}:h:probe`). */
const PROBE_KEY_TTL_MS = 1000;

/**
 * A {@link LimiterStore} on Redis (ioredis `Redis` or `Cluster`), so that every process shares one
 * limit. Each operation is one Lua script, one round trip, atomic: a reservation applies all of its
 * charges or none. Time comes from Redis `TIME`. Semantics are exactly those of the core's
 * `MemoryLimiterStore` (GCRA buckets, concurrency counters, per-window counters for budgets) — see
 * `limiterScripts.ts`. In-flight concurrency (`windowMs` 0) is kept as leases that expire after
 * `leaseMs`; per-window counters (`concurrency` with `windowMs > 0`) are plain counts that live
 * `windowMs` (+ margin) after their last write.
 *
 * Refunds are capped like the memory store's: an admitted reservation's `marks` hold, per rate charge,
 * the key's `tat` right after it (epoch ms), and a refund passed back with its mark gives back at most
 * `max(0, mark − now)`, the part of the reservation's interval that has not expired. Redis keeps no
 * record of other refunds, so when an earlier reservation refunds first, a later one's cap is looser
 * than the memory store's, by at most what was refunded meanwhile (see `limiterScripts.ts`).
 *
 * When Redis is down or slower than `timeoutMs`, the store applies `onRedisError`: `fail-open`
 * (default) decides locally on a fraction of each limit, `fail-closed` refuses with
 * {@link RedisUnavailableError}. It returns to Redis on its own once a probe (a write of a short-lived
 * key: a Redis that answers but refuses writes stays down) succeeds. Releases
 * of slots held on Redis that could not be written meanwhile are sent again then (each removes only
 * its own lease, so a release that did reach Redis frees nothing twice). A reservation that timed out
 * but ran on Redis later is given back there when its reply arrives. It never
 * closes the client and never attaches listeners to it (ioredis does not crash on unhandled `error`
 * events; it logs them — attach your own listener to route them to your logger).
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * const store = new RedisLimiterStore({ redis: new Redis(process.env.REDIS_URL!) });
 * const engine = createResilience(policy, { store });
 * ```
 */
export class RedisLimiterStore implements LimiterStore {
  /** What happens while Redis is unavailable. */
  readonly mode: RedisFailureMode;
  /** Key builder; `keyspace.pattern()` matches every key this store writes. */
  readonly keyspace: RedisKeyspace;
  private readonly client: ScriptClient;
  private readonly timeoutMs: number;
  /** The key the recovery probe writes. */
  private readonly probeKey: string;
  private readonly header: readonly (string | number)[];
  private readonly local: LocalFallbackLimiter;
  private readonly healthState: RedisHealth;
  private readonly onEvent: ((event: RedisStoreEvent) => void) | undefined;
  private readonly clock: Clock;
  /** Releases of slots held on Redis that could not be written there yet. */
  private readonly releases: ReleaseQueue;
  /** The replay of kept releases in flight, if any. */
  private replaying: Promise<void> | undefined;
  private closed = false;
  private readonly reserveBatcher: ScriptBatcher<ReserveResult>;
  private readonly adjustBatcher: ScriptBatcher<void>;
  private loading: Promise<void> | undefined;
  private loaded = false;
  /** Reserve and adjust runs get ids `<this store's random prefix><sequence, base 36>`, unique across processes. */
  private readonly runPrefix = randomBytes(5).toString('hex');
  private runs = 0;

  constructor(options: RedisLimiterStoreOptions) {
    const o = resolveStoreOptions(options);
    const client = o.client;
    this.client = client;
    this.mode = o.mode;
    this.timeoutMs = o.timeoutMs;
    this.keyspace = new RedisKeyspace({ prefix: o.prefix, hashTag: o.hashTag });
    this.probeKey = this.keyspace.key('h', 'probe');
    this.header = [Math.ceil(o.leaseMs), Math.ceil(o.marginMs), CONCURRENCY_RETRY_MS];
    const batch = { client, header: this.header, maxBatch: o.maxBatch, timeoutMs: o.timeoutMs };
    this.reserveBatcher = new ScriptBatcher<ReserveResult>({
      ...batch,
      script: RESERVE,
      withCounts: true,
      settle: settleReserve,
      late: (result, charges) => this.undoLate(result, charges as readonly LimitCharge[]),
      runId: () => this.runPrefix + (this.runs++).toString(36),
      unanswered: (runId, contexts, error) => this.clearUnanswered(runId, contexts as ReadonlyArray<readonly LimitCharge[]>, error),
    });
    // Adjust runs are idempotent: a copy ioredis sends again after reconnecting (its first reply lost)
    // finds the run's record and changes nothing, so no refund or extra charge is applied twice.
    this.adjustBatcher = new ScriptBatcher<void>({
      ...batch,
      script: ADJUST,
      withCounts: false,
      settle: (reply, batch) => this.settleAdjust(reply, batch),
      runId: () => this.runPrefix + (this.runs++).toString(36),
      runKey: (runId) => this.keyspace.key('a', runId),
    });
    this.local = new LocalFallbackLimiter(o.localFraction, o.clock);
    this.onEvent = o.onEvent;
    this.clock = o.clock;
    // A kept release whose lease expired before Redis took it never reached Redis: the slot stayed held
    // for the lease's whole lifetime. Reported like the other releases that will not be sent.
    this.releases = new ReleaseQueue(o.leaseMs, MAX_QUEUED_RELEASES, (count) =>
      this.emit({ type: 'adjustDropped', count, error: this.healthState.cause }),
    );
    this.healthState = new RedisHealth({
      clock: o.clock,
      initialBackoffMs: o.initialBackoffMs,
      maxBackoffMs: o.maxBackoffMs,
      probe: () => this.probe(),
      onDown: (error) => this.emit({ type: 'unavailable', error }),
      onUp: (downMs) => {
        this.emit({ type: 'recovered', downMs });
        this.replayReleases();
      },
    });
  }

  /** `up` while decisions are made on Redis, `down` while the fallback mode applies. */
  get health(): RedisHealthState {
    return this.healthState.state;
  }

  /**
   * Loads the three scripts (SCRIPT LOAD; on Cluster, on every master). Optional: the first operation
   * does it, and NOSCRIPT is handled anyway. Call it at start-up to fail fast on a bad connection.
   *
   * @example
   * ```ts
   * await store.load();
   * ```
   */
  async load(): Promise<void> {
    await Promise.all([RESERVE.load(this.client), ADJUST.load(this.client), PEEK.load(this.client)]);
    this.loaded = true;
  }

  /**
   * Applies every charge or none, in one round trip.
   *
   * @example
   * ```ts
   * const r = await store.reserve([
   *   { key: 'rpm|model=m', kind: 'rate', limit: 500, windowMs: 60_000, amount: 1 },
   *   { key: 'tpm|model=m', kind: 'rate', limit: 90_000, windowMs: 60_000, amount: 1200 },
   * ]);
   * ```
   */
  reserve(charges: readonly LimitCharge[]): Promise<ReserveResult> {
    if (charges.length === 0) return Promise.resolve({ ok: true, states: [] });
    try {
      validate(charges, 'amount');
    } catch (error) {
      return Promise.reject(error);
    }
    const keys = this.keysOf(charges);
    const units = unitArgs(charges, 'amount');
    // Local reservations carry marks of the local store (told apart by LocalFallbackLimiter).
    const fallback = () => this.local.reserve(charges);
    if (this.fastPath()) {
      // Hot path: one promise from the batcher, failure handling only when it fails.
      return this.reserveBatcher.add(keys, units, charges.length, (error) => this.onFailure('reserve', error, fallback), charges);
    }
    return this.exec(
      'reserve',
      () => this.reserveBatcher.add(keys, units, charges.length, undefined, charges),
      fallback,
      undefined,
      (result) => this.undoLate(result, charges),
    );
  }

  /**
   * Applies refunds, extra charges and concurrency releases, in one round trip. Never denies; never
   * throws on Redis failures. Then a release carrying its lease mark is kept and sent again once Redis
   * answers (`releasesQueued`, then `releasesReplayed`); anything else is reported as `adjustDropped`,
   * and in fail-open mode an extra charge is also counted locally (a give-back with this store's mark
   * is not: the local fallback never held what it gives back).
   * Adjustments with a delta of 0 are skipped (the core's reservations pass every charge they hold).
   * A refund carrying the `mark` this store returned for the charge gives back at most what the
   * reservation still holds; one without (or with another store's mark) is not capped.
   *
   * @example
   * ```ts
   * await store.adjust([{ key: 'tpm|model=m', kind: 'rate', limit: 90_000, windowMs: 60_000, delta: -300 }]);
   * ```
   */
  adjust(all: readonly LimitAdjustment[]): Promise<void> {
    const nonZero = all.some((a) => a.delta === 0) ? all.filter((a) => a.delta !== 0) : all;
    if (nonZero.length === 0) return Promise.resolve();
    try {
      validate(nonZero, 'delta');
    } catch (error) {
      return Promise.reject(error);
    }
    // Charges reserved on the local fallback (while Redis was down) are settled there: on Redis a
    // release of one would free another process's slot.
    let adjustments = nonZero;
    if (nonZero.some((a) => a.mark instanceof LocalMark)) {
      this.local.adjust(nonZero.filter((a) => a.mark instanceof LocalMark));
      adjustments = nonZero.filter((a) => !(a.mark instanceof LocalMark));
      if (adjustments.length === 0) return Promise.resolve();
    }
    const keys = this.keysOf(adjustments);
    const units = unitArgs(adjustments, 'delta');
    const remote = adjustments;
    // What was charged on Redis cannot be given back there now. Lease releases wait for Redis; the
    // rest is reported (fail-open: extra charges also count locally; the local fallback skips give-backs
    // with a Redis mark, it never held them).
    const fallback = () => {
      const rest = this.setAside(remote, this.healthState.cause);
      if (rest.length > 0) this.local.adjust(rest);
    };
    const drop = (error: unknown) => {
      this.setAside(remote, error);
    };
    if (this.fastPath()) {
      if (this.releases.size > 0) this.replayReleases();
      return this.adjustBatcher.add(keys, units, adjustments.length, (error) => this.onFailure('adjust', error, fallback, drop));
    }
    return this.exec('adjust', () => this.adjustBatcher.add(keys, units, adjustments.length), fallback, drop);
  }

  /**
   * Current state of each key, without charging.
   *
   * @example
   * ```ts
   * const [rpm] = await store.peek([rpmCharge]);
   * ```
   */
  async peek(charges: readonly LimitCharge[]): Promise<LimitState[]> {
    if (charges.length === 0) return [];
    validate(charges, 'amount'); // bad input is the caller's error, not a Redis outage
    return this.exec(
      'peek',
      async () => parsePeekStates(await this.runPeek(charges), charges.length),
      () => this.local.peek(charges),
    );
  }

  /**
   * Units each key holds right now, unrounded (rate: `(tat − now) / T`; counters: the count), without
   * charging; `peek`'s `remaining` is floored to whole units. One round trip (the peek script).
   *
   * @example
   * ```ts
   * const [spentUsd] = await store.usage([{ key: 'team-cost|team=t1', kind: 'rate', limit: 5, windowMs: 60_000, amount: 0 }]);
   * ```
   */
  async usage(charges: readonly LimitCharge[]): Promise<number[]> {
    if (charges.length === 0) return [];
    validate(charges, 'amount');
    return this.exec(
      'peek',
      async () => parsePeekUsage(await this.runPeek(charges), charges.length),
      () => this.local.usage(charges),
    );
  }

  /**
   * Sends the releases of slots held on Redis that are still waiting for it (see `releasesQueued`),
   * now, whatever the store's health says: one attempt per chunk, each bounded by `timeoutMs`. What
   * Redis does not take stays waiting (and `close()` reports it). For shutdown: call it before
   * `close()`; `createRedisResilienceState(...).close()` does.
   *
   * @example
   * ```ts
   * await store.flush(); store.close(); await redis.quit();
   * ```
   */
  async flush(): Promise<void> {
    while (this.replaying !== undefined) await this.replaying;
    while (this.releases.size > 0 && notReadyReason(this.client) === undefined) {
      const batch = this.releases.take(this.clock.now(), REPLAY_CHUNK);
      if (batch.length === 0) return;
      if (!(await this.sendKept(batch))) return;
    }
  }

  /**
   * Drops the local fallback state. Releases still waiting for Redis are reported as `adjustDropped`
   * (call {@link flush} first to send them). The Redis client is yours: the store does not close it.
   *
   * @example
   * ```ts
   * await store.flush(); store.close(); await redis.quit();
   * ```
   */
  close(): void {
    this.closed = true;
    this.local.close();
    const waiting = this.releases.clear();
    if (waiting > 0) this.emit({ type: 'adjustDropped', count: waiting, error: this.healthState.cause });
  }

  /**
   * A reservation that timed out here but that Redis ran afterwards: its caller was already answered
   * (decided locally, or refused), so what Redis charged is given back, with the marks Redis returned
   * (a slot's lease is released, a rate charge refunded within what it still holds).
   */
  private undoLate(result: ReserveResult, charges: readonly LimitCharge[]): void {
    if (!result.ok) return;
    const undo: LimitAdjustment[] = [];
    for (let i = 0; i < charges.length; i++) {
      const c = charges[i]!;
      if (c.amount > 0) undo.push({ key: c.key, kind: c.kind, limit: c.limit, windowMs: c.windowMs, burst: c.burst, delta: -c.amount, mark: result.marks?.[i] });
    }
    if (undo.length === 0) return;
    this.emit({ type: 'lateReserveUndone', count: undo.length });
    // Straight to Redis, which just answered, whatever the health state says: the failure mode's local
    // fallback must not see these (it may hold the caller's own local charge). If Redis fails now,
    // the slots' releases are kept for later and the rest is reported.
    const notReady = notReadyReason(this.client);
    if (notReady !== undefined) {
      this.setAside(undo, notReady);
      return;
    }
    // Slot releases as replays: a lease that clearUnanswered removed already frees nobody else's slot.
    this.adjustBatcher.add(this.keysOf(undo), unitArgs(undo, 'delta', true), undo.length).then(undefined, (error: unknown) => {
      if (isOutageError(error)) this.healthState.markDown(error);
      this.setAside(undo, error);
    });
  }

  /**
   * A reserve run that failed here (timed out, connection lost) may have run on Redis all
   * the same, and its reply, with the members of the leases it added, may never arrive: a reply lost
   * with the connection, or a run that ioredis sent again after reconnecting (then the first run's
   * reply is lost). A run whose reply could not be read did run: its reservations that got the
   * failure are cleared the same way. Its callers were answered without Redis (local fallback, or refused), so every
   * lease tagged with the run's id is removed from each of its concurrency keys: kept with the slot
   * releases (`releasesQueued`) and sent with them, as replays, once Redis answers. Without this, such
   * a lease would hold its slot until it expires (`leaseMs`, 10 minutes by default).
   */
  private clearUnanswered(runId: string, contexts: ReadonlyArray<readonly LimitCharge[]>, error: unknown): void {
    if (!isOutageError(error)) return; // an error reply (WRONGTYPE, ...): Redis answered, the run failed there
    const mark = new LeaseMark('#' + runId);
    const clears: LimitAdjustment[] = [];
    const seen = new Set<string>();
    for (const charges of contexts) {
      for (const c of charges) {
        if (c.kind !== 'concurrency' || c.windowMs > 0 || !(c.amount > 0) || seen.has(c.key)) continue;
        seen.add(c.key);
        clears.push({ key: c.key, kind: 'concurrency', limit: c.limit, windowMs: 0, delta: -c.amount, mark });
      }
    }
    if (clears.length > 0) this.setAside(clears, error);
  }

  /**
   * Adjustments of charges made on Redis that could not be written there: lease releases are kept for
   * {@link replayReleases} (`releasesQueued`), the others reported as dropped and returned. A closed
   * store keeps nothing: everything is reported.
   */
  private setAside(adjustments: readonly LimitAdjustment[], error: unknown): LimitAdjustment[] {
    const releases: LimitAdjustment[] = [];
    const rest: LimitAdjustment[] = [];
    for (const a of adjustments) (isLeaseRelease(a) && !this.closed ? releases : rest).push(a);
    let dropped = rest.length;
    if (releases.length > 0) {
      dropped += this.releases.add(releases, this.clock.now());
      this.emit({ type: 'releasesQueued', count: releases.length, error });
    }
    if (dropped > 0) this.emit({ type: 'adjustDropped', count: dropped, error });
    return rest;
  }

  /**
   * Sends the releases kept while Redis was away, a chunk at a time, while Redis is up. A chunk that
   * fails goes back to the queue when Redis is down again (and waits for the next recovery); on an
   * error that is not an outage it is dropped and reported, so it cannot fail forever.
   */
  private replayReleases(): void {
    if (this.replaying !== undefined || this.releases.size === 0 || !this.fastPath()) return;
    const batch = this.releases.take(this.clock.now(), REPLAY_CHUNK);
    if (batch.length === 0) return;
    this.replaying = this.sendKept(batch).then((sent) => {
      this.replaying = undefined;
      if (sent) this.replayReleases();
    });
  }

  /**
   * Sends kept releases again (marked as a replay: a lease already gone frees nothing). Resolves true
   * when Redis took them. On an outage they go back to the queue (a closed store reports them); on
   * another error (it may come from another caller's part of a shared script run) each is sent again
   * up to {@link REPLAY_ATTEMPTS} times in all, then reported.
   */
  private async sendKept(batch: QueuedRelease[]): Promise<boolean> {
    const adjustments = batch.map((e) => e.adjustment);
    try {
      await this.adjustBatcher.add(this.keysOf(adjustments), unitArgs(adjustments, 'delta', true), adjustments.length);
      this.emit({ type: 'releasesReplayed', count: batch.length });
      return true;
    } catch (error) {
      if (isOutageError(error)) {
        this.healthState.markDown(error);
      } else {
        this.emit({ type: 'error', operation: 'adjust', error });
        for (const e of batch) e.attempts++;
      }
      const retry = this.closed ? [] : batch.filter((e) => e.attempts < REPLAY_ATTEMPTS);
      const dropped = batch.length - retry.length + this.releases.putBack(retry);
      if (dropped > 0) this.emit({ type: 'adjustDropped', count: dropped, error });
      return false;
    }
  }

  /**
   * Runs the peek script on `charges` (validated by the caller), bounded by `timeoutMs`. A key holding
   * what the store does not write fails the call with {@link RedisKeyError}, as a reservation would be.
   */
  private async runPeek(charges: readonly LimitCharge[]): Promise<unknown> {
    const keys = this.keysOf(charges);
    const args = [JSON.stringify([...this.header, 0, ...unitArgs(charges, 'amount')])];
    const reply = (await withTimeout(PEEK.run(this.client, keys, args), this.timeoutMs)) as (string | number)[];
    if (Number(reply[0]) === -1) throw new RedisKeyError(Number(reply[1]), String(reply[2]), 'peek');
    return reply;
  }

  /**
   * Answers the calls of an adjust run. Adjustments the script skipped because their key holds what the
   * store does not write (`[1, index0, error, ...]`, indexes over the whole run) are reported to their
   * own caller's `onEvent` as {@link RedisKeyError}s; the others were applied. Nothing is kept or sent
   * again for them: their key holds no lease or count of this store.
   */
  private settleAdjust(reply: unknown, batch: BatchEntry<void>[]): void {
    if (Array.isArray(reply) && reply.length > 1) {
      let k = 1;
      let first = 0;
      for (const e of batch) {
        const end = first + e.n;
        while (k + 1 < reply.length && Number(reply[k]) < end) {
          this.emit({ type: 'error', operation: 'adjust', error: new RedisKeyError(Number(reply[k]) - first, String(reply[k + 1]), 'adjust') });
          k += 2;
        }
        first = end;
      }
    }
    for (const e of batch) e.resolve();
  }

  /** Redis believed healthy, scripts loaded, connection usable: send without further ceremony. */
  private fastPath(): boolean {
    return this.loaded && this.healthState.state === 'up' && notReadyReason(this.client) === undefined;
  }

  private async exec<T>(
    operation: Operation,
    onRedis: () => Promise<T>,
    fallback: () => T,
    onClosedDrop?: (error: unknown) => void,
    onLate?: (result: T) => void,
  ): Promise<T> {
    if (this.healthState.state === 'up') {
      const notReady = notReadyReason(this.client);
      if (notReady === undefined) {
        try {
          // onRedis bounds its own wait by timeoutMs (the batcher hands late results to their own
          // handler). The very first call also loads the scripts, bounded as a whole; a result that
          // arrives after that bound goes to onLate, the caller having had the failure mode's answer.
          if (this.loaded) return await onRedis();
          const running = this.loadThen(onRedis);
          try {
            return await withTimeout(running, this.timeoutMs);
          } catch (error) {
            if (onLate !== undefined) running.then(onLate, () => undefined);
            throw error;
          }
        } catch (error) {
          return this.onFailure(operation, error, fallback, onClosedDrop);
        }
      }
      return this.onFailure(operation, notReady, fallback, onClosedDrop);
    }
    void this.healthState.maybeProbe();
    return this.degrade(operation, this.healthState.cause, fallback, onClosedDrop);
  }

  /** A Redis call failed: record it (outage or not), then apply the failure mode. */
  private onFailure<T>(operation: Operation, error: unknown, fallback: () => T, onClosedDrop?: (error: unknown) => void): T {
    if (isOutageError(error)) this.healthState.markDown(error);
    else this.emit({ type: 'error', operation, error });
    return this.degrade(operation, error, fallback, onClosedDrop);
  }

  private degrade<T>(operation: Operation, cause: unknown, fallback: () => T, onClosedDrop?: (error: unknown) => void): T {
    if (this.mode === 'fail-open') return fallback();
    if (onClosedDrop) {
      onClosedDrop(cause);
      return undefined as T;
    }
    throw new RedisUnavailableError(operation, this.healthState.retryAfterMs, cause);
  }

  private async loadThen<T>(run: () => Promise<T>): Promise<T> {
    this.loading ??= this.load().catch((error: unknown) => {
      this.loading = undefined;
      // SCRIPT may be disabled (ACL, managed Redis): EVALSHA/EVAL still work, so only outages matter.
      if (isOutageError(error)) throw error;
      this.loaded = true;
    });
    await this.loading;
    return run();
  }

  /**
   * The recovery probe: a write, not a PING. A Redis that answers PING but refuses writes (a master
   * demoted to a read-only replica: `READONLY`; `MISCONF`; `NOREPLICAS`) cannot serve the scripts, so
   * it stays down instead of flapping up and down on every probe. The write is a short-lived key in
   * the store's namespace (its hash tag: on Cluster, the master that runs the scripts). A reply that is
   * not an outage (an ACL refusing that key, ...) means Redis answers: up.
   */
  private async probe(): Promise<void> {
    const notReady = notReadyReason(this.client);
    if (notReady !== undefined) throw notReady;
    try {
      await withTimeout(this.client.set(this.probeKey, '1', 'PX', PROBE_KEY_TTL_MS), this.timeoutMs);
    } catch (error) {
      if (isOutageError(error)) throw error;
    }
  }

  private keysOf(units: readonly Unit[]): string[] {
    const keys: string[] = new Array(units.length);
    for (let i = 0; i < units.length; i++) {
      const u = units[i]!;
      keys[i] = this.keyspace.key(kindOf(u), u.key);
    }
    return keys;
  }

  private emit(event: RedisStoreEvent): void {
    if ('error' in event) scrubRedisError(event.error);
    try {
      this.onEvent?.(event);
    } catch {
      // A throwing listener must not break limiting (`onEvent` is checked to be a function at construction).
    }
  }
}

/**
 * Which structure holds a unit: `r` GCRA bucket, `w` per-window counter (a `concurrency` unit with
 * `windowMs > 0`: budgets, whose key carries the window index), `c` concurrency leases (`windowMs` 0).
 */
function kindOf(u: Unit): 'r' | 'w' | 'c' {
  if (u.kind === 'rate') return 'r';
  return u.windowMs > 0 ? 'w' : 'c';
}

function validate(units: readonly Unit[], field: 'amount' | 'delta'): void {
  for (let i = 0; i < units.length; i++) {
    const u = units[i]!;
    const n = (u as unknown as Record<string, number>)[field]!;
    const burst = u.burst ?? u.limit;
    if (
      typeof u.key !== 'string' ||
      !(u.limit > 0) ||
      !Number.isFinite(u.limit) ||
      !Number.isFinite(n) ||
      (u.kind === 'rate' && (!(u.windowMs > 0) || !Number.isFinite(u.windowMs) || !(burst > 0) || !Number.isFinite(burst))) ||
      (u.kind === 'concurrency' && u.windowMs !== undefined && (!(u.windowMs >= 0) || !Number.isFinite(u.windowMs))) ||
      (u.kind !== 'rate' && u.kind !== 'concurrency')
    ) {
      throw new RangeError(
        `Invalid limiter ${field === 'amount' ? 'charge' : 'adjustment'} #${i} (${u.kind}): limit, windowMs and burst must be positive finite numbers (windowMs 0 for in-flight concurrency) and ${field} finite.`,
      );
    }
  }
}

/**
 * The script arguments of `units`: {@link UNIT_ARGS} values per charge (`amount`), or
 * {@link ADJUST_UNIT_ARGS} per adjustment (`delta`, then the mark this store handed out: a number for a
 * rate charge, the lease member for an in-flight slot, after a `~` when the release is sent again
 * (`replay`); else 0).
 */
function unitArgs(units: readonly Unit[], field: 'amount' | 'delta', replay = false): (string | number)[] {
  const adjusting = field === 'delta';
  const args: (string | number)[] = new Array(units.length * (adjusting ? ADJUST_UNIT_ARGS : UNIT_ARGS));
  let j = 0;
  for (let i = 0; i < units.length; i++) {
    const u = units[i]!;
    const kind = kindOf(u);
    args[j++] = kind;
    args[j++] = u.limit;
    args[j++] = kind === 'c' ? 0 : u.windowMs;
    args[j++] = kind === 'r' ? (u.burst ?? u.limit) : 0;
    if (adjusting) {
      const a = u as LimitAdjustment;
      args[j++] = a.delta;
      args[j++] =
        kind === 'r' && typeof a.mark === 'number' && a.mark > 0 && Number.isFinite(a.mark)
          ? a.mark
          : kind === 'c' && a.mark instanceof LeaseMark
            ? (replay ? '~' : '') + a.mark.lease
            : 0;
    } else {
      args[j++] = (u as LimitCharge).amount;
    }
  }
  return args;
}

/** `n` states from `stride` values per unit starting at `offset`: remaining, then resetMs. */
function parseStates(reply: unknown, offset: number, n: number, stride = 2): LimitState[] {
  const r = reply as (string | number)[];
  const states: LimitState[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const at = offset + stride * i;
    states[i] = { remaining: Number(r[at]), resetMs: Number(r[at + 1]) };
  }
  return states;
}

/** The states of a peek reply (remaining, resetMs, used per unit). */
function parsePeekStates(reply: unknown, n: number): LimitState[] {
  return parseStates(reply, 0, n, 3);
}

/** The unrounded usage of a peek reply (remaining, resetMs, used per unit). */
function parsePeekUsage(reply: unknown, n: number): number[] {
  const r = reply as (string | number)[];
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = Number(r[3 * i + 2]);
  return out;
}

function settleReserve(reply: unknown, batch: BatchEntry<ReserveResult>[]): void {
  const r = reply as (string | number)[];
  let pos = 0;
  for (const e of batch) {
    const [result, next] = parseReserve(r, pos, e.n);
    pos = next;
    if (result instanceof RedisKeyError) failEntry(e, result);
    else e.resolve(result);
  }
}


/**
 * Parses one reservation's part of the reserve reply starting at `pos`; returns it and the next
 * position. Admitted: remaining, resetMs and the mark per charge (rate: epoch µs in the reply, epoch ms
 * in `marks`; in-flight slot: its lease member, a {@link LeaseMark} in `marks`; 0 for window totals).
 * A reservation Redis could not charge (a key holding what the store does not write) is a
 * {@link RedisKeyError}.
 */
function parseReserve(r: (string | number)[], pos: number, n: number): [ReserveResult | RedisKeyError, number] {
  if (Number(r[pos]) === -1) return [new RedisKeyError(Number(r[pos + 1]), String(r[pos + 2]), 'reserve'), pos + 3];
  if (Number(r[pos]) === 1) {
    const marks: Array<number | LeaseMark> = new Array(n);
    for (let i = 0; i < n; i++) {
      const m = r[pos + 3 + 3 * i];
      marks[i] = typeof m === 'string' ? new LeaseMark(m) : Number(m) / 1000;
    }
    return [{ ok: true, states: parseStates(r, pos + 1, n, 3), marks }, pos + 1 + 3 * n];
  }
  const wait = Number(r[pos + 2]);
  return [
    { ok: false, index: Number(r[pos + 1]), retryAfterMs: wait === -1 ? Infinity : wait, states: parseStates(r, pos + 3, n) },
    pos + 3 + 2 * n,
  ];
}
