/**
 * stream() and streamEvents() of a chain that ends in an output parser (JsonOutputParser,
 * withStructuredOutput, a parser of your own), against the fake provider over real HTTP, when the
 * reply cannot be parsed. Before anything reached the caller it is an invalid reply, as with invoke():
 * not retried, the next target tried, no breaker verdict, its tokens charged. After chunks reached
 * the caller it ends the stream with an InvalidStreamOutputError (kind validation_failed): not a
 * network break, so neither retried nor counted against the target's breaker.
 */
import { OutputParserException, BaseTransformOutputParser, JsonOutputParser, StringOutputParser } from '@langchain/core/output_parsers';
import { JsonOutputKeyToolsParser } from '@langchain/core/output_parsers/openai_tools';
import { AIMessage, AIMessageChunk } from '@langchain/core/messages';
import { RunnableLambda, type Runnable } from '@langchain/core/runnables';
import type { RequestRecord } from '@llm-resilience/core';
import { z } from 'zod';
import { InvalidStreamOutputError, StreamInterruptedError, withResilience } from '../src';
import { realEngine, recordsReach, startProvider, type Provider } from './fakeProvider';
import { attemptsOf, readStream } from './scriptedChatServer';
import { dropsEverything, rejection } from './support';

let p: Provider;
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

const Reply = z.object({ reply: z.string() });
const Summary = z.object({ title: z.string(), bullets: z.array(z.string()).min(1) });
/** One failure opens a breaker: a parse failure counted as the target's failure would show at once. */
const breaker = { consecutiveFailures: 1, minimumCalls: 100 };

/** A chat model of the fake provider in JSON mode (the fake answers `{ reply }`, or, with `invalid_json_reply`, prose). */
const jsonModel = (model: string) => p.chat(model, { modelKwargs: { response_format: { type: 'json_object' } } });

/** An engine whose breaker transitions are collected. */
function watchedEngine(extra: Parameters<typeof realEngine>[0] = {}) {
  const r = realEngine({ breaker, ...extra });
  const transitions: string[] = [];
  r.engine.events.on('breaker', (t) => transitions.push(`${t.key}: ${t.from} -> ${t.to}`));
  return { ...r, transitions };
}

async function readAll<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of stream) out.push(c);
  return out;
}


describe('a streamed reply the chain cannot parse, before any chunk reached the caller: an invalid reply, as with invoke()', () => {
  const chains: Array<[string, (model: string) => Runnable<string, unknown>]> = [
    ['JsonOutputParser (it yields nothing from a reply that is not JSON)', (m) => jsonModel(m).pipe(new JsonOutputParser())],
    ["withStructuredOutput jsonMode (the parser's OutputParserException)", (m) => p.chat(m).withStructuredOutput(Reply, { method: 'jsonMode' })],
  ];

  it.each(chains)('%s: falls back at once, without a retry or a breaker failure', async (_, chain) => {
    p.fake.setFaults([{ model: 'summary-a', kind: 'invalid_json_reply' }]);
    const { engine, records, transitions } = watchedEngine();
    const safe = withResilience(chain('summary-a'), { engine, route: 'summary', fallbacks: [chain('summary-long')] });
    const chunks = await readAll(await safe.stream('JSON question: summarize the meeting'));
    expect(chunks.length).toBeGreaterThan(0);
    expect(JSON.stringify(chunks[chunks.length - 1])).toContain('[summary-long]');
    await recordsReach(engine, records, 1);
    expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'sum-long', fallback_used: true });
    expect(attemptsOf(records[0]!)).toEqual(['sum-a:validation_failed', 'sum-long:success']);
    expect(transitions).toEqual([]);
    expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 1, 'summary-long': 1 });
  });

  it('withStructuredOutput functionCalling, a tool call cut off by max_tokens before its arguments are JSON (the parser yields only `{}`): falls back, as invoke() does', async () => {
    // The first model may write 2 tokens: `{"title"`, which invoke()'s parser rejects (OutputParserException).
    const chain = (m: string) => p.chat(m, m === 'summary-a' ? { maxTokens: 2 } : {}).withStructuredOutput(Summary, { name: 'summary', method: 'functionCalling' });
    const { engine, records, transitions } = watchedEngine();
    const safe = withResilience(chain('summary-a') as Runnable<string, unknown>, { engine, route: 'summary', fallbacks: [chain('summary-long') as Runnable<string, unknown>] });
    // LangChain warns about a message with raw tool calls and no parsed one (the cut one): kept out of the output.
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(JSON.stringify(await safe.invoke('JSON question: summarize the meeting'))).toContain('[summary-long]');
    } finally {
      warn.mockRestore();
    }
    const chunks = await readAll(await safe.stream('JSON question: summarize the meeting'));
    expect(JSON.stringify(chunks[chunks.length - 1])).toContain('[summary-long]');
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([
      ['sum-a:validation_failed', 'sum-long:success'],
      ['sum-a:validation_failed', 'sum-long:success'],
    ]);
    expect(transitions).toEqual([]);
  });

  it('streamEvents() of the resilient chain falls back the same way', async () => {
    p.fake.setFaults([{ model: 'summary-a', kind: 'invalid_json_reply' }]);
    const { engine, records, transitions } = watchedEngine();
    const chain = (m: string) => jsonModel(m).pipe(new JsonOutputParser());
    const safe = withResilience(chain('summary-a'), { engine, route: 'summary', fallbacks: [chain('summary-long')] });
    const streamed: unknown[] = [];
    for await (const e of safe.streamEvents('JSON question: summarize the meeting', { version: 'v2' })) {
      if (e.event === 'on_chain_stream' && e.name === 'ResilientRunnable') streamed.push(e.data.chunk);
    }
    expect(streamed.length).toBeGreaterThan(0);
    expect(streamed[streamed.length - 1]).toEqual({ reply: expect.stringContaining('[summary-long]') });
    await recordsReach(engine, records, 1);
    expect(attemptsOf(records[0]!)).toEqual(['sum-a:validation_failed', 'sum-long:success']);
    expect(transitions).toEqual([]);
  });

  it('on a route without a fallback, the call fails with the validation failure (ChainExhaustedError, kind validation_failed)', async () => {
    p.fake.setFaults([{ model: 'summary-a', kind: 'invalid_json_reply' }]);
    const { engine, records, transitions } = watchedEngine({ routes: { summary: { chain: ['sum-a'] } } });
    const safe = withResilience(jsonModel('summary-a').pipe(new JsonOutputParser()), { engine, route: 'summary' });
    const err = await rejection(safe.stream('JSON question: summarize the meeting').then(readAll));
    expect(err).not.toBeInstanceOf(StreamInterruptedError);
    expect(err).toMatchObject({ kind: 'validation_failed', code: 'ERR_LLMR_CHAIN_EXHAUSTED' });
    await recordsReach(engine, records, 1);
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'validation_failed' });
    expect(transitions).toEqual([]);
    expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 1 });
  });
});

describe('a streamed reply that is no parse failure, in a chain with an output parser', () => {
  // A tool-call parser's invoke() returns nothing for a reply without tool calls (prose), whether the
  // model was free to answer in prose (bindTools, tool_choice auto) or told to call the tool
  // (withStructuredOutput's functionCalling forces it): no failure, so neither is the stream.
  it.each([
    {
      what: 'bindTools (tool_choice auto) piped to JsonOutputKeyToolsParser, the model answered in prose',
      chain: (m: string) =>
        p
          .chat(m)
          .bindTools([{ type: 'function', function: { name: 'lookup', description: 'Looks a fact up.', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }])
          .pipe(new JsonOutputKeyToolsParser({ keyName: 'lookup', returnSingle: true })),
      faults: [],
    },
    {
      what: 'withStructuredOutput functionCalling, the model answered in prose instead of the forced tool call',
      chain: (m: string) => p.chat(m).withStructuredOutput(Summary, { name: 'summary', method: 'functionCalling' }),
      faults: [{ model: 'summary-a', kind: 'invalid_json_reply' as const }],
    },
  ])('$what: undefined, a success of the first target billed once, in stream() as in invoke()', async ({ chain, faults }) => {
    p.fake.setFaults(faults);
    const { engine, records, transitions } = watchedEngine();
    const safe = withResilience(chain('summary-a') as Runnable<string, unknown>, { engine, route: 'summary', fallbacks: [chain('summary-long') as Runnable<string, unknown>] });
    expect(await safe.invoke('What is 2+2? Answer in JSON.')).toBeUndefined();
    expect(await readAll(await safe.stream('What is 2+2? Answer in JSON.'))).toEqual([]);
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([['sum-a:success'], ['sum-a:success']]);
    expect(records[1]!.output_tokens).toBeGreaterThan(0);
    expect(transitions).toEqual([]);
    expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 2 });
  });

  it('withStructuredOutput functionCalling whose whole answer is `{}` (an empty schema): a success that yields `{}`', async () => {
    const chain = (m: string) => p.chat(m).withStructuredOutput(z.object({}), { name: 'ack', method: 'functionCalling' }) as Runnable<string, unknown>;
    const { engine, records } = watchedEngine();
    const safe = withResilience(chain('summary-a'), { engine, route: 'summary', fallbacks: [chain('summary-long')] });
    expect(await readAll(await safe.stream('Acknowledge in JSON.'))).toEqual([{}]);
    await recordsReach(engine, records, 1);
    expect(attemptsOf(records[0]!)).toEqual(['sum-a:success']);
  });

  it.each([
    ['a last step that returns nothing after StringOutputParser', (m: string) => jsonModel(m).pipe(new StringOutputParser()).pipe(RunnableLambda.from(() => null))],
    ['a filter step that drops every chunk after JsonOutputParser', (m: string) => jsonModel(m).pipe(new JsonOutputParser()).pipe(dropsEverything())],
  ])('%s: a success of the first target, billed once, as with invoke()', async (_, chain) => {
    const { engine, records, transitions } = watchedEngine();
    const safe = withResilience(chain('summary-a') as Runnable<string, unknown>, { engine, route: 'summary', fallbacks: [chain('summary-long') as Runnable<string, unknown>] });
    await readAll(await safe.stream('JSON question: summarize the meeting'));
    await recordsReach(engine, records, 1);
    expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'sum-a', fallback_used: false });
    expect(records[0]!.output_tokens).toBe(p.fake.counters.tokensOut);
    expect(transitions).toEqual([]);
    expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 1 });
  });

  // The openai SDK throws a SyntaxError of its own on a malformed SSE event; on its way out it passes
  // through the parser's run, which must not make it the parser's failure (validation_failed: no retry,
  // no breaker verdict). It fails the attempt as it does without a parser.
  it.each([
    ['the model alone', (model: Runnable<string, unknown>) => model],
    ['model.pipe(JsonOutputParser)', (model: Runnable<string, unknown>) => model.pipe(new JsonOutputParser())],
  ])("a malformed event of the provider's stream (malformed_json), %s: the provider's failure (unknown), not an invalid reply", async (_, chain) => {
    p.fake.setFaults([{ model: 'summary-a', kind: 'malformed_json' }]);
    // The SDK logs the event it could not parse before it throws: to its logger, kept out of the test output.
    const logged: string[] = [];
    const logger = { error: (...a: unknown[]) => void logged.push(a.map(String).join(' ')), warn: () => undefined, info: () => undefined, debug: () => undefined };
    const model = (m: string) =>
      p.chat(m, { modelKwargs: { response_format: { type: 'json_object' } }, configuration: { baseURL: p.baseURL, logger } }) as Runnable<string, unknown>;
    const { engine, records } = realEngine({ retry: { perKind: { unknown: 0 } } });
    const safe = withResilience(chain(model('summary-a')), { engine, route: 'summary', fallbacks: [chain(model('summary-long'))] });
    const chunks = await readAll(await safe.stream('JSON question: summarize'));
    expect(logged.join('\n')).toContain('Could not parse message into JSON');
    expect(JSON.stringify(chunks)).toContain('[summary-long]');
    await recordsReach(engine, records, 1);
    expect(attemptsOf(records[0]!)).toEqual(['sum-a:unknown', 'sum-long:success']);
  });
});

describe('a streamed tool call cut off by max_tokens after its arguments reached the caller: InvalidStreamOutputError, the verdict invoke() gives', () => {
  /** `summary-a` may write 6 tokens: `{"title":"[summary-a] re`, streamed as `{"title":"[summary-a] ` then `re` (finish_reason `length`). */
  const CUT_AT = 6;
  const summaryTool = {
    type: 'function' as const,
    function: {
      name: 'summary',
      description: 'A summary of the meeting.',
      parameters: { type: 'object', properties: { title: { type: 'string' }, bullets: { type: 'array', items: { type: 'string' } } }, required: ['title', 'bullets'] },
    },
  };
  const tokens = (m: string) => (m === 'summary-a' ? { maxTokens: CUT_AT } : {});
  /** LangChain warns about a reply whose raw tool call has no parsed one (the cut one): kept out of the output. */
  async function quietly<T>(run: () => Promise<T>): Promise<T> {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      return await run();
    } finally {
      warn.mockRestore();
    }
  }

  it('withStructuredOutput functionCalling: the partial object went out, then the stream ends with InvalidStreamOutputError; invoke() falls back', async () => {
    const chain = (m: string) => p.chat(m, tokens(m)).withStructuredOutput(Summary, { name: 'summary', method: 'functionCalling' }) as Runnable<string, unknown>;
    const { engine, records, transitions } = watchedEngine();
    const safe = withResilience(chain('summary-a'), { engine, route: 'summary', fallbacks: [chain('summary-long')] });
    expect(JSON.stringify(await quietly(() => safe.invoke('JSON question: summarize the meeting')))).toContain('[summary-long]');
    const { chunks, err } = await readStream(safe.stream('JSON question: summarize the meeting'));
    expect(chunks.at(-1)).toEqual({ title: '[summary-a] re' });
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
    expect(err).toMatchObject({
      kind: 'validation_failed',
      code: 'ERR_LLMR_STREAM_INVALID_OUTPUT',
      target: 'sum-a',
      reason: "the reply's tool call arguments are not valid JSON",
      chunksReceived: chunks.length,
    });
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([['sum-a:validation_failed', 'sum-long:success'], ['sum-a:success']]);
    // The reply was generated to its end and billed: the usage the provider reported.
    expect(records[1]).toMatchObject({ outcome: 'failure', error_kind: 'validation_failed', fallback_used: false, output_tokens: CUT_AT });
    expect(transitions).toEqual([]);
    expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 2, 'summary-long': 1 });
  });

  it("bindTools() without a parser: the model's chunks add up to the cut call listed as a tool call, so the stream ends with InvalidStreamOutputError", async () => {
    const model = (m: string) => p.chat(m, tokens(m)).bindTools([summaryTool], { tool_choice: 'summary' });
    const { engine, records, transitions } = watchedEngine();
    const safe = withResilience(model('summary-a'), { engine, route: 'summary', fallbacks: [model('summary-long')] });
    // invoke() hands the cut call back under invalid_tool_calls (a success: no route schema judges it).
    const whole = (await quietly(() => safe.invoke('JSON question: summarize the meeting'))) as AIMessage;
    expect(whole.tool_calls).toEqual([]);
    expect(whole.invalid_tool_calls).toMatchObject([{ name: 'summary', args: '{"title":"[summary-a] re' }]);
    expect(whole.response_metadata.finish_reason).toBe('length');
    const { chunks, err } = await readStream(safe.stream('JSON question: summarize the meeting'));
    const added = chunks.reduce((a, c) => a.concat(c));
    expect(added.tool_calls).toMatchObject([{ name: 'summary', args: { title: '[summary-a] re' } }]);
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
    expect(err).toMatchObject({ kind: 'validation_failed', target: 'sum-a', chunksReceived: chunks.length });
    await recordsReach(engine, records, 2);
    expect(records[1]).toMatchObject({ outcome: 'failure', error_kind: 'validation_failed', output_tokens: CUT_AT });
    expect(transitions).toEqual([]);
    expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 2 });
  });

  it.each([
    ['bindTools() without a parser', (m: string) => p.chat(m).bindTools([summaryTool], { tool_choice: 'summary' }) as Runnable<string, unknown>],
    ['withStructuredOutput functionCalling', (m: string) => p.chat(m).withStructuredOutput(Summary, { name: 'summary', method: 'functionCalling' }) as Runnable<string, unknown>],
  ])('a whole tool call, its arguments in many pieces, streams as before (%s): a success with the arguments invoke() gives', async (_, chain) => {
    const { engine, records } = watchedEngine();
    const safe = withResilience(chain('summary-a'), { engine, route: 'summary', fallbacks: [chain('summary-long')] });
    const args = (v: unknown) => (v instanceof AIMessageChunk || v instanceof AIMessage ? v.tool_calls?.[0]?.args : v);
    const invoked = args(await safe.invoke('JSON question: summarize the meeting'));
    const { chunks, err } = await readStream(safe.stream('JSON question: summarize the meeting'));
    expect(err).toBeUndefined();
    expect(chunks.length).toBeGreaterThan(2);
    const last = chunks.at(-1);
    expect(args(last instanceof AIMessageChunk ? (chunks as AIMessageChunk[]).reduce((a, c) => a.concat(c)) : last)).toEqual(invoked);
    expect(invoked).toMatchObject({ title: expect.stringContaining('[summary-a]') });
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([['sum-a:success'], ['sum-a:success']]);
  });
});

describe("a malformed event of the provider's stream in a structured-output model run", () => {
  // OpenAI's SDK parses a jsonSchema reply itself only when it does not stream: in a stream its SyntaxError
  // is the malformed event's, the provider's failure (unknown: retried), not an invalid reply.
  it.each(['jsonMode', 'jsonSchema'] as const)('withStructuredOutput(%s).stream(): the provider failure (unknown, retried), not validation_failed', async (method) => {
    p.fake.setFaults([{ model: 'summary-a', kind: 'malformed_json', count: 1 }]);
    const logger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
    const model = (m: string) => p.chat(m, { configuration: { baseURL: p.baseURL, logger } }).withStructuredOutput(Reply, { name: 'reply', method }) as Runnable<string, unknown>;
    const { engine, records } = realEngine({ retry: { perKind: { unknown: 1 } } });
    const safe = withResilience(model('summary-a'), { engine, route: 'summary', fallbacks: [model('summary-long')] });
    const chunks = await readAll(await safe.stream('JSON question: summarize'));
    expect(JSON.stringify(chunks.at(-1))).toContain('[summary-a]');
    await recordsReach(engine, records, 1);
    expect(attemptsOf(records[0]!)).toEqual(['sum-a:unknown', 'sum-a:success']);
  });
});

/**
 * A parser that reads the reply chunk by chunk and rejects it at its 4th non-empty chunk, as a
 * JSON-lines parser rejects a bad line after good ones.
 */
class RejectsFourthChunk extends BaseTransformOutputParser<string> {
  lc_namespace = ['llm_resilience', 'test'];
  private seen = 0;

  async parse(text: string): Promise<string> {
    if (text !== '' && ++this.seen === 4) throw new OutputParserException('The 4th line is not a record.', text);
    return text;
  }

  getFormatInstructions(): string {
    return '';
  }
}

describe('a streamed reply the chain cannot parse after chunks reached the caller', () => {
  it('ends with InvalidStreamOutputError (kind validation_failed): nothing retried or fallen back to, no breaker failure', async () => {
    const { engine, records, transitions } = watchedEngine();
    const safe = withResilience(p.chat('summary-a').pipe(new RejectsFourthChunk()), {
      engine,
      route: 'summary',
      fallbacks: [p.chat('summary-long').pipe(new RejectsFourthChunk())],
    });
    const received: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const c of await safe.stream('Stream a summary')) received.push(c);
      })(),
    );
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
    // Caught where a broken stream is caught: the caller holds part of an answer it cannot use.
    expect(err).toBeInstanceOf(StreamInterruptedError);
    expect(err).toMatchObject({ kind: 'validation_failed', code: 'ERR_LLMR_STREAM_INVALID_OUTPUT', target: 'sum-a' });
    expect((err as InvalidStreamOutputError).chunksReceived).toBe(received.length);
    expect(received.filter((c) => c !== '')).toHaveLength(3);
    expect((err as Error).cause).toBeInstanceOf(OutputParserException);
    await recordsReach(engine, records, 1);
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'validation_failed', fallback_used: false });
    expect(transitions).toEqual([]);
    expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 1 });

    // The breaker did not count it: the next call is served by the same model.
    const next = await withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] }).invokeWithResult('again');
    expect(next.target.id).toBe('sum-a');
    expect(next.record.skipped).toEqual([]);
  });
});
