import { startIoDeadline } from './ioDeadline';
import type { ScriptClient } from './redisClient';
import type { RedisScript } from './RedisScript';
import { RedisReplyLostError } from './RedisReplyLostError';
import { RedisTimeoutError } from './withTimeout';

/** One call waiting for the next batch. */
export interface BatchEntry<R> {
  keys: string[];
  units: (string | number)[];
  /** Units (charges or adjustments) in this call. */
  n: number;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
  /** Turns a failure of the batch into this call's result (or throws); saves a `.catch` per call. */
  recover: ((error: unknown) => R) | undefined;
  /** What the caller attached to the call (see {@link ScriptBatcherOptions.late}). */
  context: unknown;
}

/** A queued call, with whether it was answered (by `settle`, or failed by it with {@link failEntry}). */
interface QueuedEntry<R> extends BatchEntry<R> {
  answered: boolean;
}

/**
 * Options of {@link ScriptBatcher}.
 *
 * @example
 * ```ts
 * const opts: ScriptBatcherOptions<void> = { script, client, header: [600000, 1000, 250], maxBatch: 16, timeoutMs: 100, withCounts: false, settle: (_, batch) => batch.forEach((e) => e.resolve()) };
 * ```
 */
export interface ScriptBatcherOptions<R> {
  script: RedisScript;
  client: ScriptClient;
  /** Leading values of the JSON argument. */
  header: readonly (string | number)[];
  /** Most calls per script run. */
  maxBatch: number;
  /** Longest a batch waits for its reply. */
  timeoutMs: number;
  /** Write the number of calls and each call's unit count after the header (reserve); else a 0. */
  withCounts: boolean;
  /** Hands the reply out to the calls of the batch. */
  settle: (reply: unknown, batch: BatchEntry<R>[]) => void;
  /**
   * A batch that timed out was still run by Redis (it was slow, or ioredis sent it again after
   * reconnecting): its calls' results, handed out by `settle`, go to this instead, with each call's
   * `context`, so that the caller can undo what Redis did for calls that were already answered.
   */
  late?: (result: R, context: unknown) => void;
  /**
   * Names each script run: the id goes to the script as its second argument (the reserve script tags
   * the leases it adds with it), and to {@link ScriptBatcherOptions.unanswered}. Without `runKey`, a
   * reply that comes back on another connection than the run went out on (ioredis sent the run again
   * after a reconnect: Redis may have run it twice) fails the calls with {@link RedisReplyLostError}
   * and goes to `late`.
   */
  runId?: () => string;
  /**
   * Makes the runs idempotent (with `runId`): the key, last in `KEYS`, under which the script records
   * the run's id for a short time, so that a copy of the run ioredis sends again after reconnecting
   * changes nothing. A reply that comes back on another connection is then an answer like any other:
   * Redis applied the run once.
   */
  runKey?: (runId: string) => string;
  /**
   * A run that failed (timeout, connection lost, error reply) may still have been applied by Redis,
   * its reply lost: called with the run's id, each call's `context` and the failure, after the calls
   * got it, so that the caller can undo what such a run did without its reply (the leases tagged with
   * the id). A run whose reply `settle` could not read (it threw) was applied by Redis: the calls
   * `settle` had not answered get the error it threw, and come here with it too.
   */
  unanswered?: (runId: string, contexts: unknown[], error: unknown) => void;
}

/**
 * Coalesces calls made in the same tick into one script run (up to `maxBatch` calls), like ioredis'
 * auto-pipelining but one level up: one EVALSHA, one JSON argument, one reply for many calls. Every
 * call keeps its own meaning (the script processes them in order); Redis and the client pay the
 * per-command overhead once. An idle caller's call goes out alone on the next tick. One timer per
 * batch bounds the wait: on timeout every call of the batch rejects with {@link RedisTimeoutError}.
 * With `runId`, a reply that comes back on another connection than the run went out on (ioredis sent
 * it again after a reconnect) fails the calls with {@link RedisReplyLostError} and is handed to `late`,
 * unless the runs are idempotent (`runKey`). A batch that times out while the event loop was blocked
 * still takes a reply that arrived in time (see {@link startIoDeadline}).
 *
 * @example
 * ```ts
 * const batcher = new ScriptBatcher<void>({ ...opts });
 * await batcher.add(['{llmr}:r:k'], ['r', 10, 60000, 10, -1], 1);
 * ```
 */
export class ScriptBatcher<R> {
  private pending: QueuedEntry<R>[] = [];
  private scheduled = false;
  private readonly flushBound = () => this.flush();

  constructor(private readonly options: ScriptBatcherOptions<R>) {}

  /**
   * Queues one call; resolves with its share of the reply. When the batch fails, `recover` (if given)
   * decides the call's result instead of a rejection.
   */
  add(keys: string[], units: (string | number)[], n: number, recover?: (error: unknown) => R, context?: unknown): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const entry: QueuedEntry<R> = {
        keys,
        units,
        n,
        resolve: (result) => {
          entry.answered = true;
          resolve(result);
        },
        reject: (error) => {
          entry.answered = true;
          reject(error);
        },
        recover,
        context,
        answered: false,
      };
      this.pending.push(entry);
      if (this.pending.length >= this.options.maxBatch) {
        this.flush();
      } else if (!this.scheduled) {
        this.scheduled = true;
        process.nextTick(this.flushBound);
      }
    });
  }

  /** Sends whatever is queued now. */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const { script, client, header, timeoutMs, withCounts, settle } = this.options;
    const keys: string[] = [];
    const args: (string | number)[] = [...header];
    if (withCounts) {
      args.push(batch.length);
      for (const e of batch) args.push(e.n);
    } else {
      args.push(0);
    }
    for (const e of batch) {
      for (const k of e.keys) keys.push(k);
      for (const a of e.units) args.push(a);
    }
    const runId = this.options.runId?.();
    const runKey = runId === undefined ? undefined : this.options.runKey;
    if (runKey !== undefined) keys.push(runKey(runId!));
    let done = false;
    /** The reply, if it comes, is a late one (the calls were failed): what the run charged is undone. */
    let late = false;
    const fail = (error: unknown) => {
      if (done) return;
      done = true;
      cancel();
      for (const e of batch) failEntry(e, error);
      if (runId !== undefined) this.options.unanswered?.(runId, batch.map((e) => e.context), error);
    };
    const cancel = startIoDeadline(timeoutMs, () => {
      late = true;
      fail(new RedisTimeoutError(timeoutMs));
    });
    // The connection the run goes out on (a single-node client's, once ready: while connecting, ioredis
    // queues the command for the connection it is opening). A reply that comes back on another one was
    // sent again by ioredis after a reconnect: Redis may have run it twice, the first reply is lost
    // (unless the run is idempotent: then Redis applied it once, and the reply says so).
    const sentOn = runId !== undefined && runKey === undefined && client.status === 'ready' ? client.stream : undefined;
    script.run(client, keys, runId === undefined ? [JSON.stringify(args)] : [JSON.stringify(args), runId]).then((reply) => {
      if (!done && sentOn !== undefined && client.stream !== sentOn) {
        late = true;
        fail(new RedisReplyLostError());
      }
      if (done) {
        if (late) this.lateReply(reply, batch);
        return;
      }
      done = true;
      cancel();
      try {
        settle(reply, batch);
      } catch (error) {
        // Redis ran the batch but its reply cannot be read. The calls settle answered keep their answer
        // (their `recover` must not run: it would apply the failure mode to an answered call); the
        // others fail, and what Redis did for them goes to `unanswered`, as for a run whose reply was lost.
        const failed = batch.filter((e) => !e.answered);
        for (const e of failed) failEntry(e, error);
        if (runId !== undefined && failed.length > 0) this.options.unanswered?.(runId, failed.map((e) => e.context), error);
      }
    }, fail);
  }

  /** Hands the results of a batch that ran after its timeout to {@link ScriptBatcherOptions.late}. */
  private lateReply(reply: unknown, batch: BatchEntry<R>[]): void {
    const late = this.options.late;
    if (late === undefined) return;
    const ignore = () => undefined;
    try {
      this.options.settle(
        reply,
        batch.map((e) => ({ ...e, resolve: (result: R) => late(result, e.context), reject: ignore, recover: undefined })),
      );
    } catch {
      // A reply that cannot be read now could not have been read in time either: nothing to undo.
    }
  }
}

/**
 * Fails one call of a batch: its `recover` decides its result, else it rejects with `error`. For
 * `settle`, when the reply answers one call with an error (the others of the batch are answered).
 *
 * @example
 * ```ts
 * const settle = (reply: unknown, batch: BatchEntry<number>[]) => batch.forEach((e, i) => (i === 0 ? failEntry(e, new Error('refused')) : e.resolve(1)));
 * ```
 */
export function failEntry<R>(e: BatchEntry<R>, error: unknown): void {
  if (e.recover === undefined) {
    e.reject(error);
    return;
  }
  try {
    e.resolve(e.recover(error));
  } catch (thrown) {
    e.reject(thrown);
  }
}
