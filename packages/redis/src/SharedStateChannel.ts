import { randomBytes } from 'node:crypto';
import type { Clock, Disposable } from '@llm-resilience/core';
import { BackoffTimer } from './BackoffTimer';
import { duplicateForSubscribe, notReadyReason, type RedisClient, type ScriptClient } from './redisClient';
import type { RedisKeyspace } from './RedisKeyspace';
import { RedisScript } from './RedisScript';
import { RedisSyncError, type RedisSyncOperation } from './RedisSyncError';
import { LOAD_STATES_LUA, PUBLISH_STATE_LUA, REDIS_TIME_LUA } from './sharedStateScripts';
import { withTimeout } from './withTimeout';

const PUBLISH = new RedisScript(PUBLISH_STATE_LUA);
const LOAD = new RedisScript(LOAD_STATES_LUA);
const CLOCK = new RedisScript(REDIS_TIME_LUA);

/**
 * First backoff step before work that failed on connections that stayed up is tried again: a subscribe
 * or load, or kept breaker changes (an error reply such as `OOM`, `BUSY`, `MISCONF`, `NOREPLICAS`, or a
 * timeout, brings no `ready` event). The wait is drawn between half and all of the step (jitter, see
 * {@link BackoffTimer}).
 */
const RETRY_INITIAL_MS = 100;
/** The step doubles after each failed retry, up to this. */
const RETRY_MAX_MS = 5000;

/**
 * How one kind of shared state travels: times become relative on the wire, so processes whose clocks
 * disagree still agree on "open for another 20 s".
 *
 * @example
 * ```ts
 * const codec: SharedStateCodec<{ until: number }> = {
 *   encode: (v, now) => ({ wire: { until: v.until - now }, rank: 1, ttlMs: v.until - now }),
 *   decode: (w, base) => ({ until: base + (w as { until: number }).until }),
 * };
 * ```
 */
export interface SharedStateCodec<T> {
  /**
   * The wire form of `value` (times relative to `now`), its rank (see `sharedStateScripts.ts`) and how
   * long it is worth keeping for processes that start later (`<= 0`: not stored, only announced).
   * `undefined`: nothing worth sharing (no write at all).
   */
  encode(value: T, now: number): { wire: unknown; rank: number; ttlMs: number } | undefined;
  /** The value back from its wire form, relative times counted from `base`; `undefined` when malformed. */
  decode(wire: unknown, base: number): T | undefined;
}

/**
 * Options of {@link SharedStateChannel}.
 *
 * @example
 * ```ts
 * const opts: SharedStateChannelOptions<BreakerState> = { redis, keyspace, kind: 'b', source: 'breaker', codec, clock, timeoutMs: 1000, marginMs: 1000 };
 * ```
 */
export interface SharedStateChannelOptions<T> {
  redis: RedisClient;
  /** A connection for SUBSCRIBE (not closed here); default: `redis.duplicate()`, owned and closed here. */
  subscriber?: RedisClient | undefined;
  keyspace: RedisKeyspace;
  /** Key kind of the hash and the channel: `b` breakers, `p` pacing. */
  kind: 'b' | 'p';
  source: 'breaker' | 'pacing';
  codec: SharedStateCodec<T>;
  clock: Clock;
  /** Draws in [0, 1) for the jitter of the sync retries' backoff; default `Math.random`. */
  random?: (() => number) | undefined;
  timeoutMs: number;
  marginMs: number;
  onError?: ((error: RedisSyncError) => void) | undefined;
}

/** The part of ioredis a subscriber connection needs. */
interface SubscriberClient {
  status: string;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  disconnect(): void;
}

type Handler<T> = (key: string, value: T) => void;

/** Channels held on each subscriber connection the application passed in, by how many instances. */
const holders = new WeakMap<object, Map<string, number>>();

function hold(sub: object, channel: string, delta: 1 | -1): number {
  let channels = holders.get(sub);
  if (channels === undefined) holders.set(sub, (channels = new Map()));
  const n = (channels.get(channel) ?? 0) + delta;
  if (n > 0) channels.set(channel, n);
  else channels.delete(channel);
  return n;
}

interface Message {
  /** Origin: the publishing channel instance (its own messages are not delivered back to it). */
  o: string;
  /** Field: breaker key or target id. */
  k: string;
  /** Wire form of the value. */
  v: unknown;
  /**
   * Number of the publication within its origin (each write, a resend included, gets a new one), so
   * two publications whose text would otherwise be equal (times are relative: a breaker that opens
   * again for the same reason) are told apart. Absent in messages of older versions.
   */
  i?: number;
}

/** What identifies one publication: origin and number, or the whole text for a message without a number. */
function publicationId(message: Message, raw: string): string {
  return typeof message.i === 'number' ? `${message.o}#${message.i}` : raw;
}

/**
 * State shared by every process over Redis: each change is stored in a hash (for processes that start
 * later) and announced on a pub/sub channel, in one script run (one round trip, one write per change).
 * Subscribing delivers the stored states once, then every change made by other processes; after the
 * subscriber connection comes back from an outage, the stored states are loaded again, delivering the
 * publications not seen yet (each carries its own number, so a state whose text repeats an earlier
 * one is still delivered); a change announced while loading hides the stored copy of its field unless
 * that copy is ranked and stronger (breakers: Redis keeps it and still announces the weaker one); a
 * subscribe or load that failed is retried when either connection is ready again, after the next
 * successful publish, and after a backoff (100 ms doubling up to 5 s, on the injected clock) until it succeeds or the channel is closed: a timeout on connections that stayed up
 * (a failover's `CLIENT PAUSE`) brings no `ready` event. A ranked change (breakers) that could not be
 * published (down, slower than `timeoutMs`, or refused with an error reply) is sent again when `redis`
 * is ready, after a later successful publish, and after a backoff (100 ms doubling up to 5 s) while
 * `redis` stays up (the latest per field, if still in force). Every write carries a deadline in Redis
 * time (Redis' clock is learned from the scripts' `TIME`): a copy that runs past it (re-sent by ioredis
 * after a reconnect, held by `CLIENT PAUSE`) writes and announces nothing. Nothing here throws into the caller:
 * Redis failures go to `onError`.
 *
 * The shared engine of `RedisBreakerSync` and `RedisPacingSync`.
 *
 * @example
 * ```ts
 * const channel = new SharedStateChannel({ redis, keyspace, kind: 'p', source: 'pacing', codec, clock, timeoutMs: 1000, marginMs: 1000 });
 * const sub = channel.subscribe((target, snapshot) => engine.applyPacing(target, snapshot));
 * void channel.publish('fast-a', snapshot);
 * ```
 */
export class SharedStateChannel<T> {
  /** The hash holding the current states. */
  readonly hashKey: string;
  /** The pub/sub channel announcing changes. */
  readonly channel: string;
  private readonly origin = randomBytes(9).toString('base64url');
  private readonly client: ScriptClient;
  private readonly handlers = new Set<Handler<T>>();
  private readonly pending = new Set<Promise<void>>();
  /**
   * Publication last seen per field (live or loaded; see {@link publicationId}), so a reload does not
   * deliver the same publication twice, yet delivers a later one whose text repeats an earlier one.
   */
  private readonly seen = new Map<string, string>();
  /** Number of the latest publication of this instance (the message's `i`). */
  private publications = 0;
  private sub: SubscriberClient | undefined;
  private subscribed = false;
  /** Bumped when the subscriber connection closes: a sync started before that does not count. */
  private connection = 0;
  private syncing = false;
  private syncWanted = false;
  /**
   * Per running load, the last change announced live meanwhile per field: its stored value may be
   * older, and is delivered only when it is ranked and outranks or outlasts the live one (see
   * {@link deliverStored}).
   */
  private readonly liveDuringLoads = new Set<Map<string, { value: T; id: string }>>();
  private connectionErrorReported = false;
  /** The subscriber connection has been `ready` since it last closed. */
  private subReady = false;
  /** A failed sync (subscribe or load) waits for `redis` to be ready again (listener on `redis`'s `ready`). */
  private syncRetryArmed = false;
  /** A failed sync is also retried after a backoff: connections that stayed up send no `ready`. */
  private readonly syncRetry: BackoffTimer;
  /**
   * Ranked local changes Redis did not take (down, slower than `timeoutMs`, or an error reply), the
   * latest per field, with the number of the publish that made them: sent again once `redis` is ready,
   * a later publish succeeds, or the resend backoff ends, if still in force then. A newer publish of
   * the field replaces or drops its entry.
   */
  private readonly unsent = new Map<string, { value: T; seq: number }>();
  /** Number of the latest publish per field (a failure of an older one keeps nothing). */
  private readonly lastSeq = new Map<string, number>();
  private seq = 0;
  /** Unsent changes wait for `redis` to be ready again (listener on `redis`'s `ready`). */
  private resendArmed = false;
  /**
   * Unsent changes are also sent again after a backoff: a refusal on a connection that stays up (an
   * error reply, a timeout) brings no `ready` event.
   */
  private readonly resendRetry: BackoffTimer;
  private closed = false;
  /**
   * Redis' clock minus this process' monotonic clock (`performance.now()`, not the injected clock,
   * which tests move by hand), learned from the scripts' replies; `undefined` until the first one.
   */
  private redisOffset: number | undefined;
  /** The running {@link learnRedisClock}, shared by the publishes that wait for it. */
  private clockLearning: Promise<unknown> | undefined;

  constructor(private readonly options: SharedStateChannelOptions<T>) {
    this.client = options.redis as unknown as ScriptClient;
    this.hashKey = options.keyspace.key(options.kind, 'states');
    this.channel = options.keyspace.key(options.kind, 'changes');
    this.syncRetry = new BackoffTimer({
      clock: options.clock,
      initialMs: RETRY_INITIAL_MS,
      maxMs: RETRY_MAX_MS,
      run: () => this.retrySync(),
      ...(options.random !== undefined ? { random: options.random } : {}),
    });
    this.resendRetry = new BackoffTimer({
      clock: options.clock,
      initialMs: RETRY_INITIAL_MS,
      maxMs: RETRY_MAX_MS,
      run: () => this.retryResend(),
      ...(options.random !== undefined ? { random: options.random } : {}),
    });
  }

  /**
   * Stores `value` under `field` and announces it. Resolves when done; never rejects. When Redis does
   * not take it (down, slower than `timeoutMs`, or an error reply such as `OOM`), the failure goes to
   * `onError`; a ranked state (rank > 0: breakers) is then kept (the latest per field) and sent again
   * once `redis` is ready, a later publish succeeds, or a backoff ends (100 ms doubling up to 5 s, on
   * the injected clock; for a connection that stays up), if it is still in force then (its times are
   * converted then); a newer publish of the field replaces it, and `close()` drops it.
   *
   * @example
   * ```ts
   * await channel.publish('target:fast-a', { state: 'open', until: Date.now() + 30_000, reason: 'error_rate' });
   * ```
   */
  publish(field: string, value: T): Promise<void> {
    const seq = ++this.seq;
    this.lastSeq.set(field, seq);
    // A newer state of the field replaces a kept one; nothing left to send: no resend pending.
    if (this.unsent.delete(field) && this.unsent.size === 0) this.resendRetry.cancel();
    return this.send(field, value, seq, false);
  }

  /**
   * Encodes and writes one change (see {@link publish}); `resend`: a kept change, written only while
   * still worth storing (the codec's `ttlMs > 0`). Before the first write, Redis' clock is learned (one
   * round trip, see {@link learnRedisClock}): every write carries a deadline in Redis time.
   */
  private send(field: string, value: T, seq: number, resend: boolean): Promise<void> {
    if (this.redisOffset !== undefined || notReadyReason(this.client, 'refuse') !== undefined) return this.write(field, value, seq, resend, undefined);
    return this.learnRedisClock().then((failure) => this.write(field, value, seq, resend, failure));
  }

  /**
   * Writes one change, encoded now (see {@link send}); `failure`: Redis' clock could not be learned
   * (the change is reported and kept like one Redis did not take).
   */
  private write(field: string, value: T, seq: number, resend: boolean, failure: unknown): Promise<void> {
    const { codec, clock, timeoutMs, marginMs } = this.options;
    let encoded: ReturnType<SharedStateCodec<T>['encode']>;
    try {
      encoded = codec.encode(value, clock.now());
    } catch (error) {
      this.report('message', error);
      return Promise.resolve();
    }
    if (encoded === undefined || (resend && !(encoded.ttlMs > 0))) return Promise.resolve();
    const { ttlMs, rank } = encoded;
    // Only on a ready connection, also before the first one: in ioredis' offline queue (reconnecting,
    // connecting, handshake) relative times would be stale when it finally runs. A kept change goes
    // out once `redis` is ready.
    const notReady = failure ?? notReadyReason(this.client, 'refuse');
    if (notReady !== undefined || this.redisOffset === undefined) {
      this.report('publish', notReady ?? new Error("Redis' clock is not known yet"));
      this.keepUnsent(field, value, seq, ttlMs, rank);
      return Promise.resolve();
    }
    const message = JSON.stringify({ o: this.origin, k: field, v: encoded.wire, i: ++this.publications } satisfies Message);
    // A copy of this command that runs after this call stopped waiting for it (ioredis re-sends the
    // commands a dropped connection left unanswered; Redis may hold it, `CLIENT PAUSE`) would carry
    // stale relative times: the script refuses to run past this deadline, in Redis time.
    const deadline = Math.ceil(performance.now() + this.redisOffset + timeoutMs);
    const args = [this.channel, field, rank, Math.ceil(ttlMs), message, Math.ceil(marginMs), deadline];
    return withTimeout(PUBLISH.run(this.client, [this.hashKey], args), timeoutMs).then(
      (reply) => {
        const status = Array.isArray(reply) ? Number(reply[0]) : Number(reply);
        if (Array.isArray(reply)) this.learnRedisTime(reply[1]);
        if (status < 0) {
          // Redis ran it past its deadline (it answered within `timeoutMs` locally: the clocks moved
          // apart); nothing was written, and the clock was learned again from its reply.
          this.report('publish', new Error(`Redis ran the ${this.options.source} publish after its deadline: nothing was written`));
          this.keepUnsent(field, value, seq, ttlMs, rank);
          return;
        }
        // Redis answers again: a subscription whose load failed earlier catches up now, and changes
        // that could not be sent earlier go out.
        if (!this.subscribed && !this.syncing && this.handlers.size > 0 && this.sub?.status === 'ready') this.requestSync();
        if (this.unsent.size > 0) this.resendUnsent();
        else if (!this.resendRetry.scheduled) this.resendRetry.reset(); // the next failure waits the first step again
      },
      (error: unknown) => {
        this.report('publish', error);
        this.keepUnsent(field, value, seq, ttlMs, rank);
      },
    );
  }

  /**
   * Learns Redis' clock (one script run on the hash's node, bounded by `timeoutMs`), once at a time.
   * Resolves the failure, or `undefined` when learned.
   */
  private learnRedisClock(): Promise<unknown> {
    if (this.clockLearning !== undefined) return this.clockLearning;
    const learning = withTimeout(CLOCK.run(this.client, [this.hashKey], []), this.options.timeoutMs).then(
      (reply) => {
        this.learnRedisTime(reply);
        return this.redisOffset === undefined ? new Error(`Redis answered no time: ${String(reply)}`) : undefined;
      },
      (error: unknown) => error,
    );
    this.clockLearning = learning;
    void learning.finally(() => {
      if (this.clockLearning === learning) this.clockLearning = undefined;
    });
    return learning;
  }

  /**
   * Redis' clock from a script's reply (`now`, Redis ms) that arrived just now: the offset from this
   * process' monotonic time. Read when the reply arrives, it trails Redis by the reply's way back, so a
   * deadline errs early, never late: a breaker state refused early is kept and sent again, with the
   * clock learned again from the refusal's reply; a pacing snapshot refused so is dropped, as any
   * pacing publish that fails (the next report replaces it).
   */
  private learnRedisTime(redisNow: unknown): void {
    const n = Number(redisNow);
    if (Number.isFinite(n) && n > 0) this.redisOffset = n - performance.now();
  }

  /**
   * Keeps a change Redis did not take, unless a newer one of its field exists, it is not worth storing,
   * or its rank is 0. Ranked states (breakers) are merged by strength in Redis and by every registry,
   * so sending one late cannot undo a stronger or longer state; at rank 0 (pacing) the latest write
   * wins, and a late one would replace a fresher snapshot another process wrote meanwhile. A copy is
   * kept: the caller may change its object afterwards (engines update pacing snapshots in place).
   * It is sent again on `redis`'s `ready` event, after a later successful publish, and after a backoff
   * (100 ms doubling up to 5 s, on the injected clock): Redis may refuse it with an error reply on a
   * connection that stays up (`OOM` under `noeviction`, `BUSY`, `MISCONF`, `NOREPLICAS`), and no
   * `ready` event would come then.
   */
  private keepUnsent(field: string, value: T, seq: number, ttlMs: number, rank: number): void {
    if (this.closed || !(ttlMs > 0) || !(rank > 0) || this.lastSeq.get(field) !== seq) return;
    this.unsent.set(field, { value: { ...value }, seq });
    if (!this.resendArmed) {
      this.resendArmed = true;
      (this.client as unknown as SubscriberClient).on('ready', this.onClientReadyResend);
    }
    this.resendRetry.schedule();
  }

  /** Sends the kept changes again (each is kept again, and the backoff scheduled, if Redis still does not take it). */
  private resendUnsent(): void {
    this.resendRetry.cancel();
    const kept = [...this.unsent];
    this.unsent.clear();
    for (const [field, { value, seq }] of kept) void this.send(field, value, seq, true);
  }

  /**
   * The backoff's resend, on a ready connection; a connection that is not ready is left to its `ready`
   * event (without a failure reported per backoff step meanwhile).
   */
  private retryResend(): void {
    if (this.closed || this.unsent.size === 0) return;
    if (notReadyReason(this.client, 'refuse') !== undefined) return;
    this.resendUnsent();
  }

  private readonly onClientReadyResend = (): void => {
    this.disarmResend();
    if (this.unsent.size > 0) this.resendUnsent();
  };

  private disarmResend(): void {
    if (!this.resendArmed) return;
    this.resendArmed = false;
    (this.client as unknown as SubscriberClient).off('ready', this.onClientReadyResend);
  }

  /**
   * The states stored (by any process) that are still valid, times converted to this process' clock.
   * Rejects when Redis cannot answer.
   *
   * @example
   * ```ts
   * const stored = new Map(await channel.load());
   * ```
   */
  async load(): Promise<Array<[string, T]>> {
    return (await this.loadRaw(false)).map(([field, value]) => [field, value]);
  }

  /**
   * Delivers the stored states to `handler` once, then every change published by other instances.
   *
   * @example
   * ```ts
   * const sub = channel.subscribe((key, state) => registry.applyRemote(key, state));
   * sub.dispose();
   * ```
   */
  subscribe(handler: Handler<T>): Disposable {
    this.handlers.add(handler);
    this.ensureSubscriber();
    if (this.subscribed) this.track(this.deliverStored([handler], false).then(() => undefined));
    else this.requestSync();
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        this.handlers.delete(handler);
        if (this.handlers.size === 0) this.teardown();
      },
    };
  }

  /**
   * Resolves once every subscribe/load started so far has delivered (or reported its failure).
   *
   * @example
   * ```ts
   * channel.subscribe(onRemote);
   * await channel.ready();
   * ```
   */
  async ready(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /**
   * Drops every subscription and the changes still waiting to be sent again; closes the subscriber
   * connection if this instance created it.
   *
   * @example
   * ```ts
   * await channel.close();
   * ```
   */
  async close(): Promise<void> {
    this.closed = true;
    this.unsent.clear();
    this.resendRetry.reset();
    this.disarmResend();
    this.handlers.clear();
    this.teardown();
    await this.ready();
  }

  // ------------------------------------------------------------------ subscriber connection

  private ensureSubscriber(): void {
    if (this.sub !== undefined) return;
    const given = this.options.subscriber;
    const sub = (given ?? duplicateForSubscribe(this.options.redis)) as unknown as SubscriberClient;
    this.sub = sub;
    this.subscribed = false;
    this.subReady = sub.status === 'ready';
    sub.on('message', this.onMessage);
    sub.on('ready', this.onReady);
    sub.on('close', this.onClose);
    if (given === undefined && this.options.onError !== undefined) sub.on('error', this.onConnectionError);
    if (given !== undefined) hold(sub, this.channel, 1);
  }

  private teardown(): void {
    const sub = this.sub;
    if (sub === undefined) return;
    this.sub = undefined;
    this.subscribed = false;
    this.connection++;
    sub.off('message', this.onMessage);
    sub.off('ready', this.onReady);
    sub.off('close', this.onClose);
    this.stopSyncRetry();
    if (this.options.subscriber === undefined) {
      sub.off('error', this.onConnectionError);
      sub.disconnect();
    } else if (hold(sub, this.channel, -1) === 0 && sub.status === 'ready') {
      // Only when no other instance on this connection listens to the channel.
      sub.unsubscribe(this.channel).catch(() => undefined);
    }
  }

  private readonly onMessage = (channel: string, raw: string): void => {
    if (channel !== this.channel) return;
    const message = parseMessage(raw);
    if (message === undefined) {
      this.report('message', new Error(`malformed message on ${this.channel}`));
      return;
    }
    if (message.o === this.origin) return;
    const value = this.options.codec.decode(message.v, this.options.clock.now());
    if (value === undefined) {
      this.report('message', new Error(`malformed ${this.options.source} state for '${message.k}' on ${this.channel}`));
      return;
    }
    const id = publicationId(message, raw);
    this.seen.set(message.k, id);
    // A copy: the handlers may change theirs (engines update pacing snapshots in place).
    for (const live of this.liveDuringLoads) live.set(message.k, { value: { ...value }, id });
    this.deliver([...this.handlers], message.k, value);
  };

  private readonly onReady = (): void => {
    this.subReady = true;
    this.connectionErrorReported = false;
    if (this.handlers.size > 0) this.requestSync();
  };

  private readonly onClientReady = (): void => {
    this.syncRetryArmed = false;
    (this.client as unknown as SubscriberClient).off('ready', this.onClientReady);
    if (this.handlers.size > 0 && !this.subscribed) this.requestSync();
  };

  private readonly onClose = (): void => {
    this.subscribed = false;
    this.connection++;
    const wasReady = this.subReady;
    this.subReady = false;
    // A connection the server closed (`CLIENT KILL`, a pub/sub client over its output buffer limit)
    // sends no `error` event: its outage is reported here (once, like the errors; reset on `ready`).
    // Only for a connection created here; `teardown` removes this listener before closing it.
    if (wasReady && this.options.subscriber === undefined) this.onConnectionError(new Error('The Redis subscriber connection closed'));
  };

  private readonly onConnectionError = (error: unknown): void => {
    // ioredis emits one per reconnect attempt, and a connection that was ready also closes (above):
    // report the first of each outage.
    if (this.connectionErrorReported) return;
    this.connectionErrorReported = true;
    this.report('subscribe', error);
  };

  // ------------------------------------------------------------------ sync

  /** Subscribe, then load and deliver the stored states; once at a time, again if asked meanwhile. */
  private requestSync(): void {
    if (this.syncing) {
      this.syncWanted = true;
      return;
    }
    this.syncing = true;
    this.syncWanted = false;
    const connection = this.connection;
    const run = (async () => {
      const sub = this.sub;
      if (sub === undefined) return;
      try {
        await withTimeout(sub.subscribe(this.channel), this.options.timeoutMs);
      } catch (error) {
        // Else: closed meanwhile, nothing failed.
        if (this.sub === sub) {
          this.report('subscribe', error);
          this.retrySyncLater();
        }
        return;
      }
      if (this.sub !== sub) return;
      // Delivered to the handlers present when the load returns: one added meanwhile is included.
      if (await this.deliverStored(undefined, true)) {
        this.subscribed = connection === this.connection && this.sub === sub;
        if (this.subscribed) this.stopSyncRetry();
      } else if (this.sub === sub) this.retrySyncLater();
    })().finally(() => {
      this.syncing = false;
      if (this.syncWanted && !this.subscribed && this.handlers.size > 0) this.requestSync();
    });
    this.track(run);
  }

  /**
   * A sync failed. It runs again when `redis` is ready again (it may have been reconnecting), when the
   * subscriber connection is ready again ({@link onReady}), after the next successful publish, and after
   * a backoff: a command that timed out on connections that stayed up (a failover's `CLIENT PAUSE`, a
   * slow fork) brings no `ready` event, and nothing else would retry it.
   */
  private retrySyncLater(): void {
    if (!this.syncRetryArmed) {
      this.syncRetryArmed = true;
      (this.client as unknown as SubscriberClient).on('ready', this.onClientReady);
    }
    this.syncRetry.schedule();
  }

  /** Nothing to retry any more (synced, or no subscriber): no pending backoff, no listener on `redis`. */
  private stopSyncRetry(): void {
    this.syncRetry.reset();
    if (!this.syncRetryArmed) return;
    this.syncRetryArmed = false;
    (this.client as unknown as SubscriberClient).off('ready', this.onClientReady);
  }

  /**
   * The backoff's retry of a failed sync, on connections that are up; a connection that is not will
   * retry on its `ready` event instead (without a failure reported per backoff step meanwhile).
   */
  private retrySync(): void {
    if (this.handlers.size === 0 || this.subscribed || this.sub?.status !== 'ready' || notReadyReason(this.client) !== undefined) return;
    this.requestSync();
  }

  /**
   * Loads the stored states and hands them to `only` (default: every current handler); `dedupe` skips
   * publications already delivered (the same publication, not merely the same text). A change of a
   * field announced live while loading hides its stored copy, which may be older, except for a ranked
   * state (breakers) that outranks or outlasts it: Redis keeps the stronger state and still announces
   * the weaker one, so the stored copy is the one in force (registries merge by strength too).
   * Resolves `false` when the load failed (reported).
   */
  private async deliverStored(only: Handler<T>[] | undefined, dedupe: boolean): Promise<boolean> {
    const live = new Map<string, { value: T; id: string }>();
    this.liveDuringLoads.add(live);
    let entries: Array<[string, T, string]>;
    try {
      entries = await this.loadRaw(true);
    } catch (error) {
      this.report('load', error);
      return false;
    } finally {
      this.liveDuringLoads.delete(live);
    }
    const handlers = only === undefined ? [...this.handlers] : only.filter((h) => this.handlers.has(h));
    for (const [field, value, id] of entries) {
      const heard = live.get(field);
      // A newer change arrived while loading: it wins, unless the stored one is stronger (ranked only).
      if (heard !== undefined && (heard.id === id || !this.outranks(value, heard.value))) continue;
      if (dedupe && this.seen.get(field) === id) continue;
      this.seen.set(field, id);
      this.deliver(handlers, field, value);
    }
    return true;
  }

  /**
   * Whether `stored` is a ranked state (rank > 0) still in force that beats `heard` as Redis decides:
   * a higher rank, or the same rank and a later end. Never for rank 0 (pacing: the latest write wins).
   */
  private outranks(stored: T, heard: T): boolean {
    const { codec, clock } = this.options;
    const now = clock.now();
    try {
      const s = codec.encode(stored, now);
      if (s === undefined || !(s.rank > 0) || !(s.ttlMs > 0)) return false;
      const h = codec.encode(heard, now);
      if (h === undefined || !(h.ttlMs > 0)) return true;
      return s.rank > h.rank || (s.rank === h.rank && s.ttlMs > h.ttlMs);
    } catch (error) {
      this.report('message', error);
      return false;
    }
  }

  private async loadRaw(skipOwn: boolean): Promise<Array<[string, T, string]>> {
    const notReady = notReadyReason(this.client);
    if (notReady !== undefined) throw notReady;
    const reply = (await withTimeout(LOAD.run(this.client, [this.hashKey], []), this.options.timeoutMs)) as (string | number)[];
    this.learnRedisTime(reply[0]);
    const redisNow = Number(reply[0]);
    const localNow = this.options.clock.now();
    const out: Array<[string, T, string]> = [];
    for (let i = 1; i + 1 < reply.length; i += 2) {
      const field = String(reply[i]);
      const stored = /^(\d+) (\d+) (\d+) (.*)$/s.exec(String(reply[i + 1]));
      const message = stored ? parseMessage(stored[4]!) : undefined;
      if (!stored || !message) {
        this.report('message', new Error(`malformed stored ${this.options.source} state for '${field}' in ${this.hashKey}`));
        continue;
      }
      if (skipOwn && message.o === this.origin) continue;
      // The wire times are relative to when it was written, `redisNow - writtenAt` ago.
      const value = this.options.codec.decode(message.v, localNow - (redisNow - Number(stored[3])));
      if (value === undefined) {
        this.report('message', new Error(`malformed stored ${this.options.source} state for '${field}' in ${this.hashKey}`));
        continue;
      }
      out.push([field, value, publicationId(message, stored[4]!)]);
    }
    return out;
  }

  private deliver(handlers: Handler<T>[], field: string, value: T): void {
    for (let i = 0; i < handlers.length; i++) {
      try {
        // Each subscriber gets its own object (engines update pacing snapshots in place).
        handlers[i]!(field, i === 0 ? value : { ...value });
      } catch (error) {
        this.report('message', error);
      }
    }
  }

  private track(work: Promise<void>): void {
    const tracked = work.catch((error: unknown) => this.report('load', error));
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  private report(operation: RedisSyncOperation, cause: unknown): void {
    const onError = this.options.onError;
    if (onError === undefined) return;
    try {
      onError(new RedisSyncError(this.options.source, operation, cause));
    } catch {
      // A throwing reporter must not break the engine.
    }
  }
}

function parseMessage(raw: string): Message | undefined {
  try {
    const m = JSON.parse(raw) as Partial<Message> | null;
    if (m === null || typeof m !== 'object' || typeof m.o !== 'string' || typeof m.k !== 'string' || !('v' in m)) return undefined;
    if (m.i !== undefined && typeof m.i !== 'number') return undefined;
    return m as Message;
  } catch {
    return undefined;
  }
}
