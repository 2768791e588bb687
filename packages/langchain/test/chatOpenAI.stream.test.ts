/** stream() of withResilience(ChatOpenAI) against the fake provider over real HTTP (SSE). */
import { getEventListeners } from 'node:events';
import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import { FakeTracer } from '@langchain/core/utils/testing';
import { awaitAllCallbacks } from '@langchain/core/callbacks/promises';
import type { AIMessageChunk } from '@langchain/core/messages';
import { RunnableLambda, type Runnable, type RunnableConfig } from '@langchain/core/runnables';
import type { RequestRecord } from '@llm-resilience/core';
import { z } from 'zod';
import { withResilience, StreamInterruptedError } from '../src';
import { realEngine, recordsReach, startProvider, type Provider } from './fakeProvider';
import { attemptsOf } from './scriptedChatServer';
import { rejection, runTree } from './support';

let p: Provider;

const Summary = z.object({ title: z.string(), bullets: z.array(z.string()).min(1) });

/** A callback handler that tells when every run it saw start has ended (the call's, its attempts', the model's). */
class RunsEnded extends BaseCallbackHandler {
  name = 'runs_ended';
  private readonly open = new Set<string>();
  private waiters: Array<() => void> = [];

  constructor() {
    super();
    this.awaitHandlers = true;
  }

  /** Resolves once no run it saw start is still running. */
  all(): Promise<void> {
    return this.open.size === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  private start(runId: string): void {
    this.open.add(runId);
  }

  private end(runId: string): void {
    this.open.delete(runId);
    if (this.open.size > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  override handleChainStart(_c: unknown, _i: unknown, runId: string): void {
    this.start(runId);
  }
  override handleChainEnd(_o: unknown, runId: string): void {
    this.end(runId);
  }
  override handleChainError(_e: unknown, runId: string): void {
    this.end(runId);
  }
  override handleChatModelStart(_l: unknown, _m: unknown, runId: string): void {
    this.start(runId);
  }
  override handleLLMEnd(_o: unknown, runId: string): void {
    this.end(runId);
  }
  override handleLLMError(_e: unknown, runId: string): void {
    this.end(runId);
  }
}

/**
 * What LangChain's callback manager wrote to the console (`Error in handler LogStreamCallbackHandler, ...`,
 * the way a failing handler is reported) while `run` ran.
 */
async function consoleWarnings(run: () => Promise<void>): Promise<string[]> {
  const said: string[] = [];
  const warn = jest.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => void said.push(a.map(String).join(' ')));
  const error = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void said.push(a.map(String).join(' ')));
  try {
    await run();
    // Callbacks that run in the background (LangChain's queue) have ended too.
    await awaitAllCallbacks();
  } finally {
    warn.mockRestore();
    error.mockRestore();
  }
  return said;
}

beforeAll(async () => {
  p = await startProvider({
    models: { 'summary-a': { contextWindow: 2_000, replyTokens: 40 }, 'summary-long': { contextWindow: 100_000, replyTokens: 40 } },
  });
});
afterAll(() => p.fake.stop());
beforeEach(() => {
  p.fake.setFaults([]);
  p.fake.reset();
});

async function collect(stream: AsyncIterable<AIMessageChunk>): Promise<{ text: string; chunks: number }> {
  let text = '';
  let chunks = 0;
  for await (const c of stream) {
    text += String(c.content);
    chunks++;
  }
  return { text, chunks };
}

/** Reads `safe.stream(...)` and aborts `ac` after the second non-empty chunk; resolves with what the read threw. */
function readAndAbortAfterTwoChunks(safe: { stream(input: string, options: { signal: AbortSignal }): Promise<AsyncIterable<AIMessageChunk>> }, ac: AbortController): Promise<unknown> {
  let chunks = 0;
  return rejection(
    (async () => {
      for await (const c of await safe.stream('Stream a summary', { signal: ac.signal })) {
        if (String(c.content) !== '' && ++chunks === 2) ac.abort();
      }
    })(),
  );
}

describe('withResilience(ChatOpenAI).stream against the fake provider', () => {
  it('streams the reply and settles the usage of the final SSE chunk (stream_options.include_usage)', async () => {
    const { engine, records } = realEngine();
    const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
    const { text, chunks } = await collect(await safe.stream('Stream a summary'));
    expect(text.startsWith('[summary-a] reply to')).toBe(true);
    expect(chunks).toBeGreaterThan(5);
    await recordsReach(engine, records, 1);
    const c = p.fake.counters;
    expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'sum-a', input_tokens: c.tokensIn, output_tokens: c.tokensOut });
    expect(c.tokensOut).toBeGreaterThan(30);
  });

  it('falls back before the first chunk: a 503 on the first model is served by the fallback', async () => {
    p.fake.setFaults([{ model: 'summary-a', kind: 'overloaded_503', count: 1 }]);
    const { engine, records } = realEngine({ retry: { perKind: { overloaded: 0 } } });
    const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
    const tracer = new FakeTracer();
    const { text } = await collect(await safe.stream('Stream a summary', { callbacks: [tracer] }));
    expect(text.startsWith('[summary-long] reply to')).toBe(true);
    await recordsReach(engine, records, 1);
    expect(records[0]).toMatchObject({ outcome: 'success', fallback_used: true, final_target: 'sum-long' });
    await awaitAllCallbacks();
    const attempts = runTree(tracer.runs[0]!).children;
    expect(attempts.map((a) => a.name)).toEqual(['attempt:sum-a#1', 'attempt:sum-long#2']);
    expect(attempts[0]!.error).toContain('503');
    expect(attempts[1]!.children.map((m) => m.name)).toEqual(['ChatOpenAI']);
  });

  it('a connection cut midway raises StreamInterruptedError; the caller keeps what arrived, nothing falls back', async () => {
    p.fake.setFaults([{ model: 'summary-a', kind: 'stream_cut', afterChunks: 4 }]);
    const { engine, records } = realEngine();
    const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
    let received = '';
    const err = await rejection(
      (async () => {
        for await (const c of await safe.stream('Stream a summary')) received += String(c.content);
      })(),
    );
    expect(err).toBeInstanceOf(StreamInterruptedError);
    expect(err).toMatchObject({ kind: 'network', code: 'ERR_LLMR_STREAM_INTERRUPTED', target: 'sum-a' });
    expect(received.startsWith('[summary-a]')).toBe(true);
    expect((err as StreamInterruptedError).chunksReceived).toBeGreaterThanOrEqual(4);
    await recordsReach(engine, records, 1);
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'network' });
    // Part of the reply was generated and billed: the prompt and the reserved output stay charged.
    expect(records[0]!.input_tokens).toBeGreaterThan(0);
    expect(records[0]!.output_tokens).toBeGreaterThan(0);
    expect(p.fake.counters.streamsCut).toBe(1);
    expect(p.fake.counters.requestsByModel['summary-long']).toBeUndefined();
  });

  describe("an error event the provider sends in its stream after its 200 (the fake's stream_error)", () => {
    /** An engine whose breakers open at the first failure, its breaker transitions collected. */
    function watchedEngine(extra: Parameters<typeof realEngine>[0] = {}) {
      const r = realEngine({ breaker: { consecutiveFailures: 1, minimumCalls: 100 }, ...extra });
      const transitions: string[] = [];
      r.engine.events.on('breaker', (t) => transitions.push(`${t.key}:${t.to}`));
      return { ...r, transitions };
    }

    /** Reads the stream to its end: the non-empty chunks received and what it threw. */
    async function readStream(safe: { stream(input: string): Promise<AsyncIterable<AIMessageChunk>> }): Promise<{ chunks: number; err: unknown }> {
      let chunks = 0;
      const err = await rejection(
        (async () => {
          for await (const c of await safe.stream('Stream a summary')) if (String(c.content) !== '') chunks++;
        })(),
      );
      return { chunks, err };
    }

    it('before the first chunk (afterChunks: 0): the attempt fails with its kind and the stream falls back', async () => {
      p.fake.setFaults([{ model: 'summary-a', kind: 'stream_error', afterChunks: 0 }]);
      const { engine, records } = watchedEngine({ retry: { perKind: { overloaded: 0 } } });
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      const { text } = await collect(await safe.stream('Stream a summary'));
      expect(text.startsWith('[summary-long]')).toBe(true);
      await recordsReach(engine, records, 1);
      expect(records[0]!.attempts.map((a) => `${a.target}:${a.errorKind ?? a.outcome}`)).toEqual(['sum-a:overloaded', 'sum-long:success']);
    });

    it.each([
      // An overload is a health failure: it counts against the target's breaker (here it opens at once).
      { errorType: 'overloaded' as const, kind: 'overloaded', code: 'server_is_overloaded', opens: ['target:sum-a:open'] },
      // A rate limit says nothing about the target's health: no breaker opens.
      { errorType: 'rate_limit' as const, kind: 'rate_limited', code: 'rate_limit_exceeded', opens: [] },
    ])(
      'after chunks, $errorType: StreamInterruptedError of kind $kind (the provider said so, not a network break), and so does the record',
      async ({ errorType, kind, code, opens }) => {
        p.fake.setFaults([{ model: 'summary-a', kind: 'stream_error', errorType, afterChunks: 3 }]);
        const { engine, records, transitions } = watchedEngine();
        const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
        const { chunks, err } = await readStream(safe);
        expect(chunks).toBe(3);
        expect(err).toBeInstanceOf(StreamInterruptedError);
        expect(err).toMatchObject({ kind, code: 'ERR_LLMR_STREAM_INTERRUPTED', providerCode: code, target: 'sum-a' });
        expect((err as Error).message).toContain(`the provider ended it with an error (${kind}, ${code})`);
        await recordsReach(engine, records, 1);
        expect(records[0]).toMatchObject({ outcome: 'failure', fallback_used: false, error_kind: kind, error_code: code });
        // Part of the reply was generated and billed: the prompt and the reserved output stay charged.
        expect(records[0]!.output_tokens).toBeGreaterThan(0);
        expect(transitions.filter((t) => t.endsWith(':open'))).toEqual(opens);
        expect(p.fake.counters.streamErrors).toBe(1);
        expect(p.fake.counters.requestsByModel['summary-long']).toBeUndefined();
      },
    );

    it('after chunks, an error the provider does not name a kind for (server_error) is a broken stream: network', async () => {
      p.fake.setFaults([{ model: 'summary-a', kind: 'stream_error', errorType: 'server_error', afterChunks: 3 }]);
      const { engine, records } = watchedEngine();
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      const { err } = await readStream(safe);
      expect(err).toMatchObject({ kind: 'network', code: 'ERR_LLMR_STREAM_INTERRUPTED' });
      expect((err as StreamInterruptedError).providerCode).toBeUndefined();
      await recordsReach(engine, records, 1);
      expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'network', error_code: 'ERR_LLMR_STREAM_INTERRUPTED' });
    });

    describe('withStructuredOutput(functionCalling): the parser yields partial objects of the tool call', () => {
      const structured = (m: string) => p.chat(m).withStructuredOutput(Summary, { name: 'summary', method: 'functionCalling' }) as Runnable<string, unknown>;

      it.each([
        { errorType: 'overloaded' as const, kind: 'overloaded', code: 'server_is_overloaded' },
        { errorType: 'rate_limit' as const, kind: 'rate_limited', code: 'rate_limit_exceeded' },
      ])('after arguments reached the caller, $errorType: StreamInterruptedError of kind $kind, and so does the record', async ({ errorType, kind, code }) => {
        p.fake.setFaults([{ model: 'summary-a', kind: 'stream_error', errorType, afterChunks: 3 }]);
        const { engine, records } = watchedEngine();
        const safe = withResilience(structured('summary-a'), { engine, route: 'summary', fallbacks: [structured('summary-long')] });
        const got: unknown[] = [];
        const err = await rejection(
          (async () => {
            for await (const c of await safe.stream('JSON question: summarize')) got.push(c);
          })(),
        );
        expect(got.length).toBeGreaterThan(1);
        expect(err).toMatchObject({ kind, providerCode: code });
        await recordsReach(engine, records, 1);
        expect(records[0]).toMatchObject({ error_kind: kind, error_code: code });
      });

      // The parser yields `{}` on the tool call's header, before any argument: nothing of the answer.
      it('an overload right after the tool call header (`{}` yielded, no argument yet) still falls back', async () => {
        p.fake.setFaults([{ model: 'summary-a', kind: 'stream_error', errorType: 'overloaded', afterChunks: 0 }]);
        const { engine, records } = watchedEngine({ retry: { perKind: { overloaded: 0 } } });
        const safe = withResilience(structured('summary-a'), { engine, route: 'summary', fallbacks: [structured('summary-long')] });
        const got: unknown[] = [];
        for await (const c of await safe.stream('JSON question: summarize')) got.push(c);
        expect(JSON.stringify(got.at(-1))).toContain('[summary-long]');
        await recordsReach(engine, records, 1);
        expect(attemptsOf(records[0]!)).toEqual(['sum-a:overloaded', 'sum-long:success']);
      });
    });
  });

  it('cancellation mid-stream aborts the HTTP stream and is recorded as cancelled', async () => {
    p.fake.setFaults([{ model: 'summary-a', kind: 'slow_tokens', perTokenMs: 20 }]);
    const { engine, records } = realEngine();
    const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
    const ac = new AbortController();
    const err = await readAndAbortAfterTwoChunks(safe, ac);
    expect(err).not.toBeInstanceOf(StreamInterruptedError);
    await recordsReach(engine, records, 1);
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled' });
    expect(p.fake.counters.requestsByModel['summary-long']).toBeUndefined();
  });

  describe('streamEvents v1 of concurrent calls', () => {
    it('two v1 streams of one runnable at once: leaving one early stops that one only', async () => {
      p.fake.setFaults([{ model: 'summary-a', kind: 'slow_tokens', perTokenMs: 2 }]);
      const { engine, records } = realEngine();
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      const early = (async () => {
        let n = 0;
        for await (const e of safe.streamEvents('Stream a summary', { version: 'v1' })) if (e.event === 'on_llm_stream' && ++n === 2) break;
      })();
      const full = (async () => {
        let text = '';
        for await (const e of safe.streamEvents('Stream a summary', { version: 'v1' })) {
          if (e.event === 'on_chain_stream' && e.name === 'ResilientRunnable') text += String((e.data.chunk as AIMessageChunk).content);
        }
        return text;
      })();
      const [, text] = await Promise.all([early, full]);
      expect(text.startsWith('[summary-a] reply to')).toBe(true);
      await recordsReach(engine, records, 2);
      expect(records.map((r) => r.error_kind ?? r.outcome).sort()).toEqual(['cancelled', 'success']);
    });

    it('v1 streams read to the end or left early with one long-lived signal leave no abort listener on it', async () => {
      const { engine } = realEngine();
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      const app = new AbortController();
      for (let i = 0; i < 3; i++) {
        for await (const _ of safe.streamEvents('Stream a summary', { version: 'v1', signal: app.signal }));
        let n = 0;
        for await (const e of safe.streamEvents('Stream a summary', { version: 'v1', signal: app.signal })) if (e.event === 'on_llm_stream' && ++n === 2) break;
      }
      expect(getEventListeners(app.signal, 'abort')).toHaveLength(0);
    });
  });

  describe('a fast provider (the reply already buffered) stopped midway settles and frees its reservation', () => {
    const limits = [{ scope: ['model'] as ['model'], metric: 'concurrency' as const, limit: 1, match: { model: 'summary-a' } }];

    /** With the only concurrency slot of summary-a still held, this call would be queued or sent to summary-long. */
    async function slotIsFree(safe: { invokeWithResult(input: string): Promise<{ target: { id: string }; record: RequestRecord }> }): Promise<void> {
      const again = await safe.invokeWithResult('again');
      expect(again.target.id).toBe('sum-a');
      expect(again.record.fallback_used).toBe(false);
      expect(again.record.skipped).toEqual([]);
    }

    it('an abort through the RunnableConfig signal records the request as cancelled and releases the concurrency slot', async () => {
      const { engine, records } = realEngine({ limits });
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      const ac = new AbortController();
      const err = await readAndAbortAfterTwoChunks(safe, ac);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(StreamInterruptedError);
      await recordsReach(engine, records, 1);
      expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled', fallback_used: false });
      // Part of the reply was generated and billed: the reserved output stays charged.
      expect(records[0]!.output_tokens).toBeGreaterThan(0);
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      await slotIsFree(safe);
    });

    it('streamEvents v2 stopped early (break) records the request as cancelled and releases the concurrency slot', async () => {
      const { engine, records } = realEngine({ limits });
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      let streamed = 0;
      const read = async () => {
        for await (const e of safe.streamEvents('Stream a summary', { version: 'v2' })) {
          if (e.event === 'on_chat_model_stream' && ++streamed === 3) break;
        }
      };
      // LangChain's v2 rethrows the end of the run it aborted from the iterator's return() (1.0 always,
      // 1.4 when the error is not its signal's reason): the resilient runnable's break never throws.
      await read();
      expect(streamed).toBe(3);
      await recordsReach(engine, records, 1);
      expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled', fallback_used: false });
      await slotIsFree(safe);
    });

    it('stream() stopped early (break) records a success and releases the concurrency slot', async () => {
      const { engine, records } = realEngine({ limits });
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      let streamed = 0;
      for await (const c of await safe.stream('Stream a summary')) {
        if (String(c.content) !== '' && ++streamed === 3) break;
      }
      await recordsReach(engine, records, 1);
      expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'sum-a', fallback_used: false });
      await slotIsFree(safe);
    });

    // LangChain's v1 event stream (and streamLog) reads the stream through a log whose writes wait for a
    // reader: left early, LangChain waits for the rest of the stream, which never comes. The loop's
    // `break` used to hang, and the request kept its concurrency slot for good.
    it('streamEvents v1 stopped early (break) ends the loop, records the request as cancelled and releases the concurrency slot', async () => {
      const { engine, records } = realEngine({ limits });
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      let streamed = 0;
      for await (const e of safe.streamEvents('Stream a summary', { version: 'v1' })) {
        if (e.event === 'on_llm_stream' && ++streamed === 3) break;
      }
      expect(streamed).toBe(3);
      await recordsReach(engine, records, 1);
      expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled', fallback_used: false });
      // Part of the reply was generated and billed: the reserved output stays charged.
      expect(records[0]!.output_tokens).toBeGreaterThan(0);
      await slotIsFree(safe);
    });

    it('streamEvents v1 left at its first event, while the model call is under way, likewise', async () => {
      p.fake.setFaults([{ model: 'summary-a', kind: 'slow_first_token', delayMs: 300 }]);
      const { engine, records } = realEngine({ limits });
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      const seen: string[] = [];
      for await (const e of safe.streamEvents('Stream a summary', { version: 'v1' })) {
        seen.push(e.event);
        if (e.event === 'on_llm_start') break;
      }
      expect(seen).toContain('on_llm_start');
      await recordsReach(engine, records, 1);
      expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled', fallback_used: false });
      p.fake.setFaults([]);
      await slotIsFree(safe);
    });

    it('streamLog() stopped early (break) likewise', async () => {
      const { engine, records } = realEngine({ limits });
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      let patches = 0;
      for await (const _patch of safe.streamLog('Stream a summary')) {
        if (++patches === 5) break;
      }
      await recordsReach(engine, records, 1);
      expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled', fallback_used: false });
      await slotIsFree(safe);
    });

    it('streamEvents v1 read to the end records a success', async () => {
      const { engine, records } = realEngine({ limits });
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      let text = '';
      for await (const e of safe.streamEvents('Stream a summary', { version: 'v1' })) {
        if (e.event === 'on_chain_stream' && e.name === 'ResilientRunnable') text += String((e.data.chunk as AIMessageChunk).content);
      }
      expect(text.startsWith('[summary-a] reply to')).toBe(true);
      await recordsReach(engine, records, 1);
      expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'sum-a' });
      await slotIsFree(safe);
    });

    /** Resolves when a request of `engine` starts waiting for admission (a limit held it back). */
    function heldBack(engine: ReturnType<typeof realEngine>['engine']): Promise<void> {
      return new Promise((resolve) => {
        const subs = [
          engine.events.on('limited', () => done()),
          engine.events.on('queue', (e) => {
            if (e.event === 'enqueued') done();
          }),
        ];
        const done = () => {
          for (const s of subs) s.dispose();
          resolve();
        };
      });
    }

    // LangChain's v1 event stream reads one event ahead: its own return() waits for that read, i.e. for the
    // next log entry, which a request waiting for admission does not write. The break used to return only
    // once the slot was freed, and the request was then admitted and its model called for nothing.
    it.each(['streamEvents v1', 'streamLog()'])('%s left while the request waits for admission returns at once; the request is cancelled before any attempt', async (how) => {
      const { engine, records } = realEngine({ limits, routes: { summary: { chain: ['sum-a'] } } });
      // No fallback: B waits for summary-a.
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary' });
      // A holds the only concurrency slot of summary-a.
      const a = (await safe.stream('Stream a summary'))[Symbol.asyncIterator]();
      await a.next();
      const waiting = heldBack(engine);
      const events: AsyncIterable<unknown> = how === 'streamLog()' ? safe.streamLog('Stream a summary') : safe.streamEvents('Stream a summary', { version: 'v1' });
      for await (const _ of events) {
        await waiting; // B waits in the engine for A's slot
        break;
      }
      // The loop was left while A still holds the slot: B is cancelled in the queue, no model called.
      await recordsReach(engine, records, 1);
      expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled', attempts: [] });
      expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 1 });
      await a.return!();
      await recordsReach(engine, records, 2);
      await slotIsFree(safe);
    });

    // The model call hangs before its first token: a break that waited for the next event would never return.
    it.each(['streamEvents v1', 'streamEvents v2', 'streamLog()', 'streamEvents v1 text/event-stream', 'streamEvents v2 text/event-stream'])(
      '%s left while the model call waits for its first token: the break returns without throwing; the request is cancelled and its slot freed',
      async (how) => {
        p.fake.setFaults([{ model: 'summary-a', kind: 'hang' }]);
        const { engine, records } = realEngine({ limits, routes: { summary: { chain: ['sum-a'] } } });
        const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary' });
        const version = how.includes('v2') ? ('v2' as const) : ('v1' as const);
        const events: AsyncIterable<unknown> =
          how === 'streamLog()'
            ? safe.streamLog('Stream a summary')
            : how.endsWith('text/event-stream')
              ? safe.streamEvents('Stream a summary', { version, encoding: 'text/event-stream' })
              : safe.streamEvents('Stream a summary', { version });
        /** Whether what was read says that the model call has started (its run did). */
        const modelStarted = (item: unknown): boolean =>
          item instanceof Uint8Array ? /on_(llm|chat_model)_start/.test(new TextDecoder().decode(item)) : /on_(llm|chat_model)_start|"\/logs\/ChatOpenAI"/.test(JSON.stringify(item));
        let seen = '';
        for await (const item of events) {
          seen += item instanceof Uint8Array ? new TextDecoder().decode(item) : JSON.stringify(item);
          if (modelStarted(item)) break;
        }
        expect(seen).toMatch(/ChatOpenAI/);
        await recordsReach(engine, records, 1);
        // The attempt was under way (the model called), not the request still waiting for admission.
        expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled', attempts: [expect.objectContaining({ target: 'sum-a' })] });
        p.fake.setFaults([]);
        await slotIsFree(safe);
      },
    );

    // Left early, LangChain closes the log before the stream's runs have ended (an attempt failed as
    // cancelled, the call's own run): their callbacks used to write to the closed log, which Node answers
    // with an ERR_INTERNAL_ASSERTION that LangChain's callback manager logs as a warning.
    it.each(['streamEvents v1', 'streamEvents v1 text/event-stream', 'streamLog()'])(
      "%s left at its third item, while the model call is under way: no warning of LangChain's log handler",
      async (how) => {
        p.fake.setFaults([{ model: 'summary-a', kind: 'slow_tokens', perTokenMs: 5 }]);
        const { engine, records } = realEngine();
        const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
        let bytes = 0;
        const runs = new RunsEnded();
        const warnings = await consoleWarnings(async () => {
          const items: AsyncIterable<unknown> =
            how === 'streamLog()'
              ? safe.streamLog('Stream a summary', { callbacks: [runs] })
              : how.endsWith('text/event-stream')
                ? safe.streamEvents('Stream a summary', { version: 'v1', encoding: 'text/event-stream', callbacks: [runs] })
                : safe.streamEvents('Stream a summary', { version: 'v1', callbacks: [runs] });
          let n = 0;
          for await (const item of items) {
            if (item instanceof Uint8Array) bytes += item.length;
            if (++n === 3) break;
          }
          await recordsReach(engine, records, 1);
          // The runs end after the loop was left: their callbacks are what wrote to the closed log.
          await runs.all();
        });
        expect(warnings).toEqual([]);
        if (how.endsWith('text/event-stream')) expect(bytes).toBeGreaterThan(0);
        expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled' });
      },
    );

    it('a stream read to the end with a signal leaves no abort listener behind; aborting later changes nothing', async () => {
      const { engine, records } = realEngine({ limits });
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      const ac = new AbortController();
      const tracer = new FakeTracer();
      const { text } = await collect(await safe.stream('Stream a summary', { signal: ac.signal, callbacks: [tracer] }));
      expect(text.startsWith('[summary-a] reply to')).toBe(true);
      await recordsReach(engine, records, 1);
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      ac.abort();
      await awaitAllCallbacks();
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'sum-a' });
      expect(runTree(tracer.runs[0]!).children.map((a) => a.error)).toEqual([undefined]);
      await slotIsFree(safe);
    });
  });
});

describe('streamEvents v1 / streamLog(): the stop handed to the log stays private', () => {
  it('no `__llmr_log_stop` key in the config the wrapped runnable gets, nor in any traced run', async () => {
    const seen: RunnableConfig[] = [];
    const spy = RunnableLambda.from((x: unknown, config?: RunnableConfig) => {
      if (config) seen.push(config);
      return x;
    });
    const chain = (m: string) => spy.pipe(p.chat(m)) as Runnable<string, unknown>;
    const { engine, records } = realEngine();
    const safe = withResilience(chain('summary-a'), { engine, route: 'summary', fallbacks: [chain('summary-long')] });
    const tracer = new FakeTracer();
    for await (const _ of safe.streamEvents('Stream a summary', { version: 'v1', callbacks: [tracer] })); // eslint-disable-line
    for await (const _ of safe.streamLog('Stream a summary', { callbacks: [tracer] })); // eslint-disable-line
    await awaitAllCallbacks();
    await recordsReach(engine, records, 2);
    expect(seen.length).toBeGreaterThan(1);
    for (const c of seen) expect(Object.keys(c)).not.toContain('__llmr_log_stop');
    expect(JSON.stringify(tracer.runs.map((r) => ({ extra: r.extra, inputs: r.inputs })))).not.toContain('__llmr_log_stop');
  });
});
