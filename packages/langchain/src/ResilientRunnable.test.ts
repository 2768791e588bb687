import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import { awaitAllCallbacks } from '@langchain/core/callbacks/promises';
import { AIMessage, AIMessageChunk, HumanMessage, SystemMessage, type BaseMessage } from '@langchain/core/messages';
import { BaseTransformOutputParser, JsonOutputParser, OutputParserException, StringOutputParser, StructuredOutputParser } from '@langchain/core/output_parsers';
import { JsonOutputKeyToolsParser, JsonOutputToolsParser } from '@langchain/core/output_parsers/openai_tools';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { RunnableLambda, RunnableMap, RunnablePassthrough, RunnableRetry, type Runnable, type RunnableConfig } from '@langchain/core/runnables';
import { FakeListChatModel, FakeTracer } from '@langchain/core/utils/testing';
import { ChatOpenAI } from '@langchain/openai';
import {
  ChainExhaustedError,
  createResilience,
  definePolicy,
  estimateInputTokens,
  originalCauseOf,
  RequestFailedError,
  ResilienceError,
  type RequestRecord,
} from '@llm-resilience/core';
import { inspect } from 'node:util';
import { deferred, drive, dropsEverything, httpError, manualEngine, rejection, runTree, ScriptedChatModel, TARGETS } from '../test/support';
import { z } from 'zod';
import { engineInputOf } from './engineInput';
import { InvalidStreamOutputError } from './InvalidStreamOutputError';
import { OutputValidationError } from './OutputValidationError';
import { REPAIR_CONFIG_KEY, repairOf } from './repair';
import { ResilientRunnable } from './ResilientRunnable';
import { ResilientRunnableConfigError } from './ResilientRunnableConfigError';
import { StreamInterruptedError } from './StreamInterruptedError';
import { withResilience } from './withResilience';

/** Collects the custom events (llmr_retry, llmr_fallback, ...) dispatched on the call's run. */
class CustomEvents extends BaseCallbackHandler {
  name = 'custom_events';
  readonly events: Array<{ name: string; data: unknown }> = [];
  constructor() {
    super();
    this.awaitHandlers = true;
  }
  override handleCustomEvent(name: string, data: unknown): void {
    this.events.push({ name, data });
  }
}

const fakeList = (responses: string[]) => new FakeListChatModel({ responses, maxRetries: 0 });
const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('ResilientRunnable.invoke', () => {
  it('returns the first target’s output and settles the real usage from usage_metadata', async () => {
    const { engine, records } = manualEngine();
    const primary = new ScriptedChatModel([{ text: 'a summary', usage: { input: 42, output: 7 } }]);
    const safe = withResilience(primary, { engine, route: 'solo' });
    const out = await safe.invoke([new HumanMessage('Summarize the contract')]);
    expect(out).toBeInstanceOf(AIMessage);
    expect(out.content).toBe('a summary');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      route: 'solo',
      priority: 'live',
      outcome: 'success',
      final_target: 'primary',
      fallback_used: false,
      input_tokens: 42,
      output_tokens: 7,
    });
  });

  it('reserves an input estimate read from the messages (kept when the model reports no usage)', async () => {
    const { engine, records } = manualEngine();
    const messages = [new SystemMessage('You summarize legal documents.'), new HumanMessage('word '.repeat(300))];
    const safe = withResilience(fakeList(['ok']), { engine, route: 'solo', maxOutputTokens: 50 });
    await safe.invoke(messages);
    await safe.invoke([...messages, new HumanMessage('word '.repeat(300))]);
    // 300 words plus the system prompt: at least 300 tokens by any tokenizer; twice as many words, about twice the estimate.
    expect(records[0]!.input_tokens).toBeGreaterThan(300);
    expect(records[0]!.output_tokens).toBe(50);
    expect(records[1]!.input_tokens).toBeGreaterThan(records[0]!.input_tokens + 290);
    expect(estimateInputTokens(engineInputOf(messages)!)).toBeGreaterThan(300);

    const counted = withResilience(fakeList(['ok']), { engine, route: 'solo', estimateInput: () => 1_234 });
    await counted.invoke('anything');
    expect(records[2]!.input_tokens).toBe(1_234);
  });

  it('falls back on 503 after one retry, each attempt a child run, retry and fallback as custom events', async () => {
    const { engine, clock, records } = manualEngine();
    const primary = new ScriptedChatModel([{ error: httpError(503) }]);
    const long = new ScriptedChatModel([{ text: 'from the long-context model', usage: { input: 10, output: 5 } }]);
    const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
    const tracer = new FakeTracer();
    const custom = new CustomEvents();
    const out = await drive(clock, safe.invoke('hi', { callbacks: [tracer, custom] }));
    expect(out.content).toBe('from the long-context model');
    expect(primary.calls).toBe(2);
    expect(records[0]).toMatchObject({ fallback_used: true, retry_count: 1, final_target: 'long' });

    await awaitAllCallbacks();
    expect(tracer.runs).toHaveLength(1);
    const root = runTree(tracer.runs[0]!);
    expect(root.name).toBe('ResilientRunnable');
    expect(root.children.map((c) => c.name)).toEqual(['attempt:primary#1', 'attempt:primary#2', 'attempt:long#3']);
    expect(root.children.map((c) => c.tags)).toEqual([['llmr:attempt'], ['llmr:attempt', 'llmr:retry'], ['llmr:attempt', 'llmr:fallback']]);
    expect(root.children[0]!.error).toContain('HTTP 503');
    expect(root.children[2]!.error).toBeUndefined();
    expect(root.children[2]!.metadata).toMatchObject({
      llmr_target: 'long',
      llmr_model: 'long-model',
      llmr_attempt: 3,
      llmr_target_attempt: 1,
      llmr_fallback: true,
      llmr_route: 'chat',
      llmr_request_id: tracer.runs[0]!.id,
      llmr_engine: expect.stringMatching(/^engine_/),
    });
    // One id per engine instance, on every attempt run (not inherited by the runs below it).
    expect(new Set(root.children.map((c) => c.metadata?.llmr_engine)).size).toBe(1);
    expect(root.children[0]!.children[0]!.metadata?.llmr_engine).toBeUndefined();
    expect(root.children.map((c) => c.children.map((m) => m.name))).toEqual([['ScriptedChatModel'], ['ScriptedChatModel'], ['ScriptedChatModel']]);
    expect(custom.events.map((e) => e.name)).toEqual(['llmr_retry', 'llmr_fallback']);
    expect(custom.events[1]!.data).toMatchObject({ from: 'primary', kind: 'overloaded' });
    // The record is correlated with the LangChain run.
    expect(records[0]!.request_id).toBe(tracer.runs[0]!.id);
  });

  it('honours Retry-After on 429 before retrying the same target', async () => {
    const { engine, clock, records } = manualEngine();
    const primary = new ScriptedChatModel([{ error: httpError(429, { 'retry-after-ms': '2000' }, 'Rate limit reached') }, { text: 'ok' }]);
    const long = new ScriptedChatModel([{ text: 'fallback' }]);
    const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
    const out = await drive(clock, safe.invoke('hi'));
    expect(out.content).toBe('ok');
    expect(long.calls).toBe(0);
    const [first, second] = records[0]!.attempts;
    expect(first).toMatchObject({ errorKind: 'rate_limited', status: 429, retryAfterMs: 2000 });
    expect(second).toMatchObject({ outcome: 'success', waitedMs: 2000 });
    expect(second!.startedAt - first!.startedAt).toBeGreaterThanOrEqual(2000);
  });

  it('does not fall back on errors the route must not fall back on', async () => {
    const { engine } = manualEngine();
    const primary = new ScriptedChatModel([{ error: httpError(400, {}, 'Invalid value for temperature') }]);
    const long = new ScriptedChatModel([{ text: 'fallback' }]);
    const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
    const err = await rejection(safe.invoke('hi'));
    expect(err).toBeInstanceOf(RequestFailedError);
    expect(err).toMatchObject({ kind: 'invalid_request', code: 'ERR_LLMR_NOT_RETRYABLE' });
    expect(long.calls).toBe(0);
  });

  it('opens the breaker after repeated 503s and sends traffic straight to the fallback', async () => {
    const { engine, records } = manualEngine({
      breaker: { consecutiveFailures: 3, minimumCalls: 100 },
      retry: { perKind: { overloaded: 0 } },
    });
    const primary = new ScriptedChatModel([{ error: httpError(503) }]);
    const long = new ScriptedChatModel([{ text: 'fallback' }]);
    const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
    const transitions: string[] = [];
    engine.events.on('breaker', (e) => transitions.push(`${e.key}:${e.to}`));
    for (let i = 0; i < 5; i++) await safe.invoke(`q${i}`);
    expect(primary.calls).toBe(3);
    expect(long.calls).toBe(5);
    expect(transitions).toContain('target:primary:open');
    expect(records[4]!.skipped).toEqual([expect.objectContaining({ target: 'primary', reason: 'breaker_open' })]);
    expect(records[4]!.breakers.primary).toBe('open');
  });

  it('moves traffic to the fallback when our own limit for the model is used up, without calling it', async () => {
    const { engine, records } = manualEngine({ limits: [{ scope: ['model'], metric: 'requests', limit: 2, window: '1m', match: { model: 'primary-model' } }] });
    const primary = new ScriptedChatModel([{ text: 'primary' }]);
    const long = new ScriptedChatModel([{ text: 'long' }]);
    const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
    const outs = [await safe.invoke('1'), await safe.invoke('2'), await safe.invoke('3')];
    expect(outs.map((o) => o.content)).toEqual(['primary', 'primary', 'long']);
    expect(primary.calls).toBe(2);
    expect(records[2]!.skipped).toEqual([expect.objectContaining({ target: 'primary', reason: 'limited' })]);
  });

  it('cancels through the signal: during the backoff wait nothing more is called', async () => {
    const { engine, clock } = manualEngine();
    const primary = new ScriptedChatModel([{ error: httpError(503) }]);
    const long = new ScriptedChatModel([{ text: 'fallback' }]);
    const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
    const ac = new AbortController();
    const p = safe.invoke('hi', { signal: ac.signal });
    p.catch(() => undefined);
    await flush();
    expect(primary.calls).toBe(1);
    expect(clock.pending).toBeGreaterThan(0); // backoff sleeping
    ac.abort();
    const err = await rejection(p);
    expect(err).toBeInstanceOf(Error);
    await clock.advance(10_000);
    expect(primary.calls).toBe(1);
    expect(long.calls).toBe(0);
  });

  it('cancels through the signal: the model call sees the abort, no fallback runs', async () => {
    const { engine, records } = manualEngine();
    const started = deferred();
    let seen: AbortSignal | undefined;
    const slow = RunnableLambda.from(async (_: string, config?: RunnableConfig) => {
      seen = config?.signal;
      started.resolve();
      await new Promise((_r, reject) => config?.signal?.addEventListener('abort', () => reject(config.signal!.reason), { once: true }));
      return 'never';
    });
    const long = RunnableLambda.from(async () => 'fallback');
    const spy = jest.fn();
    const safe = withResilience(slow, { engine, route: 'chat', fallbacks: [long.withListeners({ onStart: spy })] });
    const ac = new AbortController();
    const p = safe.invoke('hi', { signal: ac.signal });
    await started.promise;
    ac.abort(new Error('user left'));
    await rejection(p);
    expect(seen?.aborted).toBe(true);
    expect(spy).not.toHaveBeenCalled();
    await flush();
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled' });
  });

  it('passes the attempt signal, strips `resilience` from the config, and applies identity and per-call overrides', async () => {
    const { engine, records } = manualEngine();
    const configs: RunnableConfig[] = [];
    const echo = RunnableLambda.from(async (input: { document: string }, config?: RunnableConfig) => {
      configs.push(config ?? {});
      return `summary of ${input.document.length} chars`;
    });
    const safe = withResilience(echo, {
      engine,
      route: 'chat',
      identity: (_input, config) => ({ user: String(config.configurable?.userId ?? 'anon'), tenant: 'acme' }),
      dataClass: 'public',
      fallbacks: [echo],
    });
    await safe.invoke({ document: 'abc' }, { configurable: { userId: 'u1' } });
    await safe.invoke({ document: 'abcd' }, { resilience: { identity: { user: 'u2' }, priority: 'batch', requestId: 'req-42' } });
    expect(records[0]).toMatchObject({ user_id: 'u1', tenant_id: 'acme', priority: 'live', data_class: 'public' });
    expect(records[1]).toMatchObject({ user_id: 'u2', priority: 'batch', request_id: 'req-42' });
    expect(records[1]!.tenant_id).toBeUndefined();
    for (const c of configs) {
      expect(c).not.toHaveProperty('resilience');
      expect(c.signal).toBeInstanceOf(AbortSignal);
    }
  });

  it('rejects a call whose `resilience` options are wrong before anything is sent, in invoke, stream and batch', async () => {
    const { engine, records } = manualEngine();
    let calls = 0;
    const echo = RunnableLambda.from(async (input: string) => {
      calls++;
      return input;
    });
    const safe = withResilience(echo, { engine, route: 'chat', fallbacks: [echo] });
    const bad = { resilience: { priorty: 'batch', deadline: '5s' } } as unknown as Parameters<typeof safe.invoke>[1];
    const err = await rejection(safe.invoke('hi', bad));
    expect(err).toBeInstanceOf(ResilientRunnableConfigError);
    expect((err as ResilientRunnableConfigError).problems).toEqual([
      expect.stringMatching(/^resilience\.priorty: unknown call option \(did you mean `priority`\?\); known: identity, priority, /),
      "resilience.deadline: expected an absolute time in epoch ms (a finite number), got '5s'",
    ]);
    expect((err as Error).message).toMatch(/^The call's `resilience` options are invalid \(2 problems\)/);
    const streamed = async () => {
      for await (const _chunk of await safe.stream('hi', { resilience: { identity: { user: 42 } } } as unknown as Parameters<typeof safe.stream>[1])) void _chunk;
    };
    await expect(streamed()).rejects.toThrow('resilience.identity.user: expected a string, got 42');
    const batch = await safe.batch(['a', 'b'], { resilience: { priority: 'vip' } } as Parameters<typeof safe.batch>[1], { returnExceptions: true });
    expect(batch).toEqual([expect.any(ResilientRunnableConfigError), expect.any(ResilientRunnableConfigError)]);
    expect(calls).toBe(0);
    expect(records).toEqual([]);
    // The same options, spelt right, go through.
    await expect(safe.invoke('hi', { resilience: { priority: 'batch', deadline: Date.now() + 60_000 } })).resolves.toBe('hi');
    expect(calls).toBe(1);
  });

  it('rejects a call whose estimateInput returns a token count that is not a finite number >= 0', async () => {
    const { engine, records } = manualEngine();
    const echo = RunnableLambda.from(async (input: string) => input);
    const safe = withResilience(echo, { engine, route: 'chat', fallbacks: [echo], estimateInput: (s: string) => (s === 'ok' ? 3 : Number.NaN) });
    await expect(safe.invoke('ok')).resolves.toBe('ok');
    const err = await rejection(safe.invoke('broken'));
    expect(err).toBeInstanceOf(ResilientRunnableConfigError);
    expect((err as ResilientRunnableConfigError).problems).toEqual(['estimateInput(input): expected a finite number of tokens >= 0, got NaN']);
    expect(records).toHaveLength(1);
  });

  it('reconciles usage of a prompt | model | parser chain whose output is a plain string', async () => {
    const { engine, records } = manualEngine();
    const prompt = ChatPromptTemplate.fromMessages([
      ['system', 'Summarize.'],
      ['human', '{document}'],
    ]);
    const chain = prompt.pipe(new ScriptedChatModel([{ text: 'short', usage: { input: 900, output: 12 } }])).pipe(new StringOutputParser());
    const safe = withResilience(chain, { engine, route: 'solo' });
    expect(await safe.invoke({ document: 'x'.repeat(3_000) })).toBe('short');
    expect(records[0]).toMatchObject({ input_tokens: 900, output_tokens: 12 });
  });
});

describe('ResilientRunnable: usage of model runs in an attempt that fails after them', () => {
  /** A chain step after the model that fails once with a 503 (a reduce step's model call, a tool call...). */
  const failsOnce = (): RunnableLambda<AIMessage, string> => {
    let calls = 0;
    return RunnableLambda.from((m: AIMessage) => {
      calls++;
      if (calls === 1) throw httpError(503);
      return String(m.content);
    });
  };
  /** The cost of one clean attempt whose model reports 1000 tokens in and 500 out. */
  const costOfOneCall = async (): Promise<number> => {
    const { engine, clock, records } = manualEngine();
    const model = new ScriptedChatModel([{ text: 'a summary', usage: { input: 1_000, output: 500 } }]);
    const safe = withResilience(model.pipe(RunnableLambda.from((m: AIMessage) => String(m.content))), { engine, route: 'solo' });
    await drive(clock, safe.invoke('Summarize the contract'));
    return records[0]!.actual_cost!;
  };

  it('is charged (the provider billed it), not refunded: a retried invoke() costs the tokens of both model calls', async () => {
    const oneCall = await costOfOneCall();
    expect(oneCall).toBeGreaterThan(0);
    const { engine, clock, records } = manualEngine();
    const model = new ScriptedChatModel([{ text: 'a summary', usage: { input: 1_000, output: 500 } }]);
    const safe = withResilience(model.pipe(failsOnce()), { engine, route: 'solo' });
    expect(await drive(clock, safe.invoke('Summarize the contract'))).toBe('a summary');
    expect(model.calls).toBe(2);
    expect(records[0]).toMatchObject({ outcome: 'success', retry_count: 1 });
    expect(records[0]!.actual_cost).toBeCloseTo(2 * oneCall, 12);
  });

  it('is charged in stream() too, when the step after the model fails before the first chunk', async () => {
    const oneCall = await costOfOneCall();
    const { engine, clock, records } = manualEngine();
    const model = new ScriptedChatModel([{ text: 'a summary', usage: { input: 1_000, output: 500 } }]);
    const safe = withResilience(model.pipe(failsOnce()), { engine, route: 'solo' });
    const chunks: string[] = [];
    await drive(
      clock,
      (async () => {
        for await (const c of await safe.stream('Summarize the contract')) chunks.push(c);
      })(),
    );
    expect(chunks.join('')).toBe('a summary');
    expect(model.calls).toBe(2);
    await flush();
    expect(records[0]).toMatchObject({ outcome: 'success', retry_count: 1 });
    expect(records[0]!.actual_cost).toBeCloseTo(2 * oneCall, 12);
  });

  it('a failure before any model run ended reports nothing: the reservation is released as for a refused call', async () => {
    const { engine, clock, records } = manualEngine({ retry: { perKind: { overloaded: 0 } } });
    const model = new ScriptedChatModel([{ error: httpError(503) }]);
    const safe = withResilience(model, { engine, route: 'solo' });
    await rejection(drive(clock, safe.invoke('Summarize the contract')));
    expect(records[0]).toMatchObject({ outcome: 'failure', output_tokens: 0 });
    expect(records[0]!.actual_cost ?? 0).toBe(0);
  });
});

describe('ResilientRunnable: a ResilientRunnable nested inside another on one engine', () => {
  /**
   * 85 tokens a minute on the primary model. Every request reserves 10 (input) + 30 (output) = 40
   * tokens; the scripted call uses 3 + 25 = 28. Charged once, a nested call leaves room for a next call
   * (28 + 40 <= 85); charged by both layers, it does not (56 + 40 > 85) and that call falls back.
   */
  const setup = () => {
    const { engine, clock, records } = manualEngine({
      limits: [{ id: 'primary-tpm', scope: ['model'], metric: 'totalTokens', limit: 85, window: '1m', match: { model: 'primary-model' } }],
    });
    const opts = { engine, route: 'chat', maxOutputTokens: 30, estimateInput: () => 10 } as const;
    const model = () => new ScriptedChatModel([{ text: 'a summary', usage: { input: 3, output: 25 } }]);
    const fallback = new ScriptedChatModel([{ text: 'from long', usage: { input: 3, output: 25 } }]);
    const wrap = (r: Runnable) => withResilience(r, { ...opts, fallbacks: [fallback] });
    return { clock, records, model, fallback, wrap };
  };

  it("charges the one model call of the inner one once: the outer request reports no usage for it (its record shows 0 tokens)", async () => {
    const { clock, records, model, fallback, wrap } = setup();
    const m = model();
    const outer = wrap(wrap(m));
    expect((await drive(clock, outer.invoke('hello there'))).content).toBe('a summary');
    expect(m.calls).toBe(1);
    // The inner request settles first, with the call's usage; the outer one settles zero tokens, no cost.
    expect(records.map((r) => [r.final_target, r.input_tokens + r.output_tokens])).toEqual([
      ['primary', 28],
      ['primary', 0],
    ]);
    expect(records[0]!.actual_cost).toBeGreaterThan(0);
    expect(records[1]!.actual_cost ?? 0).toBe(0);
    // The limit holds 28 tokens, not 56: a next call (reserving 40) still fits on the primary model.
    await drive(clock, wrap(model()).invoke('hello again'));
    expect(records.map((r) => r.final_target)).toEqual(['primary', 'primary', 'primary']);
    expect(fallback.calls).toBe(0);
  });

  it('charges it once in stream() too (the chunks of the inner stream carry its usage: not read again)', async () => {
    const { clock, records, model, fallback, wrap } = setup();
    const outer = wrap(wrap(model()));
    const chunks: string[] = [];
    await drive(
      clock,
      (async () => {
        for await (const c of await outer.stream('hello there')) chunks.push(String(c.content));
      })(),
    );
    expect(chunks.join('')).toBe('a summary');
    await flush();
    expect(records.map((r) => [r.final_target, r.input_tokens + r.output_tokens])).toEqual([
      ['primary', 28],
      ['primary', 0],
    ]);
    await drive(clock, wrap(model()).invoke('hello again'));
    expect(records.map((r) => r.final_target)).toEqual(['primary', 'primary', 'primary']);
    expect(fallback.calls).toBe(0);
  });

  it("still charges the outer attempt's own model runs (a model after the nested one), only those", async () => {
    const { clock, records, model, wrap } = setup();
    const own = new ScriptedChatModel([{ text: 'checked', usage: { input: 5, output: 2 } }]);
    const outer = wrap(wrap(model()).pipe(RunnableLambda.from((m: AIMessage) => String(m.content))).pipe(own));
    expect((await drive(clock, outer.invoke('hello there'))).content).toBe('checked');
    expect(records.map((r) => r.input_tokens + r.output_tokens)).toEqual([28, 7]);
  });
});

describe('ResilientRunnable: a ResilientRunnable nested inside another on a different engine', () => {
  /** Each engine: 85 tokens a minute on the primary model; a request reserves 10 + 30, the call uses 3 + 25. */
  const side = () =>
    manualEngine({
      limits: [{ id: 'primary-tpm', scope: ['model'], metric: 'totalTokens', limit: 85, window: '1m', match: { model: 'primary-model' } }],
    });
  const opts = { route: 'chat', maxOutputTokens: 30, estimateInput: () => 10 } as const;
  const spare = () => new ScriptedChatModel([{ text: 'from long', usage: { input: 3, output: 25 } }]);
  const model = () => new ScriptedChatModel([{ text: 'a summary', usage: { input: 3, output: 25 } }]);

  it("charges the model call to both engines, once each: the outer engine's record and limits see its tokens", async () => {
    const outerSide = side();
    const innerSide = side();
    const m = model();
    const inner = withResilience(m, { ...opts, engine: innerSide.engine, fallbacks: [spare()] });
    const outer = withResilience(inner, { ...opts, engine: outerSide.engine, fallbacks: [spare()] });
    expect((await drive(outerSide.clock, outer.invoke('hello there'))).content).toBe('a summary');
    expect(m.calls).toBe(1);
    expect(innerSide.records.map((r) => r.input_tokens + r.output_tokens)).toEqual([28]);
    expect(outerSide.records.map((r) => r.input_tokens + r.output_tokens)).toEqual([28]);
    expect(outerSide.records[0]!.actual_cost).toBeGreaterThan(0);
  });

  it('charges both engines in stream() too', async () => {
    const outerSide = side();
    const innerSide = side();
    const inner = withResilience(model(), { ...opts, engine: innerSide.engine, fallbacks: [spare()] });
    const outer = withResilience(inner, { ...opts, engine: outerSide.engine, fallbacks: [spare()] });
    const chunks: string[] = [];
    await drive(
      outerSide.clock,
      (async () => {
        for await (const c of await outer.stream('hello there')) chunks.push(String(c.content));
      })(),
    );
    expect(chunks.join('')).toBe('a summary');
    await flush();
    expect(innerSide.records.map((r) => r.input_tokens + r.output_tokens)).toEqual([28]);
    expect(outerSide.records.map((r) => r.input_tokens + r.output_tokens)).toEqual([28]);
  });

  it('an engine is charged once when its wrappers sit around one on another engine (A around B around A)', async () => {
    const a = side();
    const b = side();
    const m = model();
    const innerA = withResilience(m, { ...opts, engine: a.engine, fallbacks: [spare()] });
    const middleB = withResilience(innerA, { ...opts, engine: b.engine, fallbacks: [spare()] });
    const outerA = withResilience(middleB, { ...opts, engine: a.engine, fallbacks: [spare()] });
    expect((await drive(a.clock, outerA.invoke('hello there'))).content).toBe('a summary');
    expect(m.calls).toBe(1);
    // Engine A: the inner request charges the call, the outer one reports zero. Engine B: charged once.
    expect(a.records.map((r) => r.input_tokens + r.output_tokens)).toEqual([28, 0]);
    expect(b.records.map((r) => r.input_tokens + r.output_tokens)).toEqual([28]);
  });
});

describe("ResilientRunnable: the caller's RunnableConfig `timeout` is the request's deadline too", () => {
  /** A 429 asking to wait 2 s (on the engine's clock), then an answer; the fallback answers at once. */
  const models = () => ({
    primary: new ScriptedChatModel([{ error: httpError(429, { 'retry-after-ms': '2000' }, 'Rate limit reached') }, { text: 'waited' }]),
    long: new ScriptedChatModel([{ text: 'fallback' }, { text: 'fallback' }]),
  });

  it('a Retry-After longer than the timeout falls back at once (deadline read on the engine clock), in invoke, batch, stream, streamEvents and streamLog, given per call or bound', async () => {
    for (const mode of ['invoke', 'batch', 'stream', 'bound', 'streamEvents', 'streamLog'] as const) {
      // The manual clock never moves: the engine can only fall back at once, or wait until the 1 s timeout aborts the call.
      const { engine, records } = manualEngine();
      const { primary, long } = models();
      const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
      let out: string;
      if (mode === 'invoke') out = String((await safe.invoke('hi', { timeout: 1_000 })).content);
      else if (mode === 'bound') out = String((await safe.withConfig({ timeout: 1_000 }).invoke('hi')).content);
      else if (mode === 'batch') out = String((await safe.batch(['hi'], { timeout: 1_000 }))[0]!.content);
      else if (mode === 'streamEvents') {
        out = '';
        for await (const e of safe.streamEvents('hi', { version: 'v2', timeout: 1_000 })) {
          if (e.event === 'on_chain_stream' && e.name === 'ResilientRunnable') out += String((e.data.chunk as AIMessageChunk).content);
        }
      } else if (mode === 'streamLog') {
        out = '';
        for await (const patch of safe.streamLog('hi', { timeout: 1_000 })) {
          for (const op of patch.ops) if (op.op === 'add' && op.path === '/streamed_output/-') out += String((op.value as AIMessageChunk).content);
        }
      } else {
        out = '';
        for await (const c of await safe.stream('hi', { timeout: 1_000 })) out += String(c.content);
      }
      expect([mode, out]).toEqual([mode, 'fallback']);
      await flush();
      expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'long', fallback_used: true });
      expect(primary.calls).toBe(1);
    }
  });

  it('an earlier `resilience.deadline` still applies; a timeout longer than the hint lets the engine wait and retry', async () => {
    {
      const { engine, records } = manualEngine();
      const { primary, long } = models();
      const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
      const out = await safe.invoke('hi', { timeout: 60_000, resilience: { deadline: engine.clock.now() + 1_000 } });
      expect(out.content).toBe('fallback');
      expect(records[0]).toMatchObject({ fallback_used: true });
    }
    {
      const { engine, clock, records } = manualEngine();
      const { primary, long } = models();
      const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
      const out = await drive(clock, safe.invoke('hi', { timeout: 60_000 }));
      expect(out.content).toBe('waited');
      expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'primary', fallback_used: false, retry_count: 1 });
    }
  });
});

describe('ResilientRunnable: structured output', () => {
  const Intent = z.object({ intent: z.enum(['refund', 'question']) });

  it('validates the route output schema and falls back when the reply does not match', async () => {
    const { engine } = manualEngine({ routes: { chat: { chain: ['primary', 'long'], output: Intent } } });
    const safe = withResilience(fakeList(['Sure! The intent is refund.']), { engine, route: 'chat', fallbacks: [fakeList(['{"intent":"refund"}'])] });
    const r = await safe.invokeWithResult('I want my money back');
    expect(r.target.id).toBe('long');
    expect(r.output).toEqual({ intent: 'refund' });
    expect(r.value.content).toBe('{"intent":"refund"}');
    expect(r.record).toMatchObject({ validation_failures: 1, fallback_used: true });
  });

  it('validates parsed objects (withStructuredOutput results) as JSON', async () => {
    const { engine } = manualEngine({ routes: { chat: { chain: ['primary', 'long'], output: Intent } } });
    const structured = RunnableLambda.from(async () => ({ intent: 'question' as const }));
    const safe = withResilience(structured, { engine, route: 'chat', fallbacks: [structured] });
    const r = await safe.invokeWithResult('how do refunds work?');
    expect(r.value).toEqual({ intent: 'question' });
    expect(r.output).toEqual({ intent: 'question' });
    expect(r.target.id).toBe('primary');
  });

  it('checks the adapter `output` schema on every attempt; a failing reply falls back as validation_failed', async () => {
    const { engine, records } = manualEngine();
    const bad = RunnableLambda.from(async () => ({ intent: 'complaint' }));
    const good = RunnableLambda.from(async () => ({ intent: 'refund' }));
    const safe = withResilience(bad, { engine, route: 'chat', fallbacks: [good], output: Intent });
    const r = await safe.invokeWithResult('x');
    expect(r.output).toEqual({ intent: 'refund' });
    expect(records[0]!.attempts[0]).toMatchObject({ target: 'primary', outcome: 'error', errorKind: 'validation_failed' });

    const never = withResilience(bad, { engine, route: 'chat', fallbacks: [bad], output: Intent });
    const err = await rejection(never.invoke('x'));
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(err).toMatchObject({ kind: 'validation_failed' });
    expect((err as ChainExhaustedError).last?.cause).toBeInstanceOf(OutputValidationError);
  });

  it("a reply the chain's output parser cannot parse follows the route's onInvalidOutput ('fail'), counted as a validation failure", async () => {
    const { engine, records } = manualEngine({ routes: { chat: { chain: ['primary', 'long'], output: Intent, onInvalidOutput: 'fail' } } });
    const model = new ScriptedChatModel([{ text: 'Sure! The intent is refund.', usage: { input: 12, output: 7 } }]);
    const long = new ScriptedChatModel([{ text: '{"intent":"refund"}' }]);
    const parser = StructuredOutputParser.fromZodSchema(Intent);
    const safe = withResilience(model.pipe(parser), { engine, route: 'chat', fallbacks: [long.pipe(parser)] });
    const err = await rejection(safe.invoke('I want my money back'));
    expect(err).toBeInstanceOf(RequestFailedError);
    expect(err).toMatchObject({ code: 'ERR_LLMR_INVALID_OUTPUT', message: expect.stringContaining('not valid JSON') });
    expect(records[0]!.attempts).toEqual([expect.objectContaining({ target: 'primary', outcome: 'invalid_output', errorKind: 'validation_failed' })]);
    expect(records[0]!.validation_failures).toBe(1);
    expect([model.calls, long.calls]).toEqual([1, 0]);
  });

  it("a SyntaxError of JsonOutputParser is an invalid reply too: retry-stricter asks again with the reason", async () => {
    const { engine, records } = manualEngine({ routes: { solo: { chain: ['primary'], output: Intent, onInvalidOutput: 'retry-stricter' } } });
    const model = new ScriptedChatModel([{ text: 'The intent is refund.' }, { text: '{"intent":"refund"}' }]);
    const seen: Array<string | undefined> = [];
    const strict = RunnableLambda.from((input: string, config?: RunnableConfig) => {
      seen.push(repairOf(config)?.reason);
      return input;
    });
    const safe = withResilience(strict.pipe(model).pipe(new JsonOutputParser()), { engine, route: 'solo' });
    const r = await safe.invokeWithResult('I want my money back');
    expect(r.value).toEqual({ intent: 'refund' });
    expect(r.output).toEqual({ intent: 'refund' });
    expect(seen).toEqual([undefined, 'the reply is not valid JSON']);
    expect(records[0]).toMatchObject({ retry_count: 1, validation_failures: 1 });
  });

  it("the route's schema judges the text of a reply the parser rejected: its reason is the schema's", async () => {
    const { engine, records } = manualEngine({ routes: { solo: { chain: ['primary'], output: Intent, onInvalidOutput: 'fail' } } });
    const validation: string[] = [];
    engine.events.on('validation', (e) => validation.push(e.reason));
    const model = new ScriptedChatModel([{ text: '{"intent":"complaint"}' }]);
    const safe = withResilience(model.pipe(StructuredOutputParser.fromZodSchema(Intent)), { engine, route: 'solo' });
    await expect(safe.invoke('x')).rejects.toMatchObject({ code: 'ERR_LLMR_INVALID_OUTPUT' });
    expect(validation).toEqual([expect.stringMatching(/^the reply does not match the schema: intent: /)]);
    expect(records[0]!.validation_failures).toBe(1);

    // A route schema that would accept what the chain's parser rejected still sees an invalid reply.
    const loose = manualEngine({ routes: { solo: { chain: ['primary'], output: z.object({ intent: z.string() }), onInvalidOutput: 'fail' } } });
    const strictParser = withResilience(new ScriptedChatModel([{ text: '{"intent":"complaint"}' }]).pipe(StructuredOutputParser.fromZodSchema(Intent)), {
      engine: loose.engine,
      route: 'solo',
    });
    await expect(strictParser.invoke('x')).rejects.toMatchObject({ code: 'ERR_LLMR_INVALID_OUTPUT', message: expect.stringContaining('not valid JSON') });
  });

  it("an unparsed reply that an engine with its own `text` extractor accepted is thrown as OutputValidationError, its cause as the engine exposes causes (redact)", async () => {
    const secret = 'gwt.7Hq2Lr9Xv4Nc8Zp1';
    const policy = definePolicy({ targets: TARGETS, routes: { solo: { chain: ['primary'], output: Intent } } }, { onWarning: () => undefined });
    // An extractor that does not read the adapter's envelope: the engine sees a valid reply.
    const text = () => '{"intent":"refund"}';
    // The parser's error quotes the reply, and the reply quotes the key.
    const chain = () => new ScriptedChatModel([{ text: `Your key is ${secret}` }]).pipe(StructuredOutputParser.fromZodSchema(Intent));
    const err = await rejection(withResilience(chain(), { engine: createResilience(policy, { text, redact: { secrets: [secret] } }), route: 'solo' }).invoke('x'));
    expect(err).toBeInstanceOf(OutputValidationError);
    expect(originalCauseOf(err)).toBeInstanceOf(OutputParserException);
    expect(inspect(originalCauseOf(err), { depth: Infinity })).toContain(secret);
    expect(inspect(err, { depth: Infinity })).not.toContain(secret);
    const plain = await rejection(withResilience(chain(), { engine: createResilience(policy, { text }), route: 'solo' }).invoke('x'));
    expect((plain as Error).cause).toBeInstanceOf(OutputParserException);
  });

  it('without a route schema, a reply the parser cannot parse is an OutputValidationError: falls back at once, never retried', async () => {
    const { engine, records } = manualEngine();
    const model = new ScriptedChatModel([{ text: 'The intent is refund.' }]);
    const long = new ScriptedChatModel([{ text: '{"intent":"refund"}' }]);
    const safe = withResilience(model.pipe(new JsonOutputParser()), { engine, route: 'chat', fallbacks: [long.pipe(new JsonOutputParser())] });
    const r = await safe.invokeWithResult('x');
    expect(r.value).toEqual({ intent: 'refund' });
    expect(r.target.id).toBe('long');
    expect(records[0]!.attempts.map((a) => a.errorKind ?? a.outcome)).toEqual(['validation_failed', 'success']);
    expect(model.calls).toBe(1);

    const never = withResilience(model.pipe(new JsonOutputParser()), { engine, route: 'solo' });
    const err = await rejection(never.invoke('x'));
    const cause = (err as ChainExhaustedError).last?.cause;
    expect(cause).toBeInstanceOf(OutputValidationError);
    expect(cause).toMatchObject({ reason: 'the reply is not valid JSON', cause: expect.any(SyntaxError) });
  });

  it("a SyntaxError thrown by the chain's own code is a failure of the call (retried as unknown), not an invalid reply", async () => {
    const { engine, clock, records } = manualEngine({ routes: { solo: { chain: ['primary'], output: Intent } } });
    const model = new ScriptedChatModel([{ text: 'The intent is refund.' }]);
    const ownParse = RunnableLambda.from((m: AIMessage) => JSON.parse(String(m.content)) as unknown);
    const safe = withResilience(model.pipe(ownParse), { engine, route: 'solo' });
    const err = await rejection(drive(clock, safe.invoke('x')));
    expect((err as ChainExhaustedError).last?.cause).toBeInstanceOf(SyntaxError);
    expect(records[0]!.attempts.length).toBeGreaterThan(1);
    expect(records[0]!.attempts.every((a) => a.errorKind === 'unknown')).toBe(true);
    expect(records[0]!.validation_failures).toBe(0);
  });
});

describe("ResilientRunnable: an attempt run ends with the engine's verdict on its reply (the route's output schema)", () => {
  const Intent = z.object({ intent: z.enum(['refund', 'question']) });
  const attemptRuns = async (tracer: FakeTracer) => {
    await awaitAllCallbacks();
    return runTree(tracer.runs[0]!).children;
  };

  it("retry-stricter: the rejected attempt's run fails with the validation event's reason, the stricter retry's run succeeds", async () => {
    const { engine } = manualEngine({ routes: { solo: { chain: ['primary'], output: Intent, onInvalidOutput: 'retry-stricter' } } });
    const model = new ScriptedChatModel([{ text: 'The intent is refund.' }, { text: '{"intent":"refund"}' }]);
    const tracer = new FakeTracer();
    const custom = new CustomEvents();
    const r = await withResilience(model, { engine, route: 'solo' }).invokeWithResult('I want my money back', { callbacks: [tracer, custom] });
    expect(r.output).toEqual({ intent: 'refund' });
    const runs = await attemptRuns(tracer);
    expect(runs.map((a) => a.name)).toEqual(['attempt:primary#1', 'attempt:primary#2']);
    const validation = custom.events.find((e) => e.name === 'llmr_validation')!.data as { reason: string; action: string };
    expect(validation.action).toBe('retry-stricter');
    expect(runs[0]!.error).toContain(`OutputValidationError: The reply of 'primary' failed the output schema: ${validation.reason}.`);
    expect(runs[1]!.error).toBeUndefined();
  });

  it("onInvalidOutput 'fail': the attempt's run fails as the request does", async () => {
    const { engine } = manualEngine({ routes: { solo: { chain: ['primary'], output: Intent, onInvalidOutput: 'fail' } } });
    const tracer = new FakeTracer();
    const err = await rejection(withResilience(fakeList(['not json']), { engine, route: 'solo' }).invoke('x', { callbacks: [tracer] }));
    expect(err).toMatchObject({ code: 'ERR_LLMR_INVALID_OUTPUT' });
    const runs = await attemptRuns(tracer);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.error).toContain('OutputValidationError');
  });

  it("batch items: each item's rejected attempt fails, its fallback succeeds", async () => {
    const { engine } = manualEngine({ routes: { chat: { chain: ['primary', 'long'], output: Intent } } });
    const safe = withResilience(fakeList(['nope']), { engine, route: 'chat', fallbacks: [fakeList(['{"intent":"question"}'])] });
    const tracer = new FakeTracer();
    await safe.batch(['a', 'b'], { callbacks: [tracer] });
    await awaitAllCallbacks();
    expect(tracer.runs).toHaveLength(2);
    for (const root of tracer.runs) {
      const runs = runTree(root).children;
      expect(runs.map((a) => [a.name, a.error !== undefined])).toEqual([
        ['attempt:primary#1', true],
        ['attempt:long#2', false],
      ]);
    }
  });

  it('a stream is not validated by the route (its attempt run ends with the stream, a success)', async () => {
    const { engine, records } = manualEngine({ routes: { solo: { chain: ['primary'], output: Intent } } });
    const tracer = new FakeTracer();
    const stream = await withResilience(new ScriptedChatModel([{ text: 'plain text, not JSON' }]), { engine, route: 'solo' }).stream('x', { callbacks: [tracer] });
    let text = '';
    for await (const chunk of stream) text += String(chunk.content);
    expect(text).toBe('plain text, not JSON');
    expect(records[0]).toMatchObject({ outcome: 'success', validation_failures: 0 });
    const runs = await attemptRuns(tracer);
    expect(runs.map((a) => [a.name, a.error])).toEqual([['attempt:primary#1', undefined]]);
  });
});

describe('ResilientRunnable: retry-stricter tells the wrapped runnable why the reply was rejected', () => {
  const Intent = z.object({ intent: z.enum(['refund', 'question']) });

  it('sets configurable.llmr_repair = { reason } on the stricter retry only, keeping the caller’s configurable', async () => {
    const { engine, records } = manualEngine({ routes: { chat: { chain: ['primary', 'long'], output: Intent, onInvalidOutput: 'retry-stricter' } } });
    const seen: Array<Record<string, unknown> | undefined> = [];
    const replies = ['Sure! The intent is refund.', '{"intent":"refund"}'];
    const model = RunnableLambda.from(async (_: string, config?: RunnableConfig) => {
      seen.push(config?.configurable);
      return replies.shift()!;
    });
    const safe = withResilience(model, { engine, route: 'chat', fallbacks: [model] });
    const r = await safe.invokeWithResult('I want my money back', { configurable: { userId: 'u1' } });
    expect(r.output).toEqual({ intent: 'refund' });
    expect(r.target.id).toBe('primary');
    expect(records[0]).toMatchObject({ retry_count: 1, validation_failures: 1 });
    expect(seen).toHaveLength(2);
    expect(seen[0]).not.toHaveProperty(REPAIR_CONFIG_KEY);
    expect(seen[0]).toMatchObject({ userId: 'u1' });
    expect(seen[1]).toMatchObject({ userId: 'u1', [REPAIR_CONFIG_KEY]: { reason: expect.stringMatching(/JSON|schema/) } });
  });

  it('a chain can read it with repairOf() and ask the chat model more strictly', async () => {
    const { engine } = manualEngine({ routes: { solo: { chain: ['primary'], output: Intent, onInvalidOutput: 'retry-stricter' } } });
    const model = new ScriptedChatModel([{ text: 'The intent is refund.' }, { text: '{"intent":"refund"}' }]);
    const strict = RunnableLambda.from((messages: BaseMessage[], config?: RunnableConfig) => {
      const repair = repairOf(config);
      return repair ? [...messages, new SystemMessage(`Your last reply was rejected (${repair.reason}). Answer with one JSON object only.`)] : messages;
    });
    const safe = withResilience(strict.pipe(model), { engine, route: 'solo' });
    const r = await safe.invokeWithResult([new HumanMessage('I want my money back')]);
    expect(r.output).toEqual({ intent: 'refund' });
    expect(model.prompts.map((p) => p.length)).toEqual([1, 2]);
    expect(String(model.prompts[1]![1]!.content)).toMatch(/^Your last reply was rejected \(.+\)\. Answer with one JSON object only\.$/);
  });
});

/**
 * A runnable that takes a few turns of the event loop per input and records the most inputs it ran at
 * once (`peak.max`, cleared by `peak.reset()`).
 */
function concurrencyProbe<T>(result: (n: number) => T) {
  let inFlight = 0;
  const peak = {
    max: 0,
    reset() {
      peak.max = 0;
    },
  };
  const runnable = RunnableLambda.from(async (n: number) => {
    inFlight++;
    peak.max = Math.max(peak.max, inFlight);
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    inFlight--;
    return result(n);
  });
  return { runnable, peak };
}

describe('ResilientRunnable.batch', () => {
  it('runs each input through the engine at batch priority, at most maxConcurrency at once, in order', async () => {
    const { engine, records } = manualEngine();
    const { runnable: work, peak } = concurrencyProbe((n) => n * 10);
    const safe = withResilience(work, { engine, route: 'chat', fallbacks: [work], maxConcurrency: 2 });
    expect(await safe.batch([1, 2, 3, 4, 5])).toEqual([10, 20, 30, 40, 50]);
    expect(peak.max).toBe(2);
    expect(records).toHaveLength(5);
    expect(new Set(records.map((r) => r.priority))).toEqual(new Set(['batch']));

    peak.reset();
    await safe.batch([1, 2, 3, 4], { maxConcurrency: 3 });
    expect(peak.max).toBe(3);
    await safe.batch([1, 2], { resilience: { priority: 'live' } });
    expect(records.slice(-2).map((r) => r.priority)).toEqual(['live', 'live']);
  });

  it('honours maxConcurrency bound with withConfig, as any RunnableBinding does (the call config still wins)', async () => {
    const { engine } = manualEngine();
    const { runnable: work, peak } = concurrencyProbe((n) => n);
    const bound = withResilience(work, { engine, route: 'solo' }).withConfig({ maxConcurrency: 2 });
    expect(await bound.batch([1, 2, 3, 4, 5, 6])).toEqual([1, 2, 3, 4, 5, 6]);
    expect(peak.max).toBe(2);
    peak.reset();
    await bound.batch([1, 2, 3, 4, 5, 6], { maxConcurrency: 3 });
    expect(peak.max).toBe(3);
  });

  it('returns errors in place with returnExceptions, and rejects without it', async () => {
    const { engine } = manualEngine();
    const picky = RunnableLambda.from(async (n: number) => {
      if (n === 2) throw httpError(400, {}, 'bad input');
      return n;
    });
    const safe = withResilience(picky, { engine, route: 'chat', fallbacks: [picky] });
    const out = await safe.batch([1, 2, 3], {}, { returnExceptions: true });
    expect(out[0]).toBe(1);
    expect(out[1]).toBeInstanceOf(RequestFailedError);
    expect(out[2]).toBe(3);
    await expect(safe.batch([1, 2, 3])).rejects.toBeInstanceOf(ResilienceError);
  });

  describe('request ids: one options object names the first item only, as LangChain does with runId', () => {
    it("a call-level resilience.requestId is the first item's id; later items get <id>#<index>", async () => {
      const { engine, records } = manualEngine();
      const work = RunnableLambda.from(async (n: number) => n);
      const safe = withResilience(work, { engine, route: 'chat', fallbacks: [work] });
      expect(await safe.batch([1, 2, 3], { resilience: { requestId: 'job-42' } })).toEqual([1, 2, 3]);
      expect(records.map((r) => r.request_id).sort()).toEqual(['job-42', 'job-42#1', 'job-42#2']);
    });

    it('a requestId bound with withConfig is treated the same way (the other bound resilience options are kept)', async () => {
      const { engine, records } = manualEngine();
      const work = RunnableLambda.from(async (n: number) => n);
      const bound = withResilience(work, { engine, route: 'solo' }).withConfig({ resilience: { requestId: 'job-7', priority: 'live' } } as never);
      await bound.batch([1, 2]);
      expect(records.map((r) => r.request_id).sort()).toEqual(['job-7', 'job-7#1']);
      expect(records.map((r) => r.priority)).toEqual(['live', 'live']);
    });

    it('a list of options keeps each item its own requestId', async () => {
      const { engine, records } = manualEngine();
      const work = RunnableLambda.from(async (n: number) => n);
      const safe = withResilience(work, { engine, route: 'solo' });
      await safe.batch([1, 2, 3], [{ resilience: { requestId: 'a' } }, { resilience: { requestId: 'b' } }, {}]);
      const ids = records.map((r) => r.request_id);
      expect(ids).toEqual(expect.arrayContaining(['a', 'b']));
      expect(new Set(ids).size).toBe(3);
    });

    it('a requestId bound with withConfig is renamed per item with a list of options too; ids the list gives are kept', async () => {
      const { engine, records } = manualEngine();
      const work = RunnableLambda.from(async (n: number) => n);
      const bound = withResilience(work, { engine, route: 'solo' }).withConfig({ resilience: { requestId: 'job-7', priority: 'live' } } as never);
      expect(await bound.batch([1, 2, 3], [{}, {}, {}])).toEqual([1, 2, 3]);
      expect(records.map((r) => r.request_id).sort()).toEqual(['job-7', 'job-7#1', 'job-7#2']);
      expect(records.map((r) => r.priority)).toEqual(['live', 'live', 'live']);
      records.length = 0;
      await bound.batch([1, 2, 3, 4], [{}, { resilience: { requestId: 'own' } }, { resilience: { priority: 'batch' } }, {}]);
      expect(records.map((r) => r.request_id).sort()).toEqual(['job-7', 'job-7#2', 'job-7#3', 'own']);
    });

    it("each item's run gets the engine's events of its own request only", async () => {
      const { engine, clock, records } = manualEngine();
      const failed = new Set<number>();
      // Every input fails once on the primary (a retry), then answers.
      const work = RunnableLambda.from(async (n: number) => {
        if (!failed.has(n)) {
          failed.add(n);
          throw httpError(503, {}, 'overloaded');
        }
        return n;
      });
      const byRun = new Map<string, string[]>();
      const handler = BaseCallbackHandler.fromMethods({
        handleCustomEvent(name: string, _data: unknown, runId: string) {
          byRun.set(runId, [...(byRun.get(runId) ?? []), name]);
        },
      });
      handler.awaitHandlers = true;
      const safe = withResilience(work, { engine, route: 'solo' });
      expect(await drive(clock, safe.batch([1, 2, 3], { callbacks: [handler], resilience: { requestId: 'job-9' } }))).toEqual([1, 2, 3]);
      expect(records.map((r) => r.request_id).sort()).toEqual(['job-9', 'job-9#1', 'job-9#2']);
      expect([...byRun.values()]).toEqual([['llmr_retry'], ['llmr_retry'], ['llmr_retry']]);
    });
  });

  it('queues batch work behind a concurrency limit instead of bursting (no fallback, never over the limit)', async () => {
    const { engine, clock, records } = manualEngine({ limits: [{ scope: ['model'], metric: 'concurrency', limit: 1, match: { model: 'primary-model' } }] });
    const { runnable: primary, peak } = concurrencyProbe((n) => `primary ${n}`);
    const long = RunnableLambda.from(async (n: number) => `long ${n}`);
    const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long], maxConcurrency: 4 });
    const out = await drive(clock, safe.batch([1, 2, 3, 4]));
    expect(out).toEqual(['primary 1', 'primary 2', 'primary 3', 'primary 4']);
    expect(peak.max).toBe(1);
    expect(records.every((r) => r.fallback_used === false)).toBe(true);
  });
});

describe('ResilientRunnable.stream', () => {
  const text = async (stream: AsyncIterable<AIMessageChunk | string>) => {
    let out = '';
    for await (const c of stream) out += typeof c === 'string' ? c : String(c.content);
    return out;
  };
  /** Reads a stream to its end; what it threw, if anything. */
  const readAll = async (stream: Promise<AsyncIterable<unknown>>): Promise<{ chunks: unknown[]; error?: unknown }> => {
    const chunks: unknown[] = [];
    try {
      for await (const c of await stream) chunks.push(c);
      return { chunks };
    } catch (error) {
      return { chunks, error };
    }
  };

  it('streams chunks and settles the usage carried by the final chunk', async () => {
    const { engine, records } = manualEngine();
    const primary = new ScriptedChatModel([{ text: 'one two three four', usage: { input: 31, output: 4 } }]);
    const safe = withResilience(primary, { engine, route: 'solo' });
    const chunks: string[] = [];
    for await (const c of await safe.stream('hi')) chunks.push(String(c.content));
    expect(chunks.join('')).toBe('one two three four');
    expect(chunks.length).toBeGreaterThan(3);
    await flush();
    expect(records[0]).toMatchObject({ outcome: 'success', input_tokens: 31, output_tokens: 4 });
  });

  it('falls back before the first chunk', async () => {
    const { engine, records } = manualEngine({ retry: { perKind: { overloaded: 0 } } });
    const primary = new ScriptedChatModel([{ error: httpError(503) }]);
    const long = new ScriptedChatModel([{ text: 'long context answer' }]);
    const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
    const tracer = new FakeTracer();
    expect(await text(await safe.stream('hi', { callbacks: [tracer] }))).toBe('long context answer');
    await awaitAllCallbacks();
    await flush();
    expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'long', fallback_used: true });
    expect(runTree(tracer.runs[0]!).children.map((c) => c.name)).toEqual(['attempt:primary#1', 'attempt:long#2']);
  });

  it('does not count an empty role chunk as the first chunk: a break right after it still falls back', async () => {
    const { engine } = manualEngine({ retry: { perKind: { network: 0 } } });
    const primary = new ScriptedChatModel([{ text: 'never sent', breakAfter: 0, error: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) }]);
    const long = new ScriptedChatModel([{ text: 'from long' }]);
    const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
    expect(await text(await safe.stream('hi'))).toBe('from long');
  });

  it('a break after the first chunk raises StreamInterruptedError (kind network) and records the failure', async () => {
    const { engine, records } = manualEngine();
    const primary = new ScriptedChatModel([{ text: 'one two three four five', breakAfter: 2, error: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) }]);
    const long = new ScriptedChatModel([{ text: 'from long' }]);
    const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
    const tracer = new FakeTracer();
    const received: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const c of await safe.stream('hi', { callbacks: [tracer] })) received.push(String(c.content));
      })(),
    );
    expect(err).toBeInstanceOf(StreamInterruptedError);
    expect(err).toMatchObject({ kind: 'network', code: 'ERR_LLMR_STREAM_INTERRUPTED', target: 'primary' });
    expect((err as StreamInterruptedError).chunksReceived).toBe(received.length);
    expect(received.join('')).toBe('one two ');
    expect(long.calls).toBe(0);
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'network' });
    await awaitAllCallbacks();
    const attempts = runTree(tracer.runs[0]!).children;
    expect(attempts.map((a) => a.name)).toEqual(['attempt:primary#1']);
    expect(attempts[0]!.error).toContain('broke after 3 chunk(s)');
  });

  it("the provider's code in a broken stream's error is the one the engine recorded: cut by the engine's redact option", async () => {
    const secret = 'acme-tenant-7731';
    // A provider error event that quotes a tenant id the app told the engine to redact.
    const providerError = Object.assign(new Error('You exceeded your current quota, please check your plan and billing details.'), { code: `${secret}_quota` });
    const model = new ScriptedChatModel([{ text: 'one two three four five six', breakAfter: 3, error: providerError }]);
    const policy = definePolicy({ targets: TARGETS, routes: { solo: { chain: ['primary'] } } }, { onWarning: () => undefined });
    const engine = createResilience(policy, { redact: { secrets: [secret] } });
    const records: RequestRecord[] = [];
    engine.events.on('record', (r) => records.push(r));
    const err = (await rejection(
      (async () => {
        for await (const _ of await withResilience(model, { engine, route: 'solo' }).stream('hi')); // eslint-disable-line
      })(),
    )) as StreamInterruptedError;
    expect(err).toBeInstanceOf(StreamInterruptedError);
    expect(err.kind).toBe('quota_exhausted');
    expect(records[0]!.error_code).toBe('[redacted]_quota');
    expect(err.providerCode).toBe('[redacted]_quota');
    expect(err.message).toContain('(quota_exhausted, [redacted]_quota)');
    expect(err.message).not.toContain(secret);
  });

  describe("with the engine's redact option, the cause of a stream's own error is the engine's redacted stand-in; originalCauseOf gives the raw error back", () => {
    const secret = 'gwt.7Hq2Lr9Xv4Nc8Zp1';
    const soloPolicy = () => definePolicy({ targets: TARGETS, routes: { solo: { chain: ['primary'] } } }, { onWarning: () => undefined });
    /** Streams `chain` to its end through an engine whose `redact` names the secret (or one without `redact`); what it threw. */
    async function streamError(chain: ScriptedChatModel | Runnable<string, unknown>, redact: boolean): Promise<StreamInterruptedError> {
      const engine = createResilience(soloPolicy(), redact ? { redact: { secrets: [secret] } } : {});
      return (await readAll(withResilience(chain as Runnable<string, unknown>, { engine, route: 'solo' }).stream('hi'))).error as StreamInterruptedError;
    }

    it.each([
      // The provider's own error event, its body and headers echoing the key (an echoing gateway): kind auth.
      ['an error the provider sent in the stream', () => httpError(401, { 'x-echo-key': secret }, `Incorrect API key provided: ${secret}.`), 'auth'],
      // A transport error that quotes the proxy URL it went through, token included: kind network.
      ['a broken connection', () => Object.assign(new Error(`socket hang up (https://proxy.internal/?token=${secret})`), { code: 'ECONNRESET' }), 'network'],
    ])('%s: StreamInterruptedError', async (_, upstream, kind) => {
      const raw = upstream();
      const model = () => new ScriptedChatModel([{ text: 'one two three four five', breakAfter: 2, error: raw }]);
      const err = await streamError(model(), true);
      expect(err).toBeInstanceOf(StreamInterruptedError);
      expect(err.kind).toBe(kind);
      expect(inspect(raw, { depth: Infinity })).toContain(secret);
      expect(inspect(err, { depth: Infinity })).not.toContain(secret);
      expect(err.cause).not.toBe(raw);
      expect((err.cause as Error).name).toBe(raw.name);
      expect(originalCauseOf(err)).toBe(raw);
      // Without `redact`, the raw error, as before.
      expect((await streamError(model(), false)).cause).toBe(raw);
    });

    it("an output parser's error: InvalidStreamOutputError", async () => {
      const chain = () => new ScriptedChatModel([{ text: '1 2 x 4' }]).pipe(new JsonPerChunkParser());
      const err = await streamError(chain(), true);
      expect(err).toBeInstanceOf(InvalidStreamOutputError);
      expect(err.cause).not.toBeInstanceOf(SyntaxError);
      expect((err.cause as Error).name).toBe('SyntaxError');
      expect(originalCauseOf(err)).toBeInstanceOf(SyntaxError);
      expect((await streamError(chain(), false)).cause).toBeInstanceOf(SyntaxError);
    });

    it("a cancelled stream: its attempt's run (the callbacks: tracers, handlers that log) gets the abort reason as the engine exposes causes", async () => {
      const engine = createResilience(soloPolicy(), { redact: { secrets: [secret] } });
      const attemptErrors: unknown[] = [];
      const handler = BaseCallbackHandler.fromMethods({
        handleChainError(err: unknown, _runId: string, _parentRunId?: string, tags?: string[]) {
          if (tags?.includes('llmr:attempt')) attemptErrors.push(err);
        },
      });
      const safe = withResilience(new ScriptedChatModel([{ text: 'one two three four five six' }]), { engine, route: 'solo' });
      const ac = new AbortController();
      const reason = new Error(`stopped by the operator (${secret})`);
      await rejection(
        (async () => {
          for await (const c of await safe.stream('hi', { signal: ac.signal, callbacks: [handler] })) if (String(c.content) !== '') ac.abort(reason);
        })(),
      );
      await awaitAllCallbacks();
      expect(attemptErrors).toMatchObject([{ code: 'ERR_LLMR_CANCELLED' }]);
      expect(originalCauseOf(attemptErrors[0])).toBe(reason);
      expect(inspect(attemptErrors, { depth: Infinity })).not.toContain(secret);
    });
  });

  it('a stream that yields no content ends cleanly, a success, not a broken stream', async () => {
    const { engine, records } = manualEngine();
    const safe = withResilience(new ScriptedChatModel([{ text: '', usage: { input: 5, output: 0 } }]).pipe(new StringOutputParser()), { engine, route: 'solo' });
    expect(await text(await safe.stream('hi'))).toBe('');
    await flush();
    expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'primary', fallback_used: false });
  });

  describe('a chain whose stream legitimately ends without content after an output parser: a success, as with invoke()', () => {

    it('a last step that returns nothing (a side effect only) after StringOutputParser', async () => {
      const saved: string[] = [];
      const save = RunnableLambda.from(async (summary: string) => {
        saved.push(summary);
        return null;
      });
      const { engine, records } = manualEngine();
      const model = new ScriptedChatModel([{ text: 'A perfectly good summary.', usage: { input: 5, output: 5 } }]);
      const long = new ScriptedChatModel([{ text: 'from long' }]);
      const safe = withResilience(model.pipe(new StringOutputParser()).pipe(save), { engine, route: 'chat', fallbacks: [long.pipe(new StringOutputParser()).pipe(save)] });
      expect(await safe.invoke('hi')).toBeNull();
      expect(await readAll(safe.stream('hi'))).toEqual({ chunks: [null] });
      await flush();
      expect(saved).toEqual(['A perfectly good summary.', 'A perfectly good summary.']);
      expect(records.map((r) => [r.outcome, r.final_target, r.fallback_used])).toEqual([
        ['success', 'primary', false],
        ['success', 'primary', false],
      ]);
      // The streamed reply was billed once, and settled with its usage.
      expect(records[1]).toMatchObject({ input_tokens: 5, output_tokens: 5 });
      expect([model.calls, long.calls]).toEqual([2, 0]);
    });

    it('a filter step (a generator) after StringOutputParser that drops every chunk', async () => {
      const { engine, records } = manualEngine();
      const model = new ScriptedChatModel([{ text: 'blocked words here', usage: { input: 5, output: 3 } }]);
      const long = new ScriptedChatModel([{ text: 'other model' }]);
      const safe = withResilience(model.pipe(new StringOutputParser()).pipe(dropsEverything<string, string>()), {
        engine,
        route: 'chat',
        fallbacks: [long.pipe(new StringOutputParser()).pipe(dropsEverything<string, string>())],
      });
      expect(await readAll(safe.stream('hi'))).toEqual({ chunks: [] });
      await flush();
      expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'primary', fallback_used: false });
      expect([model.calls, long.calls]).toEqual([1, 0]);
    });

    it.each(['null', '""', '{}', '[]', 'false', '0', '"refund"', '```json\nnull\n```'])('JsonOutputParser on the valid JSON reply %j', async (reply) => {
      const { engine, records } = manualEngine();
      const model = new ScriptedChatModel([{ text: reply, usage: { input: 5, output: 1 } }]);
      const long = new ScriptedChatModel([{ text: '{"from":"long"}' }]);
      const safe = withResilience(model.pipe(new JsonOutputParser()), { engine, route: 'chat', fallbacks: [long.pipe(new JsonOutputParser())] });
      const invoked = await safe.invoke('hi');
      const streamed = await readAll(safe.stream('hi'));
      expect(streamed.error).toBeUndefined();
      // What the stream yields adds up to what invoke() returns (nothing at all for null).
      if (invoked !== null) expect(streamed.chunks.at(-1)).toEqual(invoked);
      await flush();
      expect(records.map((r) => [r.outcome, r.final_target])).toEqual([
        ['success', 'primary'],
        ['success', 'primary'],
      ]);
      expect([model.calls, long.calls]).toEqual([2, 0]);
    });

    // The tool-call parsers' invoke() returns an empty result ([] / undefined) for a reply without tool
    // calls, also a reply in prose: no failure, so neither is the stream that yields nothing from it.
    it.each([
      ['JsonOutputKeyToolsParser (returnSingle)', () => new JsonOutputKeyToolsParser({ keyName: 'lookup', returnSingle: true }), undefined],
      ['JsonOutputToolsParser', () => new JsonOutputToolsParser(), []],
    ] as const)('%s given a reply in prose (the model chose not to call a tool)', async (_, parser, empty) => {
      const { engine, records } = manualEngine();
      const model = new ScriptedChatModel([{ text: 'No lookup is needed: the answer is 4.', usage: { input: 5, output: 9 } }]);
      const long = new ScriptedChatModel([{ toolCall: { name: 'lookup', arguments: '{"q":"2+2"}' } }]);
      const safe = withResilience(model.pipe(parser()), { engine, route: 'chat', fallbacks: [long.pipe(parser())] });
      expect(await safe.invoke('what is 2+2?')).toEqual(empty);
      const streamed = await readAll(safe.stream('what is 2+2?'));
      expect(streamed.error).toBeUndefined();
      await flush();
      expect(records.map((r) => r.attempts.map((a) => `${a.target}:${a.errorKind ?? a.outcome}`))).toEqual([['primary:success'], ['primary:success']]);
      // Billed once per call, with the reply's usage.
      expect(records[1]).toMatchObject({ input_tokens: 5, output_tokens: 9 });
      expect([model.calls, long.calls]).toEqual([2, 0]);
    });

    it('a tool call whose arguments are a whole empty object: `{}` is the answer, a success', async () => {
      const { engine, records } = manualEngine();
      const model = new ScriptedChatModel([{ toolCall: { name: 'lookup', arguments: '{}' } }]);
      const long = new ScriptedChatModel([{ toolCall: { name: 'lookup', arguments: '{"q":"long"}' } }]);
      const parser = () => new JsonOutputKeyToolsParser({ keyName: 'lookup', returnSingle: true });
      const safe = withResilience(model.pipe(parser()), { engine, route: 'chat', fallbacks: [long.pipe(parser())] });
      expect(await safe.invoke('hi')).toEqual({});
      expect(await readAll(safe.stream('hi'))).toEqual({ chunks: [{}] });
      await flush();
      expect(records.map((r) => [r.outcome, r.final_target])).toEqual([
        ['success', 'primary'],
        ['success', 'primary'],
      ]);
    });

    it('a tool call cut off before its arguments are JSON is an invalid reply, in stream() as in invoke()', async () => {
      const { engine, records } = manualEngine();
      const model = new ScriptedChatModel([{ toolCall: { name: 'lookup', arguments: '{"q' } }]);
      const long = new ScriptedChatModel([{ toolCall: { name: 'lookup', arguments: '{"q":"long"}' } }]);
      const parser = () => new JsonOutputKeyToolsParser({ keyName: 'lookup', returnSingle: true });
      const safe = withResilience(model.pipe(parser()), { engine, route: 'chat', fallbacks: [long.pipe(parser())] });
      expect(await safe.invoke('hi')).toEqual({ q: 'long' });
      // Streaming, the parser yields `{}` on the call's header and skips the rest: nothing of an answer,
      // so the caller gets the fallback's reply only.
      const streamed = await readAll(safe.stream('hi'));
      expect(streamed.error).toBeUndefined();
      expect(streamed.chunks.at(-1)).toEqual({ q: 'long' });
      await flush();
      expect(records.map((r) => r.attempts.map((a) => `${a.target}:${a.errorKind ?? a.outcome}`))).toEqual([
        ['primary:validation_failed', 'long:success'],
        ['primary:validation_failed', 'long:success'],
      ]);
    });

    it('a reply that is not JSON, given to a JsonOutputParser through a step that passes it on, still falls back', async () => {
      const { engine, records } = manualEngine();
      const model = new ScriptedChatModel([{ text: 'Sure! The intent is refund.', usage: { input: 5, output: 6 } }]);
      const long = new ScriptedChatModel([{ text: '{"intent":"refund"}' }]);
      const passOn = RunnableLambda.from((m: AIMessageChunk) => m);
      const safe = withResilience(model.pipe(passOn).pipe(new JsonOutputParser()), { engine, route: 'chat', fallbacks: [long.pipe(new JsonOutputParser())] });
      expect(await readAll(safe.stream('hi'))).toEqual({ chunks: [{ intent: 'refund' }] });
      await flush();
      expect(records[0]!.attempts.map((a) => a.errorKind ?? a.outcome)).toEqual(['validation_failed', 'success']);
    });
  });

  it("before the first chunk, a reply the chain's parser cannot parse falls back as a validation failure, whatever the route's onInvalidOutput", async () => {
    // The engine does not validate streams, so the route's onInvalidOutput ('fail' here) does not apply:
    // nothing reached the caller yet, and the next target is tried as on a route without a schema.
    const Intent = z.object({ intent: z.enum(['refund', 'question']) });
    const { engine, clock, records } = manualEngine({ routes: { chat: { chain: ['primary', 'long'], output: Intent, onInvalidOutput: 'fail' } } });
    const model = new ScriptedChatModel([{ text: 'Sure! The intent is refund.', usage: { input: 12, output: 7 } }]);
    const long = new ScriptedChatModel([{ text: '{"intent":"refund"}' }]);
    const parser = StructuredOutputParser.fromZodSchema(Intent);
    const safe = withResilience(model.pipe(parser), { engine, route: 'chat', fallbacks: [long.pipe(parser)] });
    const chunks: unknown[] = [];
    await drive(
      clock,
      (async () => {
        for await (const c of await safe.stream('I want my money back')) chunks.push(c);
      })(),
    );
    expect(chunks).toEqual([{ intent: 'refund' }]);
    await flush();
    expect(records[0]!.attempts.map((a) => a.errorKind ?? a.outcome)).toEqual(['validation_failed', 'success']);
    expect([model.calls, long.calls]).toEqual([1, 1]);
  });

  /** Parses each chunk of the reply as one JSON value (empty chunks stay empty strings). */
  class JsonPerChunkParser extends BaseTransformOutputParser<unknown> {
    lc_namespace = ['llm_resilience', 'test'];
    async parse(chunk: string): Promise<unknown> {
      return chunk.trim() === '' ? '' : (JSON.parse(chunk) as unknown);
    }
    getFormatInstructions(): string {
      return '';
    }
  }

  it("after the first chunk, an output parser's SyntaxError ends the stream with InvalidStreamOutputError (validation_failed); the chain's own one stays a broken stream", async () => {
    const { engine, records } = manualEngine({ breaker: { consecutiveFailures: 1, minimumCalls: 100 } });
    const transitions: string[] = [];
    engine.events.on('breaker', (t) => transitions.push(`${t.key}:${t.to}`));
    const long = new ScriptedChatModel([{ text: '7' }]);
    const safe = withResilience(new ScriptedChatModel([{ text: '1 2 x 4', usage: { input: 9, output: 4 } }]).pipe(new JsonPerChunkParser()), {
      engine,
      route: 'chat',
      fallbacks: [long.pipe(new JsonPerChunkParser())],
    });
    const received: unknown[] = [];
    const err = await rejection(
      (async () => {
        for await (const c of await safe.stream('numbers')) received.push(c);
      })(),
    );
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
    expect(err).toMatchObject({ kind: 'validation_failed', code: 'ERR_LLMR_STREAM_INVALID_OUTPUT', target: 'primary', reason: 'the reply is not valid JSON' });
    expect((err as InvalidStreamOutputError).chunksReceived).toBe(received.length);
    expect((err as Error).cause).toBeInstanceOf(SyntaxError);
    expect(received.filter((c) => c !== '')).toEqual([1, 2]);
    await flush();
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'validation_failed' });
    expect(transitions).toEqual([]);
    expect(long.calls).toBe(0);

    // The same SyntaxError from the chain's own code (not a parser run) is a broken stream, as before.
    const ownParse = RunnableLambda.from(async function* (m: AIMessageChunk) {
      for (const word of String(m.content).split(' ')) yield JSON.parse(word) as unknown;
    });
    const own = withResilience(new ScriptedChatModel([{ text: '1 2 x 4' }]).pipe(ownParse), { engine, route: 'chat', fallbacks: [long.pipe(ownParse)] });
    const ownErr = await rejection(
      (async () => {
        for await (const _ of await own.stream('numbers'));
      })(),
    );
    expect(ownErr).toBeInstanceOf(StreamInterruptedError);
    expect(ownErr).not.toBeInstanceOf(InvalidStreamOutputError);
    expect(ownErr).toMatchObject({ kind: 'network' });
  });

  describe('a streamed tool call cut off (max_tokens) after its arguments reached the caller: only the end counts', () => {
    /** The arguments of a `lookup` call cut off part-way: not JSON, though LangChain reads them as partial JSON. */
    const CUT = '{"q":"the weather in Paris tomor';
    /** The reply cut off there by `max_tokens`, as ChatOpenAI reports it (`finish_reason: 'length'`). */
    const cutReply = { toolCall: { name: 'lookup', arguments: CUT }, finishReason: 'length' };
    const lookup = () => new JsonOutputKeyToolsParser({ keyName: 'lookup', returnSingle: true });
    const attemptsOf = (records: RequestRecord[]) => records.map((r) => r.attempts.map((a) => `${a.target}:${a.errorKind ?? a.outcome}`));

    /** An engine whose breakers open at the first failure, its breaker transitions collected. */
    function watchedEngine() {
      const r = manualEngine({ breaker: { consecutiveFailures: 1, minimumCalls: 100 } });
      const transitions: string[] = [];
      r.engine.events.on('breaker', (t) => transitions.push(`${t.key}:${t.to}`));
      return { ...r, transitions };
    }

    it("through a tool-call parser: the partial objects reach the caller, then InvalidStreamOutputError, where invoke() falls back (the parser's invoke() throws)", async () => {
      const { engine, records, transitions } = watchedEngine();
      const model = new ScriptedChatModel([cutReply]);
      const long = new ScriptedChatModel([{ toolCall: { name: 'lookup', arguments: '{"q":"long"}' } }]);
      const safe = withResilience(model.pipe(lookup()), { engine, route: 'chat', fallbacks: [long.pipe(lookup())] });
      expect(await safe.invoke('weather?')).toEqual({ q: 'long' });
      const { chunks, error } = await readAll(safe.stream('weather?'));
      // Arguments arrive as partial JSON by design: the partial objects went out before the end was known.
      expect(chunks.at(-1)).toEqual({ q: 'the weather in Paris tomor' });
      expect(error).toBeInstanceOf(InvalidStreamOutputError);
      expect(error).toMatchObject({
        kind: 'validation_failed',
        code: 'ERR_LLMR_STREAM_INVALID_OUTPUT',
        target: 'primary',
        reason: "the reply's tool call arguments are not valid JSON",
        chunksReceived: chunks.length,
      });
      expect((error as Error).message).not.toContain('Paris');
      await flush();
      // invoke(): an invalid reply, fallen back on. stream(): the same verdict, without a fallback (chunks were out).
      expect(attemptsOf(records)).toEqual([['primary:validation_failed', 'long:success'], ['primary:success']]);
      expect(records[1]).toMatchObject({ outcome: 'failure', error_kind: 'validation_failed', fallback_used: false });
      expect(transitions).toEqual([]);
      expect([model.calls, long.calls]).toEqual([2, 1]);
    });

    it("a chat model's own stream (bindTools): InvalidStreamOutputError, since its chunks add up to a message that lists the cut call among its tool_calls", async () => {
      const { engine, records, transitions } = watchedEngine();
      const model = new ScriptedChatModel([cutReply]);
      const safe = withResilience(model, { engine, route: 'solo' });
      // invoke() hands the cut call back under invalid_tool_calls, never as a tool call to run.
      const whole = (await safe.invoke('weather?')) as AIMessage;
      expect(whole.tool_calls).toEqual([]);
      expect(whole.invalid_tool_calls).toMatchObject([{ name: 'lookup', args: CUT }]);
      expect(whole.response_metadata.finish_reason).toBe('length');
      const { chunks, error } = await readAll(safe.stream('weather?'));
      // What the caller would otherwise have run: the cut call, its partial arguments read as a whole tool call.
      const added = (chunks as AIMessageChunk[]).reduce((a, c) => a.concat(c));
      expect(added.tool_calls).toMatchObject([{ name: 'lookup', args: { q: 'the weather in Paris tomor' } }]);
      expect(added.response_metadata.finish_reason).toBe('length');
      expect(error).toBeInstanceOf(InvalidStreamOutputError);
      expect(error).toMatchObject({ kind: 'validation_failed', reason: "the reply's tool call arguments are not valid JSON", chunksReceived: chunks.length });
      await flush();
      expect(records[1]).toMatchObject({ outcome: 'failure', error_kind: 'validation_failed' });
      expect(transitions).toEqual([]);
    });

    it.each([
      ['a chat model\'s own stream', (m: ScriptedChatModel) => m],
      ['through a tool-call parser', (m: ScriptedChatModel) => m.pipe(lookup())],
    ])('whole tool calls, their arguments in many pieces, stream as before: a success (%s)', async (_, chain) => {
      const { engine, records } = manualEngine();
      const args = '{"q":"the weather in Paris tomorrow","units":["metric"]}';
      const safe = withResilience(chain(new ScriptedChatModel([{ toolCall: { name: 'lookup', arguments: args }, pieceChars: 3 }])), { engine, route: 'solo' });
      const { chunks, error } = await readAll(safe.stream('weather?'));
      expect(error).toBeUndefined();
      const last = chunks.at(-1);
      const answer = last instanceof AIMessageChunk ? (chunks as AIMessageChunk[]).reduce((a, c) => a.concat(c)).tool_calls?.[0]?.args : last;
      expect(answer).toEqual(JSON.parse(args));
      await flush();
      expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'primary' });
    });

    it('a tool call without arguments (a tool with no parameters) is whole', async () => {
      const { engine, records } = manualEngine();
      const safe = withResilience(new ScriptedChatModel([{ toolCall: { name: 'now', arguments: '' }, finishReason: 'length' }]), { engine, route: 'solo' });
      expect((await readAll(safe.stream('time?'))).error).toBeUndefined();
      await flush();
      expect(records[0]).toMatchObject({ outcome: 'success' });
    });

    it("incomplete arguments the provider does not say were cut off: a chat model's own stream is a success, as LangChain judges it; a tool-call parser's stream fails as its invoke() does", async () => {
      const { engine, records } = manualEngine();
      const unsaid = { toolCall: { name: 'lookup', arguments: CUT } };
      // No finish_reason, stop_reason, status...: nothing says the reply was cut off, so nothing is judged.
      const own = await readAll(withResilience(new ScriptedChatModel([unsaid]), { engine, route: 'solo' }).stream('weather?'));
      expect(own.error).toBeUndefined();
      expect((own.chunks as AIMessageChunk[]).reduce((a, c) => a.concat(c)).tool_calls).toMatchObject([{ name: 'lookup', args: { q: 'the weather in Paris tomor' } }]);
      // A tool-call parser's invoke() throws for it whatever the provider said: its stream ends the same way.
      const parsed = await readAll(withResilience(new ScriptedChatModel([unsaid]).pipe(lookup()), { engine, route: 'solo' }).stream('weather?'));
      expect(parsed.error).toBeInstanceOf(InvalidStreamOutputError);
      await flush();
      expect(records.map((r) => r.outcome)).toEqual(['success', 'failure']);
    });

    // Models without strict JSON decoding write a raw newline inside a string (a `code` argument); LangChain
    // reads such arguments as a whole tool call, streamed or not. Nothing was cut.
    const LENIENT = '{"language":"python","code":"print(1)\nprint(2)"}';

    it.each([
      ['the provider says nothing of a cut', undefined],
      ["the provider said the reply was cut off, right after the call's last brace", 'length'],
    ])("whole arguments with a raw newline inside a string, in a chat model's own stream, are a success (%s)", async (_, finishReason) => {
      const step = { toolCall: { name: 'run_code', arguments: LENIENT }, pieceChars: 5, ...(finishReason !== undefined ? { finishReason } : {}) };
      const bare: AIMessageChunk[] = [];
      for await (const c of await new ScriptedChatModel([step]).stream('run it')) bare.push(c);
      const added = bare.reduce((a, c) => a.concat(c));
      expect(added.tool_calls).toMatchObject([{ name: 'run_code', args: { language: 'python', code: 'print(1)\nprint(2)' } }]);
      expect(added.invalid_tool_calls).toEqual([]);
      const { engine, records } = manualEngine();
      const { chunks, error } = await readAll(withResilience(new ScriptedChatModel([step]), { engine, route: 'solo' }).stream('run it'));
      expect(error).toBeUndefined();
      expect(chunks).toHaveLength(bare.length);
      await flush();
      expect(records[0]).toMatchObject({ outcome: 'success' });
    });
  });

  it('a JsonOutputParser that yields only `[]` from a tag the chain extracts from the reply, beside a branch that streams the reply: a success, in stream() as in invoke()', async () => {
    // The JSON parsers' rule judges the last model reply's text (here prose with a tag in it), not what the
    // parser was given: it holds only for a stream that yielded nothing, never at the end of one with content.
    const reply = 'No open tickets match your query. <data>[]</data>';
    const chain = (model: ScriptedChatModel) =>
      model.pipe(
        RunnableMap.from({
          message: new RunnablePassthrough<AIMessageChunk>(),
          data: RunnableLambda.from((m: AIMessageChunk) => /<data>(.*)<\/data>/s.exec(String(m.content))?.[1] ?? '').pipe(new JsonOutputParser()),
        }),
      );
    const { engine, records } = manualEngine();
    const long = new ScriptedChatModel([{ text: 'from long <data>[1]</data>' }]);
    const safe = withResilience(chain(new ScriptedChatModel([{ text: reply }])), { engine, route: 'chat', fallbacks: [chain(long)] });
    expect(await safe.invoke('open tickets?')).toMatchObject({ data: [] });
    const { chunks, error } = await readAll(safe.stream('open tickets?'));
    expect(error).toBeUndefined();
    expect(chunks).toContainEqual({ data: [] });
    expect(chunks.filter((c) => (c as { message?: unknown }).message !== undefined).length).toBeGreaterThan(1);
    await flush();
    expect(records.map((r) => [r.outcome, r.final_target])).toEqual([
      ['success', 'primary'],
      ['success', 'primary'],
    ]);
    expect(long.calls).toBe(0);
  });

  it('settles the request when the caller stops reading early', async () => {
    const { engine, records } = manualEngine();
    const primary = new ScriptedChatModel([{ text: 'one two three four five' }]);
    const safe = withResilience(primary, { engine, route: 'solo' });
    for await (const c of await safe.stream('hi')) {
      if (String(c.content) !== '') break;
    }
    await flush();
    expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'primary' });
  });

  it('a caller that stops reading early settles at least the reserved output, even when usage came in the first chunk', async () => {
    const { engine, records } = manualEngine();
    const anthropicLike = () => new ScriptedChatModel([{ text: 'one two three four five six seven eight', usage: { input: 500, output: 8 }, usageAt: 'start' }]);
    const safe = withResilience(anthropicLike(), { engine, route: 'solo', maxOutputTokens: 400 });
    let n = 0;
    for await (const c of await safe.stream('hi')) if (String(c.content) !== '' && ++n === 3) break;
    await flush();
    // Usage seen so far says output 1; the provider bills until the connection closes: the reserved 400 stay charged.
    expect(records[0]).toMatchObject({ outcome: 'success', input_tokens: 500, output_tokens: 400 });

    // Read to the end, the same model's reported usage is settled as is.
    const full = withResilience(anthropicLike(), { engine, route: 'solo', maxOutputTokens: 400 });
    expect(await text(await full.stream('hi'))).toBe('one two three four five six seven eight');
    await flush();
    expect(records[1]).toMatchObject({ outcome: 'success', input_tokens: 500, output_tokens: 8 });
  });

  it('a cancellation mid-stream ends with the abort, not a StreamInterruptedError', async () => {
    const { engine, records } = manualEngine();
    const primary = new ScriptedChatModel([{ text: 'one two three four five six' }]);
    const safe = withResilience(primary, { engine, route: 'solo' });
    const ac = new AbortController();
    const err = await rejection(
      (async () => {
        for await (const c of await safe.stream('hi', { signal: ac.signal })) if (String(c.content) !== '') ac.abort();
      })(),
    );
    expect(err).not.toBeInstanceOf(StreamInterruptedError);
    await flush();
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled' });
  });

  it('goes through the engine when piped (transform) and in streamEvents, with fallback events', async () => {
    const { engine, records } = manualEngine({ retry: { perKind: { overloaded: 0 } } });
    const primary = new ScriptedChatModel([{ error: httpError(503) }]);
    const long = new ScriptedChatModel([{ text: 'piped answer' }]);
    const safe = withResilience(primary, { engine, route: 'chat', fallbacks: [long] });
    const prompt = ChatPromptTemplate.fromMessages([['human', '{question}']]);
    const chain = prompt.pipe(safe).pipe(new StringOutputParser());
    expect(await text(await chain.stream({ question: 'q' }))).toBe('piped answer');
    await flush();
    expect(records).toHaveLength(1);

    const names: string[] = [];
    for await (const e of safe.streamEvents('q2', { version: 'v2' })) {
      names.push(e.event === 'on_custom_event' ? `${e.event}:${e.name}` : e.event);
    }
    expect(names).toContain('on_custom_event:llmr_fallback');
    expect(names.filter((n) => n === 'on_chat_model_stream').length).toBeGreaterThan(0);
    await flush();
    expect(records).toHaveLength(2);
  });
});

describe('ResilientRunnable: Runnable contract', () => {
  it('has its own lc_name and name, and is not serializable (it holds an engine)', () => {
    const { engine } = manualEngine();
    const safe = withResilience(fakeList(['x']), { engine, route: 'solo' });
    expect(ResilientRunnable.lc_name()).toBe('ResilientRunnable');
    expect(safe.getName()).toBe('ResilientRunnable');
    expect(withResilience(fakeList(['x']), { engine, route: 'solo', name: 'summary' }).getName('Input')).toBe('summaryInput');
    expect(safe.toJSON()).toMatchObject({ type: 'not_implemented' });
    expect(safe).toBeInstanceOf(ResilientRunnable);
  });

  it('withConfig keeps the policy; withRetry and withListeners wrap the resilient call', async () => {
    const { engine, records } = manualEngine();
    const safe = withResilience(fakeList(['x']), { engine, route: 'solo', identity: { user: 'u1' } });
    const tagged = safe.withConfig({ tags: ['t1'] });
    expect(tagged).toBeInstanceOf(ResilientRunnable);
    const tracer = new FakeTracer();
    await tagged.invoke('hi', { callbacks: [tracer] });
    await awaitAllCallbacks();
    expect(records[0]!.user_id).toBe('u1');
    expect(tracer.runs[0]!.tags).toContain('t1');

    const retried = safe.withRetry({ stopAfterAttempt: 2 });
    expect(retried).toBeInstanceOf(RunnableRetry);
    expect((retried as RunnableRetry).bound).toBe(safe);

    const ends: string[] = [];
    await safe.withListeners({ onEnd: (run) => void ends.push(run.name) }).invoke('hi');
    expect(ends).toEqual(['ResilientRunnable']);
    expect(records).toHaveLength(2);
  });

  it('calls a targets factory once, also across withConfig() copies (per-request tags, metadata)', async () => {
    const { engine, clock, records } = manualEngine({ retry: { perKind: { auth: 0 } } });
    const primary = new ScriptedChatModel([{ error: httpError(401) }]);
    let built = 0;
    const safe = withResilience(primary, {
      engine,
      route: 'chat',
      targets: { long: () => (built++, new ScriptedChatModel([{ text: 'from long' }])) },
    });
    await drive(clock, safe.withConfig({ metadata: { user: 'u1' } }).invoke('one'));
    await drive(clock, safe.withConfig({ metadata: { user: 'u2' } }).withConfig({ tags: ['t'] }).invoke('two'));
    await drive(clock, safe.invoke('three'));
    expect(records.map((r) => r.final_target)).toEqual(['long', 'long', 'long']);
    expect(built).toBe(1);
  });

  it('fails at construction on options that cannot work, listing every problem', () => {
    const { engine } = manualEngine();
    const m = fakeList(['x']);
    const err = (() => {
      try {
        withResilience(m, { engine, route: 'nope', maxConcurrency: 0 });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ResilientRunnableConfigError);
    expect(err).toMatchObject({ code: 'ERR_LLMR_LANGCHAIN_CONFIG', kind: 'invalid_request' });
    expect((err as ResilientRunnableConfigError).problems).toEqual([
      'maxConcurrency: expected a whole number >= 1 (or Infinity), got 0',
      expect.stringContaining("route 'nope' is not in the policy"),
    ]);
    expect(() => withResilience(m, { engine, route: 'chat', fallbacks: [m, m] })).toThrow(/only 1 fallback target/);
    expect(() => withResilience(m, { engine: undefined as never, route: 'chat' })).toThrow(
      /engine: expected a Resilience engine \(the result of createResilience\(policy\)\), got undefined/,
    );
    expect(() => withResilience(m, { engine, route: 'toString' })).toThrow(/route 'toString' is not in the policy/);
  });

  it('fails at construction when the required route is left out, naming the routes of the policy', () => {
    const { engine } = manualEngine();
    const m = fakeList(['x']);
    // A JS caller, or a config spread without `route`: refused here, not at the first invoke().
    expect(() => withResilience(m, { engine } as never)).toThrow(ResilientRunnableConfigError);
    expect(() => withResilience(m, { engine } as never)).toThrow("route: required (one of 'chat', 'solo')");
  });

  it('refuses invalid option values and unknown keys at creation, naming each option and what it expects', () => {
    const { engine } = manualEngine();
    const m = fakeList(['x']);
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const err = (() => {
        try {
          withResilience(new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test-key' }), {
            engine,
            route: 'chat',
            priority: 'vip',
            audience: 'everyone',
            maxOutputTokens: -5,
            identity: 'bob',
            output: {},
            maxConcurrency: 2.5,
            innerRetries: 'fail',
            fallback: [m],
          } as never);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(ResilientRunnableConfigError);
      expect(err).toMatchObject({ code: 'ERR_LLMR_LANGCHAIN_CONFIG', kind: 'invalid_request' });
      const problems = (err as ResilientRunnableConfigError).problems;
      expect(problems.map((p) => p.slice(0, p.indexOf(':')))).toEqual([
        'fallback',
        'identity',
        'priority',
        'output',
        'maxOutputTokens',
        'audience',
        'maxConcurrency',
        'innerRetries',
        'target \'long\' (chain[1] of route \'chat\') has no runnable',
      ]);
      expect((err as Error).message).toContain("priority: expected a traffic class of the policy (one of 'live', 'batch', 'experiment'), got 'vip'");
      expect((err as Error).message).toContain('fallback: unknown option (did you mean `fallbacks`?)');
      // An invalid `innerRetries` is not taken for 'warn': the model is not even looked at.
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
    expect(() => withResilience(m, { engine, route: 'solo', maxOutputTokens: Number.NaN })).toThrow(/maxOutputTokens: expected a finite number/);
    expect(() => new ResilientRunnable({ bound: m, engine, route: 'solo', batchPriority: 'bulk' })).toThrow(/batchPriority: expected a traffic class/);
  });

  it('keeps valid options as they are, on the runnable and on copies with more config', () => {
    const { engine } = manualEngine({ trafficClasses: { nightly: { priority: 5 } } });
    const m = fakeList(['x']);
    const options = { engine, route: 'solo', priority: 'live', batchPriority: 'nightly', maxConcurrency: Infinity, maxOutputTokens: 0, name: 'Summary' };
    const safe = withResilience(m, options);
    expect(safe.resilience).toEqual(options);
    expect(safe.withConfig({ tags: ['x'] }).resilience).toEqual(options);
    expect(safe.getName()).toBe('Summary');
  });

  it('warns once per model (and source of retries) that retries on its own, or refuses it with innerRetries: "error"', () => {
    const { engine } = manualEngine();
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const model = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test-key' });
      withResilience(model, { engine, route: 'solo' });
      withResilience(model, { engine, route: 'solo' });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]![0]).toContain('maxRetries 6');
      expect(warn.mock.calls[0]![1]).toMatchObject({ code: 'LLMR_INNER_RETRIES' });
      withResilience(new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test-key' }), { engine, route: 'solo', innerRetries: 'ignore' });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(() => withResilience(model, { engine, route: 'solo', innerRetries: 'error' })).toThrow(/Build it with `maxRetries: 0`/);

      // LangChain's own withRetry() inside the wrapped runnable retries below the engine too.
      const retried = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test-key', maxRetries: 0 }).withRetry({ stopAfterAttempt: 4 });
      expect(() => withResilience(retried, { engine, route: 'solo', innerRetries: 'error' })).toThrow(/withRetry\(\) around ChatOpenAI \(stopAfterAttempt 4\).*Remove the withRetry\(\)/);
      withResilience(retried, { engine, route: 'solo' });
      expect(warn).toHaveBeenCalledTimes(2);
      expect(warn.mock.calls[1]![1]).toMatchObject({ code: 'LLMR_INNER_RETRIES' });
      const once = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test-key', maxRetries: 0 }).withRetry({ stopAfterAttempt: 1 });
      expect(() => withResilience(once, { engine, route: 'solo', innerRetries: 'error' })).not.toThrow();

      // The openai SDK's own retries (ChatOpenAI `configuration: { maxRetries }`): warned about once, besides the model's own.
      const sdk = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test-key', maxRetries: 1, configuration: { maxRetries: 2 } });
      withResilience(sdk, { engine, route: 'solo' });
      withResilience(sdk, { engine, route: 'solo' });
      expect(warn).toHaveBeenCalledTimes(4);
      expect(warn.mock.calls.slice(2).map((c) => c[0])).toEqual([expect.stringContaining('(maxRetries 1)'), expect.stringContaining('SDK client retries each request itself (maxRetries 2')]);
      expect(warn.mock.calls[3]![1]).toMatchObject({ code: 'LLMR_INNER_RETRIES' });
      const sdkOnly = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test-key', maxRetries: 0, configuration: { maxRetries: 2 } });
      expect(() => withResilience(sdkOnly, { engine, route: 'solo', innerRetries: 'error' })).toThrow(/Build it with `configuration: \{ maxRetries: 0 \}`/);
    } finally {
      warn.mockRestore();
    }
  });

  it('checks runnables built by `targets` factories for inner retries when they are built', async () => {
    const { engine } = manualEngine();
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const refused = new ScriptedChatModel([{ text: 'never' }]);
      const strict = withResilience(fakeList(['unused']), { engine, route: 'solo', targets: { primary: () => refused.withRetry({ stopAfterAttempt: 3 }) }, innerRetries: 'error' });
      const err = await rejection(strict.invoke('hi'));
      const causes: unknown[] = [];
      for (let e: unknown = err; e instanceof Error && causes.length < 5; e = e.cause) causes.push(e);
      expect(causes.some((c) => c instanceof ResilientRunnableConfigError && /withRetry\(\) around ScriptedChatModel \(stopAfterAttempt 3\)/.test(c.message))).toBe(true);
      expect(refused.calls).toBe(0);

      const warned = new ScriptedChatModel([{ text: 'answered' }]);
      const lenient = withResilience(fakeList(['unused']), { engine, route: 'solo', targets: { primary: () => warned.withRetry({ stopAfterAttempt: 2 }) } });
      expect(warn).not.toHaveBeenCalled();
      expect((await lenient.invoke('hi')).content).toBe('answered');
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]![1]).toMatchObject({ code: 'LLMR_INNER_RETRIES' });
    } finally {
      warn.mockRestore();
    }
  });

  it('works on messages typed as BaseMessage[] end to end', async () => {
    const { engine } = manualEngine();
    const safe = withResilience(fakeList(['hello']), { engine, route: 'solo' });
    const input: BaseMessage[] = [new HumanMessage('hi')];
    expect((await safe.invoke(input)).content).toBe('hello');
  });
});
