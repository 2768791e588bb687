/**
 * ChatOpenAI (from @langchain/openai) wrapped with withResilience, talking to the fake provider over
 * real HTTP: the provider's limits, Retry-After headers and faults are real; nothing of ours is mocked.
 */
import { awaitAllCallbacks } from '@langchain/core/callbacks/promises';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import type { Runnable } from '@langchain/core/runnables';
import { FakeTracer } from '@langchain/core/utils/testing';
import { ChainExhaustedError, RequestFailedError } from '@llm-resilience/core';
import { estimateTokens, replyTag, type FaultRule } from '@llm-resilience/testing';
import { withResilience } from '../src';
import { rejection, runTree } from './support';
import { realEngine, recordsReach, startProvider, type Provider } from './fakeProvider';
import { z } from 'zod';

let p: Provider;


beforeAll(async () => {
  p = await startProvider({
    models: {
      'summary-a': { contextWindow: 2_000, replyTokens: 24 },
      'summary-long': { contextWindow: 100_000, replyTokens: 24 },
    },
  });
});
afterAll(() => p.fake.stop());
beforeEach(() => {
  p.fake.setFaults([]);
  p.fake.reset();
});

const withFaults = (faults: FaultRule[]) => p.fake.setFaults(faults);

describe('withResilience(ChatOpenAI) against the fake provider', () => {
  it("runs on one copy of @langchain/core (1.4; 1.0 in the root jest config's 'langchain 1.0' project), the one ChatOpenAI uses", () => {
    const { BaseChatModel } = require('@langchain/core/language_models/chat_models') as typeof import('@langchain/core/language_models/chat_models');
    expect(p.chat('summary-a')).toBeInstanceOf(BaseChatModel);
    const { version } = require('@langchain/core/package.json') as { version: string };
    expect(['1.0', '1.4']).toContain(version.split('.').slice(0, 2).join('.'));
  });

  it('invokes the first target and settles the usage the provider reported', async () => {
    const { engine, records } = realEngine();
    const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
    const out = await safe.invoke('What is a token bucket?');
    expect(String(out.content).startsWith(replyTag('summary-a', 'What is a token bucket?'))).toBe(true);
    const c = p.fake.counters;
    expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'sum-a', input_tokens: c.tokensIn, output_tokens: c.tokensOut });
    expect(c.tokensIn).toBe(estimateTokens('What is a token bucket?'));
  });

  it('honours Retry-After on a 429: waits the hinted 50 ms, retries the same model, no fallback', async () => {
    withFaults([{ model: 'summary-a', kind: 'rate_limit', retryAfterSeconds: 0.05, count: 1 }]);
    const { engine, records } = realEngine();
    const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
    const out = await safe.invoke('hello');
    expect(String(out.content)).toContain('[summary-a]');
    const [first, second] = records[0]!.attempts;
    expect(first).toMatchObject({ errorKind: 'rate_limited', status: 429, retryAfterMs: 50 });
    expect(second).toMatchObject({ target: 'sum-a', outcome: 'success', waitedMs: 50 });
    expect(second!.startedAt - (first!.startedAt + first!.latencyMs)).toBeGreaterThanOrEqual(49);
    expect(p.fake.counters.responsesByStatus).toEqual({ '429': 1, '200': 1 });
    expect(p.fake.counters.requestsByModel['summary-long']).toBeUndefined();
  });

  describe('with a provider limit of 2 requests per minute on the first model', () => {
    let limited: Provider;
    beforeEach(async () => {
      limited = await startProvider({
        models: { 'summary-a': { contextWindow: 2_000, limits: { rpm: 2 } }, 'summary-long': { contextWindow: 100_000 } },
      });
    });
    afterEach(() => limited.fake.stop());

    it("falls back when the provider's 429 carries a hint longer than the route waits", async () => {
      const { engine, records } = realEngine();
      const safe = withResilience(limited.chat('summary-a'), { engine, route: 'summary', fallbacks: [limited.chat('summary-long')] });
      const outs = [await safe.invoke('1'), await safe.invoke('2'), await safe.invoke('3')];
      expect(outs.map((o) => String(o.content).slice(0, 14))).toEqual(['[summary-a] re', '[summary-a] re', '[summary-long]']);
      expect(records[2]!.attempts[0]).toMatchObject({ errorKind: 'rate_limited', status: 429 });
      expect(records[2]!.attempts[0]!.retryAfterMs).toBeGreaterThan(5_000); // the rest of the provider's minute
      expect(limited.fake.counters.rateLimited).toBe(1);
    });

    it('with limits mirroring the provider, the engine moves traffic before the provider says 429', async () => {
      const { engine, records } = realEngine({
        limits: [{ scope: ['model'], metric: 'requests', limit: 2, window: '1m', match: { model: 'summary-a' } }],
      });
      const safe = withResilience(limited.chat('summary-a'), { engine, route: 'summary', fallbacks: [limited.chat('summary-long')] });
      for (let i = 0; i < 4; i++) await safe.invoke(`q${i}`);
      expect(limited.fake.counters.requestsByModel).toEqual({ 'summary-a': 2, 'summary-long': 2 });
      expect(limited.fake.counters.rateLimited).toBe(0);
      expect(records[3]!.skipped).toEqual([expect.objectContaining({ target: 'sum-a', reason: 'limited' })]);
    });
  });

  it('opens the breaker after repeated 503s: the provider stops seeing traffic for the broken model', async () => {
    withFaults([{ model: 'summary-a', kind: 'overloaded_503' }]);
    const { engine, records } = realEngine({ breaker: { consecutiveFailures: 3, minimumCalls: 100 }, retry: { perKind: { overloaded: 0 } } });
    const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
    for (let i = 0; i < 6; i++) expect(String((await safe.invoke(`q${i}`)).content)).toContain('[summary-long]');
    expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 3, 'summary-long': 6 });
    expect(records[5]!.skipped).toEqual([expect.objectContaining({ target: 'sum-a', reason: 'breaker_open' })]);
  });

  it('falls back to the long-context model when the prompt is too long for the first one', async () => {
    const { engine, records } = realEngine();
    const prompt = ChatPromptTemplate.fromMessages([
      ['system', 'Summarize the document in three bullet points.'],
      ['human', '{document}'],
    ]);
    const document = 'The parties agree as follows. '.repeat(400); // ~3 000 tokens > 2 000
    const safe = withResilience(prompt.pipe(p.chat('summary-a')), {
      engine,
      route: 'summary',
      fallbacks: [prompt.pipe(p.chat('summary-long'))],
    });
    const out = await safe.invoke({ document });
    expect(String(out.content)).toContain('[summary-long]');
    expect(records[0]!.attempts.map((a) => `${a.target}:${a.errorKind ?? a.outcome}`)).toEqual(['sum-a:context_length', 'sum-long:success']);

    // With the window declared in the policy, the engine skips the small model without calling it.
    p.fake.reset();
    const declared = realEngine({ targets: { 'sum-a': { provider: 'openai', model: 'summary-a', contextWindow: 2_000 }, 'sum-long': { provider: 'openai', model: 'summary-long', contextWindow: 100_000 } } });
    const skipping = withResilience(prompt.pipe(p.chat('summary-a')), { engine: declared.engine, route: 'summary', fallbacks: [prompt.pipe(p.chat('summary-long'))] });
    await skipping.invoke({ document });
    expect(p.fake.counters.requestsByModel).toEqual({ 'summary-long': 1 });
    expect(declared.records[0]!.skipped).toEqual([expect.objectContaining({ target: 'sum-a', reason: 'context_window' })]);
  });

  it('validates the route output schema (JSON mode) and falls back on a reply that is not JSON', async () => {
    withFaults([{ model: 'summary-a', kind: 'invalid_json_reply' }]);
    const Reply = z.object({ reply: z.string() });
    const { engine } = realEngine({ routes: { summary: { chain: ['sum-a', 'sum-long'], output: Reply } } });
    const json = (model: string) => p.chat(model).withConfig({ response_format: { type: 'json_object' } });
    const safe = withResilience(json('summary-a'), { engine, route: 'summary', fallbacks: [json('summary-long')] });
    const r = await safe.invokeWithResult('Classify: I want a refund. Answer in JSON.');
    expect(r.target.id).toBe('sum-long');
    expect(r.output).toEqual({ reply: expect.stringContaining('[summary-long]') });
    expect(r.record).toMatchObject({ validation_failures: 1, fallback_used: true });
  });

  it('validates withStructuredOutput(zod) results against the route schema', async () => {
    const Summary = z.object({ title: z.string(), bullets: z.array(z.string()).min(1) });
    const { engine } = realEngine({ routes: { summary: { chain: ['sum-a', 'sum-long'], output: Summary } } });
    const structured = (model: string) => p.chat(model).withStructuredOutput(Summary, { name: 'summary', method: 'jsonSchema' });
    const safe = withResilience(structured('summary-a'), { engine, route: 'summary', fallbacks: [structured('summary-long')] });
    const r = await safe.invokeWithResult('Summarize: the cat sat on the mat.');
    expect(r.target.id).toBe('sum-a');
    expect(Summary.parse(r.value)).toEqual(r.value);
    expect(r.output).toEqual(r.value);
  });

  describe("an attempt whose reply the route's output schema rejects ends its run with the engine's verdict", () => {
    it('invoke: the rejected attempt run ends with an OutputValidationError (the reason the validation event gives), the fallback answers with a successful run', async () => {
      withFaults([{ model: 'summary-a', kind: 'invalid_json_reply' }]);
      const Reply = z.object({ reply: z.string() });
      const { engine } = realEngine({ routes: { summary: { chain: ['sum-a', 'sum-long'], output: Reply } } });
      const reasons: string[] = [];
      engine.events.on('validation', (e) => reasons.push(e.reason));
      const json = (model: string) => p.chat(model).withConfig({ response_format: { type: 'json_object' } });
      const safe = withResilience(json('summary-a'), { engine, route: 'summary', fallbacks: [json('summary-long')] });
      const tracer = new FakeTracer();
      const r = await safe.invokeWithResult('Classify: I want a refund. Answer in JSON.', { callbacks: [tracer] });
      expect(r.target.id).toBe('sum-long');
      expect(r.record.attempts[0]).toMatchObject({ target: 'sum-a', outcome: 'invalid_output', errorKind: 'validation_failed' });
      await awaitAllCallbacks();
      const attempts = runTree(tracer.runs[0]!).children;
      expect(attempts.map((a) => a.name)).toEqual(['attempt:sum-a#1', 'attempt:sum-long#2']);
      // The engine rejected attempt 1 after the call returned and fell back: its run failed, as a parse failure's does.
      expect(reasons).toHaveLength(1);
      expect(attempts[0]!.error).toContain('OutputValidationError');
      expect(attempts[0]!.error).toContain(`failed the output schema: ${reasons[0]}`);
      expect(attempts[1]!.error).toBeUndefined();
    });
  });

  describe('withStructuredOutput and a reply that is not valid JSON (the parse fails inside the wrapped runnable)', () => {
    const Summary = z.object({ title: z.string(), bullets: z.array(z.string()).min(1) });
    const structured = (model: string) => p.chat(model).withStructuredOutput(Summary, { name: 'summary', method: 'jsonSchema' });

    it("follows the route's onInvalidOutput: 'fail' (RequestFailedError ERR_LLMR_INVALID_OUTPUT), one call, nothing retried", async () => {
      withFaults([{ model: 'summary-a', kind: 'invalid_json_reply' }]);
      const { engine, records } = realEngine({ routes: { summary: { chain: ['sum-a', 'sum-long'], output: Summary, onInvalidOutput: 'fail' } } });
      const safe = withResilience(structured('summary-a'), { engine, route: 'summary', fallbacks: [structured('summary-long')] });
      const err = await rejection(safe.invoke('Summarize: the cat sat on the mat.'));
      await recordsReach(engine, records, 1);
      expect(err).toBeInstanceOf(RequestFailedError);
      expect(err).toMatchObject({ code: 'ERR_LLMR_INVALID_OUTPUT' });
      expect(records[0]!.attempts.map((a) => a.errorKind ?? a.outcome)).toEqual(['validation_failed']);
      expect(records[0]).toMatchObject({ validation_failures: 1, fallback_used: false });
      expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 1 });
    });

    it('default onInvalidOutput: falls back at once as a validation failure, not retried as a transient error', async () => {
      withFaults([{ model: 'summary-a', kind: 'invalid_json_reply' }]);
      const { engine } = realEngine({ routes: { summary: { chain: ['sum-a', 'sum-long'], output: Summary } } });
      const safe = withResilience(structured('summary-a'), { engine, route: 'summary', fallbacks: [structured('summary-long')] });
      const r = await safe.invokeWithResult('Summarize: the cat sat on the mat.');
      expect(r.target.id).toBe('sum-long');
      expect(Summary.parse(r.value)).toEqual(r.value);
      expect(r.record.attempts.map((a) => a.errorKind ?? a.outcome)).toEqual(['validation_failed', 'success']);
      expect(r.record.validation_failures).toBe(1);
    });

    it("method jsonMode (LangChain's OutputParserException) likewise", async () => {
      withFaults([{ model: 'summary-a', kind: 'invalid_json_reply' }]);
      // In JSON mode the fake provider answers { reply }: the schema every target can meet.
      const Reply = z.object({ reply: z.string() });
      const { engine } = realEngine({ routes: { summary: { chain: ['sum-a', 'sum-long'], output: Reply } } });
      const json = (model: string) => p.chat(model).withStructuredOutput(Reply, { method: 'jsonMode' });
      const safe = withResilience(json('summary-a'), { engine, route: 'summary', fallbacks: [json('summary-long')] });
      const r = await safe.invokeWithResult('Classify: I want a refund. Answer in JSON.');
      expect(r.target.id).toBe('sum-long');
      expect(r.value).toEqual({ reply: expect.stringContaining('[summary-long]') });
      expect(r.record.attempts.map((a) => a.errorKind ?? a.outcome)).toEqual(['validation_failed', 'success']);
      expect(r.record.validation_failures).toBe(1);
    });

    // A body cut off in transit (the fake's malformed_json) makes the SDK throw a SyntaxError inside the
    // model run. With jsonMode and functionCalling an output parser of the chain parses the reply, not the
    // model run: the error is the provider's (unknown, retried on the same target), not an invalid reply.
    it.each(['functionCalling', 'jsonMode'] as const)('%s: a truncated HTTP body is the provider failure (unknown, retried), not validation_failed', async (method) => {
      withFaults([{ model: 'summary-a', kind: 'malformed_json', count: 1 }]);
      const Reply = z.object({ reply: z.string() });
      const logger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
      const model = (m: string): Runnable<string, unknown> =>
        method === 'functionCalling'
          ? p.chat(m, { configuration: { baseURL: p.baseURL, logger } }).withStructuredOutput(Summary, { name: 'summary', method })
          : p.chat(m, { configuration: { baseURL: p.baseURL, logger } }).withStructuredOutput(Reply, { method });
      const { engine } = realEngine({ retry: { perKind: { unknown: 1 } } });
      const safe = withResilience(model('summary-a'), { engine, route: 'summary', fallbacks: [model('summary-long')] });
      const r = await safe.invokeWithResult('JSON question: summarize the meeting');
      expect(r.record.attempts.map((a) => `${a.target}:${a.errorKind ?? a.outcome}`)).toEqual(['sum-a:unknown', 'sum-a:success']);
      expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 2 });
    });

    it('on a route without an output schema: a validation_failed attempt error, falls back without a retry', async () => {
      withFaults([{ model: 'summary-a', kind: 'invalid_json_reply' }]);
      const { engine } = realEngine();
      const safe = withResilience(structured('summary-a'), { engine, route: 'summary', fallbacks: [structured('summary-long')] });
      const r = await safe.invokeWithResult('Summarize: the cat sat on the mat.');
      expect(r.target.id).toBe('sum-long');
      expect(r.record.attempts.map((a) => a.errorKind ?? a.outcome)).toEqual(['validation_failed', 'success']);
      expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 1, 'summary-long': 1 });
    });
  });

  it('cancels through the signal: the hanging HTTP call is aborted and nothing falls back', async () => {
    withFaults([{ model: 'summary-a', kind: 'hang' }]);
    const { engine, records } = realEngine();
    const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
    const ac = new AbortController();
    const pending = safe.invoke('hello', { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    // Like any LangChain runnable, the call rejects with the signal's reason; the engine records a cancellation.
    const err = await rejection(pending);
    expect((err as Error).message).toMatch(/abort/i);
    await recordsReach(engine, records, 1);
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'cancelled' });
    expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 1 });
  });

  it('an attempt timeout aborts the hanging call and falls back', async () => {
    withFaults([{ model: 'summary-a', kind: 'hang' }]);
    const { engine, records } = realEngine({ routes: { summary: { chain: ['sum-a', 'sum-long'], timeout: '100ms', retry: { perKind: { timeout: 0 } } } } });
    const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
    expect(String((await safe.invoke('hello')).content)).toContain('[summary-long]');
    expect(records[0]!.attempts[0]).toMatchObject({ target: 'sum-a', errorKind: 'timeout' });
  });

  describe("the caller's RunnableConfig `timeout` bounds the request like `resilience.deadline`", () => {
    const rateLimitedFor2s = () => withFaults([{ model: 'summary-a', kind: 'rate_limit', retryAfterSeconds: 2, count: 1 }]);

    it('a 429 whose Retry-After (2 s) exceeds the 1 s timeout falls back at once instead of waiting until aborted, as the same deadline does', async () => {
      rateLimitedFor2s();
      const control = realEngine();
      const viaDeadline = withResilience(p.chat('summary-a'), { engine: control.engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      expect(String((await viaDeadline.invoke('hello', { resilience: { deadline: Date.now() + 1_000 } })).content)).toContain('[summary-long]');
      p.fake.reset();
      rateLimitedFor2s();

      const { engine, records } = realEngine();
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      // Without the timeout as a deadline, the engine would wait out the 2 s Retry-After and be cancelled at 1 s.
      expect(String((await safe.invoke('hello', { timeout: 1_000 })).content)).toContain('[summary-long]');
      expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'sum-long', fallback_used: true });
      expect(records[0]!.attempts[0]).toMatchObject({ target: 'sum-a', errorKind: 'rate_limited', retryAfterMs: 2_000 });
    });

    it('in stream() too', async () => {
      rateLimitedFor2s();
      const { engine, records } = realEngine();
      const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      let text = '';
      for await (const c of await safe.stream('hello', { timeout: 1_000 })) text += String(c.content);
      expect(text).toContain('[summary-long]');
      await recordsReach(engine, records, 1);
      expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'sum-long', fallback_used: true });
    });
  });

  it("finds the OpenAI SDK's own retries (ChatOpenAI `configuration: { maxRetries }`), which retry a 429 below the engine: warns (LLMR_INNER_RETRIES), or refuses with innerRetries: 'error'", async () => {
    withFaults([{ model: 'summary-a', kind: 'rate_limit', retryAfterSeconds: 0.01, count: 1 }]);
    const { engine, records } = realEngine();
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const model = p.chat('summary-a', { maxRetries: 0, configuration: { baseURL: p.baseURL, maxRetries: 2 } });
      const safe = withResilience(model, { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]![0]).toContain('maxRetries 2 in its client configuration');
      expect(warn.mock.calls[0]![1]).toMatchObject({ code: 'LLMR_INNER_RETRIES' });
      await safe.invoke('hello');
      // What the warning is about: the provider answered a 429 and then a 200; the engine saw one clean attempt.
      expect(p.fake.counters.responsesByStatus).toEqual({ '429': 1, '200': 1 });
      expect(records[0]!.attempts).toHaveLength(1);
      expect(() => withResilience(model, { engine, route: 'summary', fallbacks: [p.chat('summary-long')], innerRetries: 'error' })).toThrow(
        /SDK client retries each request itself \(maxRetries 2 in its client configuration\)/,
      );
    } finally {
      warn.mockRestore();
    }
  });

  it('reports exhaustion with a typed error when every target fails', async () => {
    withFaults([{ kind: 'overloaded_503' }]);
    const { engine } = realEngine({ retry: { perKind: { overloaded: 0 } } });
    const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
    const err = await rejection(safe.invoke('hello'));
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(err).toMatchObject({ kind: 'overloaded', code: 'ERR_LLMR_CHAIN_EXHAUSTED' });
    expect((err as ChainExhaustedError).userMessage).toBeTruthy();
  });
});
