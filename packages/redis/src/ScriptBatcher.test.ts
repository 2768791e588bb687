import type { ScriptClient } from './redisClient';
import { RedisScript } from './RedisScript';
import { failEntry, ScriptBatcher, type BatchEntry, type ScriptBatcherOptions } from './ScriptBatcher';
import { RedisReplyLostError } from './RedisReplyLostError';
import { RedisTimeoutError } from './withTimeout';

/**
 * Fake time past a deadline of `ms`, then the event loop's check phase, where the deadline's verdict
 * comes (after the I/O that was ready when it expired: see `startIoDeadline`).
 */
function passDeadline(ms: number): void {
  jest.advanceTimersByTime(ms);
  jest.runOnlyPendingTimers();
}

/** A stand-in for ioredis that records EVALSHA calls and answers when told to. */
function fakeClient() {
  const calls: { keys: string[]; arg: unknown[]; runId?: unknown }[] = [];
  const replies: Array<{ resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];
  const client = {
    status: 'ready',
    evalsha: (_sha: string, numKeys: number, ...rest: (string | number)[]) => {
      calls.push({ keys: rest.slice(0, numKeys) as string[], arg: JSON.parse(String(rest[numKeys])) as unknown[], ...(rest.length > numKeys + 1 ? { runId: rest[numKeys + 1] } : {}) });
      return new Promise((resolve, reject) => replies.push({ resolve, reject }));
    },
  } as unknown as ScriptClient;
  return { client, calls, replies };
}

const settle = (reply: unknown, batch: BatchEntry<string>[]) => {
  const parts = String(reply).split(',');
  batch.forEach((e, i) => e.resolve(parts[i]!));
};

describe('ScriptBatcher', () => {
  afterEach(() => jest.useRealTimers());

  function setup(maxBatch: number, withCounts = true, extra: Partial<ScriptBatcherOptions<string>> = {}) {
    const fake = fakeClient();
    const batcher = new ScriptBatcher<string>({
      script: new RedisScript('return 1'),
      client: fake.client,
      header: [600000, 1000, 250],
      maxBatch,
      timeoutMs: 100,
      withCounts,
      settle,
      ...extra,
    });
    return { ...fake, batcher };
  }

  it('sends calls of one tick as one script run, with counts, in call order', async () => {
    const { batcher, calls, replies } = setup(16);
    const a = batcher.add(['k1', 'k2'], ['r', 1, 2], 2);
    const b = batcher.add(['k3'], ['c', 3], 1);
    expect(calls).toHaveLength(0);
    await new Promise((r) => process.nextTick(r));
    expect(calls).toEqual([{ keys: ['k1', 'k2', 'k3'], arg: [600000, 1000, 250, 2, 2, 1, 'r', 1, 2, 'c', 3] }]);
    replies[0]!.resolve('x,y');
    await expect(Promise.all([a, b])).resolves.toEqual(['x', 'y']);
  });

  it('writes a single 0 instead of counts when asked to, and flushes at maxBatch', async () => {
    const { batcher, calls, replies } = setup(2, false);
    const all = [batcher.add(['a'], [1], 1), batcher.add(['b'], [2], 1), batcher.add(['c'], [3], 1)];
    expect(calls).toEqual([{ keys: ['a', 'b'], arg: [600000, 1000, 250, 0, 1, 2] }]);
    await new Promise((r) => process.nextTick(r));
    expect(calls[1]).toEqual({ keys: ['c'], arg: [600000, 1000, 250, 0, 3] });
    replies[0]!.resolve('1,2');
    replies[1]!.resolve('3');
    await expect(Promise.all(all)).resolves.toEqual(['1', '2', '3']);
  });

  it('rejects every call of a batch on error or timeout, and ignores a late reply', async () => {
    const { batcher, replies } = setup(16);
    const failed = [batcher.add(['a'], [1], 1), batcher.add(['b'], [1], 1)];
    await new Promise((r) => process.nextTick(r));
    replies[0]!.reject(new Error('ECONNRESET'));
    for (const p of failed) await expect(p).rejects.toThrow('ECONNRESET');

    jest.useFakeTimers();
    const slow = batcher.add(['a'], [1], 1);
    batcher.flush();
    passDeadline(100);
    await expect(slow).rejects.toBeInstanceOf(RedisTimeoutError);
    replies[1]!.resolve('late');
  });

  it("hands the results of a batch Redis ran after its timeout to `late`, with each call's context", async () => {
    const fake = fakeClient();
    const late: Array<[string, unknown]> = [];
    const batcher = new ScriptBatcher<string>({
      script: new RedisScript('return 1'),
      client: fake.client,
      header: [600000, 1000, 250],
      maxBatch: 16,
      timeoutMs: 100,
      withCounts: true,
      settle,
      late: (result, context) => late.push([result, context]),
    });
    jest.useFakeTimers();
    const calls = [batcher.add(['a'], [1], 1, undefined, { call: 'a' }), batcher.add(['b'], [1], 1, (e) => `local: ${(e as Error).name}`, 'b')];
    batcher.flush();
    passDeadline(100);
    await expect(calls[0]).rejects.toBeInstanceOf(RedisTimeoutError);
    await expect(calls[1]).resolves.toBe('local: RedisTimeoutError');
    expect(late).toEqual([]);
    jest.useRealTimers();
    fake.replies[0]!.resolve('x,y');
    await new Promise((r) => setImmediate(r));
    expect(late).toEqual([
      ['x', { call: 'a' }],
      ['y', 'b'],
    ]);

    // A batch that failed with an error (not a timeout) has no late reply to hand out.
    const failed = batcher.add(['c'], [1], 1, undefined, 'c');
    batcher.flush();
    fake.replies[1]!.reject(new Error('ECONNRESET'));
    await expect(failed).rejects.toThrow('ECONNRESET');
    expect(late).toHaveLength(2);
  });

  it('takes a reply read after its timer fired but before the verdict (the event loop was blocked past timeoutMs)', async () => {
    jest.useFakeTimers();
    const { batcher, replies } = setup(16);
    const a = batcher.add(['a'], [1], 1);
    batcher.flush();
    jest.advanceTimersByTime(100); // Node runs the expired timer before it reads the socket ...
    replies[0]!.resolve('x'); // ... then reads the reply that arrived in time
    await Promise.resolve();
    await Promise.resolve();
    jest.runOnlyPendingTimers(); // the check phase, where the verdict would come
    await expect(a).resolves.toBe('x');
  });

  it('lets settle answer one call of a batch with an error (failEntry) and the others with their results', async () => {
    const { batcher, replies } = setup(16, true, {
      settle: (reply, batch) => batch.forEach((e, i) => (i === 1 ? failEntry(e, new Error(`refused ${String(reply)}`)) : e.resolve(`ok ${i}`))),
    });
    const calls = [
      batcher.add(['a'], [1], 1),
      batcher.add(['b'], [1], 1, (e) => `recovered: ${(e as Error).message}`),
      batcher.add(['c'], [1], 1),
    ];
    await new Promise((r) => process.nextTick(r));
    replies[0]!.resolve('b');
    await expect(Promise.all(calls)).resolves.toEqual(['ok 0', 'recovered: refused b', 'ok 2']);
  });

  it('lets a call recover from a failed batch instead of rejecting', async () => {
    const { batcher, replies } = setup(16);
    const recovered = batcher.add(['a'], [1], 1, (e) => `local after ${(e as Error).message}`);
    const throwing = batcher.add(['b'], [1], 1, () => {
      throw new Error('closed');
    });
    await new Promise((r) => process.nextTick(r));
    replies[0]!.reject(new Error('ECONNREFUSED'));
    await expect(recovered).resolves.toBe('local after ECONNREFUSED');
    await expect(throwing).rejects.toThrow('closed');
  });

  it("when settle throws, fails only the calls it had not answered (an answered call's recover does not run) and hands them to unanswered", async () => {
    const recovered: string[] = [];
    const unanswered: Array<{ runId: string; contexts: unknown[]; error: unknown }> = [];
    let runs = 0;
    let throwing = true;
    const { batcher, replies } = setup(16, true, {
      settle: (reply, batch) => {
        batch[0]!.resolve(`ok ${String(reply)}`);
        if (throwing) throw new TypeError('unreadable reply');
        batch.slice(1).forEach((e) => e.resolve(`ok ${String(reply)}`));
      },
      runId: () => `run${runs++}`,
      unanswered: (runId, contexts, error) => unanswered.push({ runId, contexts, error }),
    });
    const recover = (name: string) => (e: unknown) => (recovered.push(name), `local ${name}: ${(e as Error).message}`);
    const a = batcher.add(['a'], [1], 1, recover('a'), 'ctx-a');
    const b = batcher.add(['b'], [1], 1, recover('b'), 'ctx-b');
    const c = batcher.add(['c'], [1], 1, undefined, 'ctx-c');
    await new Promise((r) => process.nextTick(r));
    replies[0]!.resolve('x');
    await expect(a).resolves.toBe('ok x');
    await expect(b).resolves.toBe('local b: unreadable reply');
    await expect(c).rejects.toThrow('unreadable reply');
    expect(recovered).toEqual(['b']);
    // Redis ran the whole batch: what it did for the calls that got the failure is the caller's to undo.
    expect(unanswered).toEqual([{ runId: 'run0', contexts: ['ctx-b', 'ctx-c'], error: expect.any(TypeError) }]);

    // The next batch is sent and answered as usual.
    throwing = false;
    const d = batcher.add(['d'], [1], 1, recover('d'), 'ctx-d');
    const e = batcher.add(['e'], [1], 1, recover('e'), 'ctx-e');
    await new Promise((r) => process.nextTick(r));
    replies[1]!.resolve('y');
    await expect(Promise.all([d, e])).resolves.toEqual(['ok y', 'ok y']);
    expect(recovered).toEqual(['b']);
    expect(unanswered).toHaveLength(1);
  });

  describe('with run ids', () => {
    function withRunIds(extra: Partial<ScriptBatcherOptions<string>> = {}) {
      const stream = { current: {} as unknown };
      const unanswered: Array<{ runId: string; contexts: unknown[]; error: unknown }> = [];
      const late: Array<{ result: string; context: unknown }> = [];
      const order: string[] = [];
      let n = 0;
      const s = setup(16, true, {
        runId: () => `run${n++}`,
        unanswered: (runId, contexts, error) => {
          order.push('unanswered');
          unanswered.push({ runId, contexts, error });
        },
        late: (result, context) => late.push({ result, context }),
        ...extra,
      });
      // The client's connection, as ioredis' `stream`: replaced on a reconnect.
      Object.defineProperty(s.client, 'stream', { get: () => stream.current });
      return { ...s, stream, unanswered, late, order };
    }

    it('sends the run id as the second argument, and reports a run that failed (timeout) with its calls\' contexts, after the calls got the failure', async () => {
      jest.useFakeTimers();
      const { batcher, calls, replies, unanswered, late, order } = withRunIds();
      // a recovers (as the store's fast path does: the failure mode answers it), b rejects.
      const a = batcher.add(['k'], ['c', 1], 1, () => (order.push('a recovered'), 'local'), 'ctx-a');
      const b = batcher.add(['k'], ['c', 1], 1, undefined, 'ctx-b').catch((e: unknown) => e);
      jest.advanceTimersByTime(0);
      await Promise.resolve();
      expect(calls.map((c) => c.runId)).toEqual(['run0']);
      passDeadline(100);
      await expect(a).resolves.toBe('local');
      await expect(b).resolves.toBeInstanceOf(RedisTimeoutError);
      expect(unanswered).toEqual([{ runId: 'run0', contexts: ['ctx-a', 'ctx-b'], error: expect.any(RedisTimeoutError) }]);
      expect(order).toEqual(['a recovered', 'unanswered']);
      replies[0]!.resolve('x,y'); // it ran after all: its results go to late
      await Promise.resolve();
      await Promise.resolve();
      expect(late).toEqual([
        { result: 'x', context: 'ctx-a' },
        { result: 'y', context: 'ctx-b' },
      ]);
    });

    it('treats a reply that came back on a new connection (ioredis sent the run again) as lost: the calls fail, the reply is late', async () => {
      const { batcher, replies, stream, unanswered, late } = withRunIds();
      const a = batcher.add(['k'], ['c', 1], 1, undefined, 'ctx-a');
      await new Promise((r) => process.nextTick(r));
      stream.current = {}; // reconnected
      replies[0]!.resolve('x');
      await expect(a).rejects.toBeInstanceOf(RedisReplyLostError);
      expect(unanswered).toEqual([{ runId: 'run0', contexts: ['ctx-a'], error: expect.any(RedisReplyLostError) }]);
      expect(late).toEqual([{ result: 'x', context: 'ctx-a' }]);
    });

    it('does not take a reply for a re-sent one when the run was queued while ioredis was connecting', async () => {
      const { batcher, client, replies, stream, unanswered, late } = withRunIds();
      (client as { status: string }).status = 'connecting'; // ioredis writes it on the connection it opens
      const a = batcher.add(['k'], ['c', 1], 1, undefined, 'ctx-a');
      await new Promise((r) => process.nextTick(r));
      stream.current = {};
      (client as { status: string }).status = 'ready';
      replies[0]!.resolve('x');
      await expect(a).resolves.toBe('x');
      expect([unanswered, late]).toEqual([[], []]);
    });

    it("sends an idempotent run's record key (runKey) last, and takes its reply on a new connection as an answer", async () => {
      const { batcher, calls, replies, stream, unanswered, late } = withRunIds({ runKey: (runId) => `rec:${runId}` });
      const a = batcher.add(['k1'], ['c', 1], 1, undefined, 'ctx-a');
      const b = batcher.add(['k2'], ['c', 1], 1, undefined, 'ctx-b');
      await new Promise((r) => process.nextTick(r));
      expect(calls).toEqual([expect.objectContaining({ keys: ['k1', 'k2', 'rec:run0'], runId: 'run0' })]);
      stream.current = {}; // reconnected: ioredis sent the run again, and Redis applied it once
      replies[0]!.resolve('x,y');
      await expect(Promise.all([a, b])).resolves.toEqual(['x', 'y']);
      expect([unanswered, late]).toEqual([[], []]);
    });

    it('reports nothing for a run answered on the connection it went out on', async () => {
      const { batcher, replies, unanswered, late } = withRunIds();
      const a = batcher.add(['k'], ['c', 1], 1, undefined, 'ctx-a');
      await new Promise((r) => process.nextTick(r));
      replies[0]!.resolve('x');
      await expect(a).resolves.toBe('x');
      expect([unanswered, late]).toEqual([[], []]);
    });
  });
});
