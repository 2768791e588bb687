/**
 * A JSON-mode reply cut off by the output-token limit (`finish_reason: 'length'`), read through
 * LangChain's JSON parsers (`JsonOutputParser`, `withStructuredOutput` in `jsonMode`), with the real
 * ChatOpenAI (1.6, or 1.0 in the 'langchain 1.0' jest project) against a small Chat Completions server
 * over a real socket (it scripts what the fake provider cannot: a reply cut before any text, an
 * incomplete object that ends with `stop`). `invoke()` rejects such a reply (the parser's `JSON.parse`
 * throws), so the call falls back; streamed, the parser yields partial objects and, without the adapter,
 * ends as if the object were complete. Through the adapter the stream gets invoke()'s verdict: before any
 * chunk reached the caller an invalid reply that falls back, after it an InvalidStreamOutputError.
 */
import { JsonOutputParser } from '@langchain/core/output_parsers';
import { AIMessage, type BaseMessage } from '@langchain/core/messages';
import { RunnableLambda, type Runnable, type RunnableConfig } from '@langchain/core/runnables';
import { ChatOpenAI } from '@langchain/openai';
import { z } from 'zod';
import { InvalidStreamOutputError, StreamInterruptedError, withResilience } from '../src';
import { recordsReach } from './fakeProvider';
import { attemptsOf, readStream, scriptedChatServer, sseEvents, watchedEngine } from './scriptedChatServer';
import { dropsEverything } from './support';

/** What a model of the server answers in JSON mode, and how its reply ends. */
interface Reply {
  text: string;
  finish: 'stop' | 'length';
}

const WHOLE = { title: 'Quarterly results', bullets: ['Revenue up 4%'] };
const CUT = '{"title":"Quarterly res';
const REPLIES: Record<string, Reply> = {
  // Cut off by max_tokens part-way through the object.
  'gpt-cut': { text: CUT, finish: 'length' },
  // Every output token spent before the answer began (a reasoning model's budget used up): no text at all.
  'gpt-spent': { text: '', finish: 'length' },
  // The same incomplete object, but the provider says nothing about a cut.
  'gpt-unsignalled': { text: CUT, finish: 'stop' },
  'gpt-whole': { text: JSON.stringify(WHOLE), finish: 'stop' },
  // A guard / classifier model called with max_tokens: 1: its one-word verdict ends with finish_reason 'length'.
  'gpt-guard-cut': { text: 'safe', finish: 'length' },
  'gpt-guard-stop': { text: 'safe', finish: 'stop' },
};
const USAGE = { prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 };

/** The reply as a Chat Completions SSE stream: a role chunk, the text in pieces, the finish chunk, usage, [DONE]. */
function streamed(model: string, reply: Reply, includeUsage: boolean): string[] {
  const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1_700_000_000, model };
  const chunk = (delta: object, finish: string | null) => ({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  const pieces = reply.text.match(/.{1,8}/gs) ?? [];
  return sseEvents([
    chunk({ role: 'assistant', content: '' }, null),
    ...pieces.map((p) => chunk({ content: p }, null)),
    chunk({}, reply.finish),
    ...(includeUsage ? [{ ...base, choices: [], usage: USAGE }] : []),
  ]);
}

const server = scriptedChatServer((body) => {
  const reply = REPLIES[body.model]!;
  if (body.stream === true) return { events: streamed(body.model, reply, body.stream_options?.include_usage === true) };
  return {
    body: {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content: reply.text, refusal: null }, logprobs: null, finish_reason: reply.finish }],
      usage: USAGE,
    },
  };
});

/** Targets named after their model (`cut` is `gpt-cut`); each route falls back to `whole`. One failure opens a breaker. */
function engineOf() {
  return watchedEngine({
    targets: Object.fromEntries(Object.keys(REPLIES).map((m) => [m.slice(4), { provider: 'openai', model: m }])),
    routes: { cut: { chain: ['cut', 'whole'] }, spent: { chain: ['spent', 'whole'] }, unsignalled: { chain: ['unsignalled', 'whole'] }, whole: { chain: ['whole'] } },
    breaker: { consecutiveFailures: 1, minimumCalls: 100 },
  });
}

const chat = (model: string) => new ChatOpenAI({ model, apiKey: 'test-key', maxRetries: 0, configuration: { baseURL: server.baseURL } });
const jsonModel = (model: string) => new ChatOpenAI({ model, apiKey: 'test-key', maxRetries: 0, configuration: { baseURL: server.baseURL }, modelKwargs: { response_format: { type: 'json_object' } } });
/** A plain JSON schema: `withStructuredOutput` parses jsonMode replies to it with `JsonOutputParser` (no validation). */
const summarySchema = { title: 'summary', type: 'object', properties: { title: { type: 'string' }, bullets: { type: 'array', items: { type: 'string' } } }, required: ['title', 'bullets'] };
const Summary = z.object({ title: z.string(), bullets: z.array(z.string()) });

type Chain = (model: string) => Runnable<string, unknown>;
const jsonParserChains: Array<[string, Chain]> = [
  ['model (response_format json_object).pipe(JsonOutputParser)', (m) => jsonModel(m).pipe(new JsonOutputParser())],
  ["withStructuredOutput(JSON schema, { method: 'jsonMode' }) (a JsonOutputParser)", (m) => chat(m).withStructuredOutput(summarySchema, { method: 'jsonMode' }) as Runnable<string, unknown>],
];

const PROMPT = 'Summarize the meeting as JSON.';

/** The chain wrapped on route `route`, its fallback the same chain over `gpt-whole`. */
function resilient(chain: Chain, route: string) {
  const r = engineOf();
  const first = route === 'whole' ? 'gpt-whole' : `gpt-${route}`;
  return { ...r, safe: withResilience(chain(first), { engine: r.engine, route, ...(route === 'whole' ? {} : { fallbacks: [chain('gpt-whole')] }) }) };
}

describe("a JSON-mode reply cut off by max_tokens (finish_reason 'length') after the parser yielded part of it", () => {
  it.each(jsonParserChains)('%s: without the adapter the stream ends as a success with the partial object, where invoke() throws', async (_, chain) => {
    const { chunks, err } = await readStream(chain('gpt-cut').stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks.at(-1)).toEqual({ title: 'Quarterly res' });
    await expect(chain('gpt-cut').invoke(PROMPT)).rejects.toThrow();
  });

  it.each(jsonParserChains)('%s: invoke() falls back; stream() ends with InvalidStreamOutputError after the partial object', async (_, chain) => {
    const { safe, engine, records, transitions } = resilient(chain, 'cut');
    expect(await safe.invoke(PROMPT)).toEqual(WHOLE);
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(chunks.at(-1)).toEqual({ title: 'Quarterly res' });
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
    expect(err).toMatchObject({ kind: 'validation_failed', code: 'ERR_LLMR_STREAM_INVALID_OUTPUT', target: 'cut', reason: 'the reply is not valid JSON', chunksReceived: chunks.length });
    // The error's message says what happened, never what the reply said.
    expect((err as Error).message).not.toContain('Quarterly');
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([['cut:validation_failed', 'whole:success'], ['cut:success']]);
    // The reply was generated to its end and billed: the usage the provider reported; no breaker verdict.
    expect(records[1]).toMatchObject({ outcome: 'failure', error_kind: 'validation_failed', fallback_used: false, output_tokens: 8 });
    expect(transitions).toEqual([]);
    expect(server.requests).toEqual(['gpt-cut', 'gpt-whole', 'gpt-cut']);
  });

  it('streamEvents() of the resilient chain ends the same way', async () => {
    const { safe } = resilient((m) => jsonModel(m).pipe(new JsonOutputParser()), 'cut');
    const streamed: unknown[] = [];
    const err = await (async () => {
      try {
        for await (const e of safe.streamEvents(PROMPT, { version: 'v2' })) if (e.event === 'on_chain_stream' && e.name === 'ResilientRunnable') streamed.push(e.data.chunk);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(streamed.at(-1)).toEqual({ title: 'Quarterly res' });
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
  });
});

/** `chain` through the adapter with `target` first: `expected` from invoke(), and from stream() with no error, one success each. */
async function expectSuccessAsInvoke(chain: Chain, target: string, expected: unknown): Promise<void> {
  const { safe, engine, records } = resilient(chain, target);
  expect(await safe.invoke(PROMPT)).toEqual(expected);
  const { chunks, err } = await readStream(safe.stream(PROMPT));
  expect(err).toBeUndefined();
  expect(chunks.at(-1)).toEqual(expected);
  await recordsReach(engine, records, 2);
  expect(records.map(attemptsOf)).toEqual([[`${target}:success`], [`${target}:success`]]);
}

/**
 * `chain` on the cut reply: invoke() of the bare chain throws; through the adapter invoke() falls back to
 * the whole reply, and stream() yields the partial object, then ends with InvalidStreamOutputError.
 */
async function expectCutToFailAfterPartialObject(chain: Chain): Promise<void> {
  await expect(chain('gpt-cut').invoke(PROMPT)).rejects.toThrow();
  const { safe, engine, records } = resilient(chain, 'cut');
  expect(await safe.invoke(PROMPT)).toEqual(WHOLE);
  const { chunks, err } = await readStream(safe.stream(PROMPT));
  expect(chunks.at(-1)).toEqual({ title: 'Quarterly res' });
  expect(err).toBeInstanceOf(InvalidStreamOutputError);
  expect(err).toMatchObject({ target: 'cut', reason: 'the reply is not valid JSON' });
  await recordsReach(engine, records, 2);
  expect(records.map(attemptsOf)).toEqual([['cut:validation_failed', 'whole:success'], ['cut:success']]);
}

describe("a JSON-mode reply cut off by max_tokens before anything reached the caller: an invalid reply that falls back, as in invoke()", () => {
  it.each(jsonParserChains)('%s, no text at all (the output budget spent before the answer): falls back in stream() as in invoke()', async (_, chain) => {
    // Without the adapter the stream is an empty success, where invoke() throws.
    expect((await readStream(chain('gpt-spent').stream(PROMPT))).chunks).toEqual([]);
    await expect(chain('gpt-spent').invoke(PROMPT)).rejects.toThrow();
    const { safe, engine, records, transitions } = resilient(chain, 'spent');
    expect(await safe.invoke(PROMPT)).toEqual(WHOLE);
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks.at(-1)).toEqual(WHOLE);
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([
      ['spent:validation_failed', 'whole:success'],
      ['spent:validation_failed', 'whole:success'],
    ]);
    expect(transitions).toEqual([]);
  });

  it('the partial object yielded by the parser but dropped by a later step: falls back', async () => {
    const { safe, engine, records } = resilient((m) => jsonModel(m).pipe(new JsonOutputParser()).pipe(dropsEverything()), 'cut');
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks).toEqual([]);
    await recordsReach(engine, records, 1);
    expect(records.map(attemptsOf)).toEqual([['cut:validation_failed', 'whole:success']]);
  });

  it('the partial objects held back by a later step until the parser ended: falls back, as in invoke()', async () => {
    // A step that is not a generator reads its whole input before it yields: the parser's run has ended.
    const chain: Chain = (m) => jsonModel(m).pipe(new JsonOutputParser()).pipe(RunnableLambda.from(() => 'summary ready'));
    const { safe, engine, records } = resilient(chain, 'cut');
    expect(await safe.invoke(PROMPT)).toBe('summary ready');
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks).toEqual(['summary ready']);
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([
      ['cut:validation_failed', 'whole:success'],
      ['cut:validation_failed', 'whole:success'],
    ]);
  });

  it("withStructuredOutput(zod schema, { method: 'jsonMode' }) (StructuredOutputParser, which parses the whole reply): falls back, as before", async () => {
    const chain: Chain = (m) => chat(m).withStructuredOutput(Summary, { method: 'jsonMode' }) as Runnable<string, unknown>;
    const { safe, engine, records } = resilient(chain, 'cut');
    expect(await safe.invoke(PROMPT)).toEqual(WHOLE);
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks).toEqual([WHOLE]);
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([
      ['cut:validation_failed', 'whole:success'],
      ['cut:validation_failed', 'whole:success'],
    ]);
  });
});

describe('only the provider says a reply was cut', () => {
  it.each(jsonParserChains)("%s, a whole object that ends with finish_reason 'stop': a success in stream() and invoke()", async (_, chain) => {
    await expectSuccessAsInvoke(chain, 'whole', WHOLE);
  });

  it.each(jsonParserChains)(
    "%s, an incomplete object that ends with finish_reason 'stop': the stream is a success with the partial object, as without the adapter (invoke() falls back)",
    async (_, chain) => {
      const { safe, engine, records } = resilient(chain, 'unsignalled');
      expect(await safe.invoke(PROMPT)).toEqual(WHOLE);
      const { chunks, err } = await readStream(safe.stream(PROMPT));
      expect(err).toBeUndefined();
      expect(err).not.toBeInstanceOf(StreamInterruptedError);
      expect(chunks.at(-1)).toEqual({ title: 'Quarterly res' });
      await recordsReach(engine, records, 2);
      expect(records.map(attemptsOf)).toEqual([['unsignalled:validation_failed', 'whole:success'], ['unsignalled:success']]);
    },
  );
});

/** A step that asks a guard model about the reply, then hands the model's message on unchanged. */
const guarded = (guardModel: string) =>
  RunnableLambda.from(async (m: BaseMessage, config?: RunnableConfig) => {
    await chat(guardModel).invoke(`Is this safe? ${m.text}`, config);
    return m;
  });

describe('the reply judged is the message the parser was given, not the last model run to end', () => {
  it("a whole JSON reply, then a guard model whose 1-token verdict ends with finish_reason 'length': a success in stream() as in invoke()", async () => {
    const chain: Chain = (m) => jsonModel(m).pipe(guarded('gpt-guard-cut')).pipe(new JsonOutputParser());
    expect(await chain('gpt-whole').invoke(PROMPT)).toEqual(WHOLE);
    await expectSuccessAsInvoke(chain, 'whole', WHOLE);
  });

  it('the same, with the parsed object held back by a later step: no fallback before content', async () => {
    const chain: Chain = (m) => jsonModel(m).pipe(guarded('gpt-guard-cut')).pipe(new JsonOutputParser()).pipe(RunnableLambda.from(() => 'summary ready'));
    expect(await chain('gpt-whole').invoke(PROMPT)).toBe('summary ready');
    const { safe, engine, records } = resilient(chain, 'whole');
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks).toEqual(['summary ready']);
    await recordsReach(engine, records, 1);
    expect(records.map(attemptsOf)).toEqual([['whole:success']]);
  });

  it("a cut JSON reply, then a guard model that ends with 'stop': the stream ends with InvalidStreamOutputError after the partial object, as invoke() falls back", async () => {
    const chain: Chain = (m) => jsonModel(m).pipe(guarded('gpt-guard-stop')).pipe(new JsonOutputParser());
    // The guard step reads its whole input before it hands it on: the parser yields the partial object at once.
    await expectCutToFailAfterPartialObject(chain);
  });

  it('a JSON repair step that hands the parser a whole message of its own, made of a cut reply: a success in stream() as in invoke()', async () => {
    // A common mitigation for cut JSON (jsonrepair; here: close the string and the object).
    const repair = RunnableLambda.from((m: BaseMessage) => new AIMessage(`${m.text}"}`));
    const chain: Chain = (m) => jsonModel(m).pipe(repair).pipe(new JsonOutputParser());
    expect(await chain('gpt-cut').invoke(PROMPT)).toEqual({ title: 'Quarterly res' });
    await expectSuccessAsInvoke(chain, 'cut', { title: 'Quarterly res' });
  });

  describe("the step before the parser is model.withFallbacks([...]) (a RunnableWithFallbacks: streamed, its run ends with `{ output: undefined }`)", () => {
    // LangChain's RunnableWithFallbacks never adds up what it streamed (core 1.0 and 1.4): the reply judged
    // is that of the last model run that ended within the step's run, a model run directly below it.
    const chain: Chain = (m) => jsonModel(m).withFallbacks([jsonModel('gpt-whole')]).pipe(new JsonOutputParser());

    it("a cut reply (finish_reason 'length'): invoke() falls back; stream() ends with InvalidStreamOutputError after the partial object", async () => {
      await expectCutToFailAfterPartialObject(chain);
    });

    it('a whole reply: a success in stream() as in invoke()', async () => {
      await expectSuccessAsInvoke(chain, 'whole', WHOLE);
    });
  });

  describe('the step before the parser is a withFallbacks([...]) of more than a bare model: what it handed on is unknown, so the cut rule does not judge it', () => {
    // The model's reply inside such a step is not what the step handed on (a repair or guard step ran after it).
    it('a JSON repair inside the step hands on a whole message made of a cut reply: a success in stream() as in invoke() (no false InvalidStreamOutputError)', async () => {
      const repair = RunnableLambda.from((m: BaseMessage) => new AIMessage(`${m.text}"}`));
      const chain: Chain = (m) => jsonModel(m).pipe(repair).withFallbacks([jsonModel('gpt-whole')]).pipe(new JsonOutputParser());
      expect(await chain('gpt-cut').invoke(PROMPT)).toEqual({ title: 'Quarterly res' });
      await expectSuccessAsInvoke(chain, 'cut', { title: 'Quarterly res' });
    });

    it("a whole JSON reply, then a guard model inside the step whose 1-token verdict ends with finish_reason 'length': a success in stream() as in invoke()", async () => {
      const chain: Chain = (m) => jsonModel(m).pipe(guarded('gpt-guard-cut')).withFallbacks([jsonModel('gpt-whole')]).pipe(new JsonOutputParser());
      await expectSuccessAsInvoke(chain, 'whole', WHOLE);
    });
  });

  it("the step before the parser is a ResilientRunnable of its own (no parser inside: it passes the cut reply on): the outer stream ends with InvalidStreamOutputError, as the outer invoke() falls back", async () => {
    const inner = engineOf();
    // The inner route has one target; the runnable given is the model called (gpt-cut, then gpt-whole for the outer fallback).
    const nested: Chain = (m) => withResilience(jsonModel(m), { engine: inner.engine, route: 'whole' }).pipe(new JsonOutputParser());
    const { safe, engine, records } = resilient(nested, 'cut');
    expect(await safe.invoke(PROMPT)).toEqual(WHOLE);
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(chunks.at(-1)).toEqual({ title: 'Quarterly res' });
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([['cut:validation_failed', 'whole:success'], ['cut:success']]);
  });
});
