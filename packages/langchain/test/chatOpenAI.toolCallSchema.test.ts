/**
 * Tool-call arguments that are whole JSON but fail the output parser's schema, read through
 * `withStructuredOutput(zodSchema)` in its tool-calling mode (a `JsonOutputKeyToolsParser` with the
 * schema), with the real ChatOpenAI (1.6, or 1.0 in the 'langchain 1.0' jest project) against a small Chat
 * Completions server over a real socket. `invoke()` rejects such a reply (the parser's `parseResult`
 * validates the arguments: an `OutputParserException`), so the call falls back; streamed, LangChain's
 * parser yields the arguments unchecked and, without the adapter, ends as a success. Through the adapter
 * the stream gets invoke()'s verdict when the parser's run ends: before any chunk with content reached the
 * caller an invalid reply that falls back, after it an InvalidStreamOutputError.
 */
import { randomUUID } from 'node:crypto';
import { JsonOutputKeyToolsParser } from '@langchain/core/output_parsers/openai_tools';
import { RunnableLambda, type Runnable } from '@langchain/core/runnables';
import { ChatOpenAI } from '@langchain/openai';
import { z } from 'zod';
import { InvalidStreamOutputError, StreamInterruptedError, withResilience } from '../src';
import { recordsReach } from './fakeProvider';
import { attemptsOf, readStream, scriptedChatServer, sseEvents, watchedEngine } from './scriptedChatServer';

const VALID = { title: 'Quarterly results', bullets: ['Revenue up 4%'] };
/** A tree `depth` levels deep whose deepest node has `children: 5` (the schema wants an array). */
function deepTree(depth: number): unknown {
  let node: unknown = { type: 'a', children: 5 };
  for (let i = 0; i < depth; i++) node = { type: 'b', children: [node] };
  return node;
}
/** The tool-call arguments each model answers with (models named `gpt-4-*`: withStructuredOutput's default method for them is functionCalling). */
const ARGUMENTS: Record<string, string> = {
  // Whole JSON, a wrong type: the schema wants a string title.
  'gpt-4-wrong-type': '{"title": 5, "bullets": ["Revenue up 4%"]}',
  // Whole JSON, nothing in it: the parser yields only `{}` (no content), the schema wants both fields.
  'gpt-4-empty': '{}',
  'gpt-4-valid': JSON.stringify(VALID),
  // Whole JSON for a z.record(z.string(), z.number()), a wrong value type: its key is the reply's own text (a customer's e-mail address).
  'gpt-4-record': '{"alice.smith@example.com": "forty"}',
  // Whole JSON for a recursive tree schema, wrong only at its deepest node (10 levels down).
  'gpt-4-tree': JSON.stringify(deepTree(10)),
  'gpt-4-tree-valid': JSON.stringify({ type: 'a', children: [] }),
  // Models named `gpt-4-x-*` call the tool `extract` (withStructuredOutput's name for a schema given without one).
  'gpt-4-x-urgent': '{"spam": "urgent"}',
  'gpt-4-x-ham': '{"spam": "ham"}',
  'gpt-4-x-kind-ham': '{"kind": "ham"}',
  'gpt-4-x-kind-spam': '{"kind": "spam"}',
  'gpt-4-x-priority': '{"priority": "high"}',
};
/** The tool a model calls: `extract` for `gpt-4-x-*`, else `summary`. */
const toolOf = (model: string) => (model.startsWith('gpt-4-x-') ? 'extract' : 'summary');
const USAGE = { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 };

/** The reply as a Chat Completions SSE stream: the call's header, its arguments in pieces, the finish chunk, usage, [DONE]. */
function streamed(model: string, args: string, includeUsage: boolean): string[] {
  const name = toolOf(model);
  const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1_700_000_000, model };
  const chunk = (delta: object, finish: string | null) => ({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  const pieces = args.match(/.{1,6}/gs) ?? [];
  return sseEvents([
    chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name, arguments: '' } }] }, null),
    ...pieces.map((p) => chunk({ tool_calls: [{ index: 0, function: { arguments: p } }] }, null)),
    chunk({}, 'tool_calls'),
    ...(includeUsage ? [{ ...base, choices: [], usage: USAGE }] : []),
  ]);
}

const server = scriptedChatServer((body) => {
  const args = ARGUMENTS[body.model]!;
  if (body.stream === true) return { events: streamed(body.model, args, body.stream_options?.include_usage === true) };
  const message = { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: toolOf(body.model), arguments: args } }] };
  return { body: { id: 'chatcmpl-1', object: 'chat.completion', created: 1_700_000_000, model: body.model, choices: [{ index: 0, message, logprobs: null, finish_reason: 'tool_calls' }], usage: USAGE } };
});

/** Targets named after their model (`wrong-type` is `gpt-4-wrong-type`); each route falls back to `valid`. One failure opens a breaker. */
function engineOf() {
  return watchedEngine({
    targets: Object.fromEntries(Object.keys(ARGUMENTS).map((m) => [m.slice('gpt-4-'.length), { provider: 'openai', model: m }])),
    // `outer`: the route of a ResilientRunnable wrapping another (one target, whatever the inner one calls).
    routes: { 'wrong-type': { chain: ['wrong-type', 'valid'] }, empty: { chain: ['empty', 'valid'] }, valid: { chain: ['valid'] }, outer: { chain: ['valid'] }, record: { chain: ['record'] }, tree: { chain: ['tree', 'tree-valid'] }, 'x-urgent': { chain: ['x-urgent', 'x-ham'] }, 'x-kind-ham': { chain: ['x-kind-ham', 'x-kind-spam'] } },
    breaker: { consecutiveFailures: 1, minimumCalls: 100 },
  });
}

const chat = (model: string) => new ChatOpenAI({ model, apiKey: 'test-key', maxRetries: 0, configuration: { baseURL: server.baseURL } });
const Summary = z.object({ title: z.string(), bullets: z.array(z.string()).min(1) });

type Chain = (model: string) => Runnable<string, unknown>;
const schemaChains: Array<[string, Chain]> = [
  ['withStructuredOutput(zodSchema) (its default tool-calling mode for gpt-4-*)', (m) => chat(m).withStructuredOutput(Summary, { name: 'summary' }) as Runnable<string, unknown>],
  [
    'bindTools().pipe(new JsonOutputKeyToolsParser({ zodSchema }))',
    (m) =>
      chat(m)
        .bindTools([{ type: 'function', function: { name: 'summary', description: 'A summary.', parameters: z.toJSONSchema(Summary) } }], { tool_choice: 'summary' })
        .pipe(new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema: Summary })) as Runnable<string, unknown>,
  ],
];

const PROMPT = 'Summarize the meeting.';


/** The chain wrapped on route `route`, its fallback the same chain over `gpt-4-valid`. */
function resilient(chain: Chain, route: string) {
  const r = engineOf();
  const first = `gpt-4-${route}`;
  return { ...r, safe: withResilience(chain(first), { engine: r.engine, route, ...(route === 'valid' ? {} : { fallbacks: [chain('gpt-4-valid')] }) }) };
}

describe('tool-call arguments of the wrong type (whole JSON) after the parser yielded them', () => {
  it.each(schemaChains)('%s: without the adapter the stream ends as a success with the unchecked arguments, where invoke() throws', async (_, chain) => {
    const { chunks, err } = await readStream(chain('gpt-4-wrong-type').stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks.at(-1)).toEqual({ title: 5, bullets: ['Revenue up 4%'] });
    await expect(chain('gpt-4-wrong-type').invoke(PROMPT)).rejects.toThrow('Failed to parse');
  });

  it.each(schemaChains)('%s: invoke() falls back; stream() ends with InvalidStreamOutputError after the arguments went out', async (_, chain) => {
    const { safe, engine, records, transitions } = resilient(chain, 'wrong-type');
    expect(await safe.invoke(PROMPT)).toEqual(VALID);
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    // The chunks are LangChain's, unchanged: the raw arguments as they came.
    expect(chunks.at(-1)).toEqual({ title: 5, bullets: ['Revenue up 4%'] });
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
    expect(err).toMatchObject({
      kind: 'validation_failed',
      code: 'ERR_LLMR_STREAM_INVALID_OUTPUT',
      target: 'wrong-type',
      reason: "the reply does not match the output parser's schema: title: expected string, got a number",
      chunksReceived: chunks.length,
    });
    // The error says where and what the schema expected, never what the reply said.
    expect((err as Error).message).not.toContain('Revenue');
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([['wrong-type:validation_failed', 'valid:success'], ['wrong-type:success']]);
    // The reply was generated to its end and billed: the usage the provider reported; no breaker verdict.
    expect(records[1]).toMatchObject({ outcome: 'failure', error_kind: 'validation_failed', fallback_used: false, output_tokens: USAGE.completion_tokens });
    expect(transitions).toEqual([]);
    expect(server.requests).toEqual(['gpt-4-wrong-type', 'gpt-4-valid', 'gpt-4-wrong-type']);
  });
});

describe('tool-call arguments the schema rejects before anything reached the caller: an invalid reply that falls back, as in invoke()', () => {
  it.each(schemaChains)('%s, arguments `{}` (the parser yields only the empty object): falls back in stream() as in invoke()', async (_, chain) => {
    // Without the adapter the stream yields nothing with content and is a success, where invoke() throws.
    expect((await readStream(chain('gpt-4-empty').stream(PROMPT))).chunks).toEqual([{}]);
    await expect(chain('gpt-4-empty').invoke(PROMPT)).rejects.toThrow('Failed to parse');
    const { safe, engine, records, transitions } = resilient(chain, 'empty');
    expect(await safe.invoke(PROMPT)).toEqual(VALID);
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks.at(-1)).toEqual(VALID);
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([
      ['empty:validation_failed', 'valid:success'],
      ['empty:validation_failed', 'valid:success'],
    ]);
    expect(transitions).toEqual([]);
  });

  it.each(schemaChains)('%s, the wrong-type arguments held back by a later step until the parser ended: falls back, as in invoke()', async (_, chain) => {
    // A step that is not a generator reads its whole input before it yields: the parser's run has ended.
    const held: Chain = (m) => chain(m).pipe(RunnableLambda.from(() => 'summary ready'));
    const { safe, engine, records } = resilient(held, 'wrong-type');
    expect(await safe.invoke(PROMPT)).toBe('summary ready');
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks).toEqual(['summary ready']);
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([
      ['wrong-type:validation_failed', 'valid:success'],
      ['wrong-type:validation_failed', 'valid:success'],
    ]);
  });
});

describe('arguments the schema accepts', () => {
  it.each(schemaChains)('%s: a success in stream() and invoke(), the chunks unchanged', async (_, chain) => {
    const plain = await readStream(chain('gpt-4-valid').stream(PROMPT));
    const { safe, engine, records } = resilient(chain, 'valid');
    expect(await safe.invoke(PROMPT)).toEqual(VALID);
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks).toEqual(plain.chunks);
    expect(chunks.at(-1)).toEqual(VALID);
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([['valid:success'], ['valid:success']]);
  });
});

describe("withStructuredOutput(zodSchema, { includeRaw: true }): the parser's invoke() runs inside the chain, streamed or not", () => {
  const chain: Chain = (m) => chat(m).withStructuredOutput(Summary, { name: 'summary', includeRaw: true }) as Runnable<string, unknown>;

  it("arguments of the wrong type: invoke() gives `parsed: null`; LangChain's own stream yields `{ raw }`, then throws the parser's error (its fallback to `parsed: null` comes too late), which ends the stream with InvalidStreamOutputError", async () => {
    const plain = await readStream(chain('gpt-4-wrong-type').stream(PROMPT));
    expect(plain.chunks.map((c) => Object.keys(c as object))).toEqual([['raw']]);
    expect(plain.err).toMatchObject({ message: expect.stringContaining('Failed to parse') });
    const { safe, engine, records } = resilient(chain, 'wrong-type');
    expect(await safe.invoke(PROMPT)).toMatchObject({ parsed: null });
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(chunks.map((c) => Object.keys(c as object))).toEqual([['raw']]);
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
    expect(err).toMatchObject({ target: 'wrong-type', reason: "the reply does not match the output parser's schema", chunksReceived: 1 });
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([['wrong-type:success'], ['wrong-type:success']]);
    expect(records[1]).toMatchObject({ outcome: 'failure', error_kind: 'validation_failed' });
  });

  it('valid arguments: a success in stream() and invoke(), `parsed` the checked object', async () => {
    const { safe, engine, records } = resilient(chain, 'valid');
    expect(await safe.invoke(PROMPT)).toMatchObject({ parsed: VALID });
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks.at(-1)).toEqual({ parsed: VALID });
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([['valid:success'], ['valid:success']]);
  });
});

describe('a ResilientRunnable inside a ResilientRunnable: each attempt judges only its own parser runs', () => {
  // Callbacks are inherited: the outer attempt's watcher sees the inner attempts' runs (and the inner
  // primary's parser is inside the runnable it watches), but the inner attempts' own watchers judge them.
  it("the inner stream rejects `{}` and falls back to valid arguments: the outer stream is a success with the inner fallback's object, as the outer invoke() is", async () => {
    const chain = schemaChains[0]![1];
    const inner = engineOf();
    const outer = engineOf();
    const innerSafe = withResilience(chain('gpt-4-empty'), { engine: inner.engine, route: 'empty', fallbacks: [chain('gpt-4-valid')] });
    const outerSafe = withResilience(innerSafe as Runnable<string, unknown>, { engine: outer.engine, route: 'outer' });
    expect(await outerSafe.invoke(PROMPT)).toEqual(VALID);
    const alone = await readStream(innerSafe.stream(PROMPT));
    expect(alone.err).toBeUndefined();
    expect(alone.chunks.at(-1)).toEqual(VALID);
    const { chunks, err } = await readStream(outerSafe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks.at(-1)).toEqual(VALID);
    await recordsReach(outer.engine, outer.records, 2);
    expect(outer.records.map(attemptsOf)).toEqual([['valid:success'], ['valid:success']]);
    // The inner runnable judged its own attempts: `{}` rejected each time, then the fallback.
    await recordsReach(inner.engine, inner.records, 3);
    expect(inner.records.map(attemptsOf)).toEqual([
      ['empty:validation_failed', 'valid:success'],
      ['empty:validation_failed', 'valid:success'],
      ['empty:validation_failed', 'valid:success'],
    ]);
  });

  it("the inner stream rejects arguments after they went out and has no fallback: the outer stream breaks on the inner InvalidStreamOutputError (not a rejection of the outer attempt's own)", async () => {
    const chain = schemaChains[0]![1];
    const inner = engineOf();
    const outer = engineOf();
    const innerSafe = withResilience(chain('gpt-4-wrong-type'), { engine: inner.engine, route: 'valid' });
    const outerSafe = withResilience(innerSafe as Runnable<string, unknown>, { engine: outer.engine, route: 'outer' });
    const invoked = await outerSafe.invoke(PROMPT).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(invoked).toBeInstanceOf(Error);
    const { err } = await readStream(outerSafe.stream(PROMPT));
    // A mid-stream error of the wrapped runnable, as any: the outer attempt had handed content on.
    expect(err).toBeInstanceOf(StreamInterruptedError);
    expect((err as Error).cause).toBeInstanceOf(InvalidStreamOutputError);
  });
});

/** Whether this @langchain/core's JsonOutputKeyToolsParser takes a Standard Schema (`serializableSchema`, 1.4). */
const takesStandardSchema = 'serializableSchema' in new JsonOutputKeyToolsParser({ keyName: 'x' } as never);

describe('a zod 4 schema with a default factory (`.default(() => randomUUID())`), whose serialized form differs each time on @langchain/core 1.4', () => {
  const factory = jest.fn(() => randomUUID());
  const WithId = z.object({ id: z.string().default(factory), title: z.string(), bullets: z.array(z.string()).min(1) });
  const chain: Chain = (m) => chat(m).withStructuredOutput(WithId, { name: 'summary' }) as Runnable<string, unknown>;

  it('wrong-type arguments: invoke() falls back; stream() ends with InvalidStreamOutputError after the arguments went out', async () => {
    await expect(chain('gpt-4-wrong-type').invoke(PROMPT)).rejects.toThrow('Failed to parse');
    const { safe, engine, records } = resilient(chain, 'wrong-type');
    expect(await safe.invoke(PROMPT)).toMatchObject(VALID);
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(chunks.at(-1)).toEqual({ title: 5, bullets: ['Revenue up 4%'] });
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
    expect(err).toMatchObject({ reason: "the reply does not match the output parser's schema: title: expected string, got a number" });
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([['wrong-type:validation_failed', 'valid:success'], ['wrong-type:success']]);
  });

  it("valid arguments: a success; the adapter never serializes the parser to find it (one default made: the schema check invoke() makes too)", async () => {
    // What LangChain makes itself when callbacks watch the stream (1.4 serializes each run's runnable for handleChainStart).
    const plain = chain('gpt-4-valid');
    factory.mockClear();
    await readStream(plain.stream(PROMPT, { callbacks: [{ handleChainStart: () => undefined }] }));
    const byLangChain = factory.mock.calls.length;
    const { safe } = resilient(chain, 'valid');
    factory.mockClear();
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks.at(-1)).toMatchObject(VALID);
    expect(factory.mock.calls.length).toBe(byLangChain + 1);
  });
});

if (!takesStandardSchema) {
  it("@langchain/core 1.0: the tool-call parser takes no Standard Schema (no `serializableSchema`), so a function schema has nothing to check there", () => {
    expect(new JsonOutputKeyToolsParser({ keyName: 'x' } as never)).not.toHaveProperty('serializableSchema');
  });
}

(takesStandardSchema ? describe : () => undefined)('a Standard Schema that is a function (ArkType `type()` objects are callable), @langchain/core 1.4', () => {
  const jsonSchema = { type: 'object', properties: { title: { type: 'string' }, bullets: { type: 'array', items: { type: 'string' } } }, required: ['title', 'bullets'] };
  const validate = (v: unknown) => {
    const o = v as { title?: unknown; bullets?: unknown };
    return typeof o?.title === 'string' && Array.isArray(o.bullets) && o.bullets.length > 0 ? { value: v } : { issues: [{ message: 'invalid', path: ['title'] }] };
  };
  const callable = Object.assign((v: unknown) => validate(v), {
    '~standard': { version: 1, vendor: 'arktype-like', validate, jsonSchema: { input: () => jsonSchema, output: () => jsonSchema } },
  });
  const chain: Chain = (m) =>
    chat(m)
      .bindTools([{ type: 'function', function: { name: 'summary', description: 'A summary.', parameters: jsonSchema } }], { tool_choice: 'summary' })
      .pipe(new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, serializableSchema: callable } as never)) as Runnable<string, unknown>;

  it('wrong-type arguments: invoke() falls back; stream() ends with InvalidStreamOutputError, naming the field its JSON Schema names', async () => {
    await expect(chain('gpt-4-wrong-type').invoke(PROMPT)).rejects.toThrow('Failed to parse');
    const { safe, engine, records } = resilient(chain, 'wrong-type');
    expect(await safe.invoke(PROMPT)).toEqual(VALID);
    const { err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
    expect(err).toMatchObject({ reason: "the reply does not match the output parser's schema: title: invalid" });
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([['wrong-type:validation_failed', 'valid:success'], ['wrong-type:success']]);
  });
});

describe("the InvalidStreamOutputError's reason never quotes the reply: keys the schema does not name (a z.record's) are `<key>`", () => {
  const chain: Chain = (m) => chat(m).withStructuredOutput(z.record(z.string(), z.number()), { name: 'summary' }) as Runnable<string, unknown>;

  it("a z.record whose value has the wrong type: the reason, message and record hold no key the reply made up", async () => {
    const { engine, records } = engineOf();
    const safe = withResilience(chain('gpt-4-record'), { engine, route: 'record' });
    const { err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
    expect(err).toMatchObject({ reason: "the reply does not match the output parser's schema: <key>: expected number, got a string" });
    expect((err as Error).message).not.toContain('alice.smith@example.com');
    await recordsReach(engine, records, 1);
    expect(JSON.stringify(records)).not.toContain('alice.smith@example.com');
  });
});

describe('a recursive tree schema (z.lazy of a discriminated union of 3 node kinds, each with `children: z.array(Tree)`) and a reply wrong 10 levels down', () => {
  type Node = { type: 'a' | 'b' | 'c'; children: Node[] };
  const Tree: z.ZodType<Node> = z.lazy(() =>
    z.discriminatedUnion('type', [
      z.object({ type: z.literal('a'), children: z.array(Tree) }),
      z.object({ type: z.literal('b'), children: z.array(Tree) }),
      z.object({ type: z.literal('c'), children: z.array(Tree) }),
    ]),
  );
  const chain: Chain = (m) => chat(m).withStructuredOutput(Tree, { name: 'summary' }) as Runnable<string, unknown>;

  it('stream() ends promptly with InvalidStreamOutputError naming the path (the schema is not expanded anew for each alternative at each level), and invoke() falls back', async () => {
    await expect(chain('gpt-4-tree').invoke(PROMPT)).rejects.toThrow();
    const { engine, records } = engineOf();
    const safe = withResilience(chain('gpt-4-tree'), { engine, route: 'tree', fallbacks: [chain('gpt-4-tree-valid')] });
    expect(await safe.invoke(PROMPT)).toEqual({ type: 'a', children: [] });
    const t0 = Date.now();
    const { err } = await readStream(safe.stream(PROMPT));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(err).toBeInstanceOf(InvalidStreamOutputError);
    const path = [...Array<string>(10).fill('children.0'), 'children'].join('.');
    expect(err).toMatchObject({ reason: `the reply does not match the output parser's schema: ${path}: expected array, got a number` });
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)[0]).toEqual(['tree:validation_failed', 'tree-valid:success']);
  }, 60_000);
});

describe('two tool-call parsers of one tool (`withStructuredOutput` without `name`: both `extract`) whose schemas differ only in values, in one sequence', () => {
  const Spam = z.object({ spam: z.enum(['spam', 'ham']) });
  const Urgency = z.object({ spam: z.enum(['urgent', 'normal']) });
  const IsSpam = z.object({ kind: z.literal('spam') });
  const IsHam = z.object({ kind: z.literal('ham') });
  /** `first` over model `m`, a lambda (it reads its whole input: the first parser's run ends before anything goes out), then `second` over `secondModel`. */
  const both =
    (first: z.ZodType, second: z.ZodType, secondModel: string): Chain =>
    (m) =>
      chat(m)
        .withStructuredOutput(first)
        .pipe(RunnableLambda.from((r: unknown) => `Label this: ${JSON.stringify(r)}`))
        .pipe(chat(secondModel).withStructuredOutput(second)) as unknown as Runnable<string, unknown>;

  it.each([
    ['z.enum members', both(Spam, Urgency, 'gpt-4-x-urgent'), 'x-urgent', 'x-ham', { spam: 'urgent' }],
    ['z.literal values', both(IsSpam, IsHam, 'gpt-4-x-kind-ham'), 'x-kind-ham', 'x-kind-spam', { kind: 'ham' }],
  ])("%s: the first reply fails the first parser's schema (the second's would accept it): stream() falls back, as invoke() does", async (_, chain, route, fallback, result) => {
    await expect(chain(`gpt-4-${route}`).invoke(PROMPT)).rejects.toThrow('Failed to parse');
    const { engine, records } = engineOf();
    const safe = withResilience(chain(`gpt-4-${route}`), { engine, route, fallbacks: [chain(`gpt-4-${fallback}`)] });
    expect(await safe.invoke(PROMPT)).toEqual(result);
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks.at(-1)).toEqual(result);
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([
      [`${route}:validation_failed`, `${fallback}:success`],
      [`${route}:validation_failed`, `${fallback}:success`],
    ]);
  });

  it('z.enum members: replies each parser accepts are a success', async () => {
    const chain = both(Urgency, Spam, 'gpt-4-x-ham');
    const { engine, records } = engineOf();
    const safe = withResilience(chain('gpt-4-x-urgent'), { engine, route: 'x-urgent', fallbacks: [chain('gpt-4-x-ham')] });
    expect(await safe.invoke(PROMPT)).toEqual({ spam: 'ham' });
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks.at(-1)).toEqual({ spam: 'ham' });
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([['x-urgent:success'], ['x-urgent:success']]);
  });
});

describe('a tool-call parser in the middle of a sequence (a lambda, then another model with structured output after it)', () => {
  const Spam = z.object({ spam: z.enum(['spam', 'ham']) });
  const Priority = z.object({ priority: z.enum(['high', 'low']) });
  const chain: Chain = (m) =>
    chat(m)
      .withStructuredOutput(Spam)
      .pipe(RunnableLambda.from((r: { spam: string }) => `A message labelled ${r.spam}: how urgent is it?`))
      .pipe(chat('gpt-4-x-priority').withStructuredOutput(Priority)) as unknown as Runnable<string, unknown>;

  it("the first reply fails its parser's schema: invoke() falls back, and so does stream() (judged at the stream's first content, after the second model answered)", async () => {
    await expect(chain('gpt-4-x-urgent').invoke(PROMPT)).rejects.toThrow('Failed to parse');
    const { engine, records } = engineOf();
    const safe = withResilience(chain('gpt-4-x-urgent'), { engine, route: 'x-urgent', fallbacks: [chain('gpt-4-x-ham')] });
    expect(await safe.invoke(PROMPT)).toEqual({ priority: 'high' });
    const { chunks, err } = await readStream(safe.stream(PROMPT));
    expect(err).toBeUndefined();
    expect(chunks.at(-1)).toEqual({ priority: 'high' });
    await recordsReach(engine, records, 2);
    expect(records.map(attemptsOf)).toEqual([
      ['x-urgent:validation_failed', 'x-ham:success'],
      ['x-urgent:validation_failed', 'x-ham:success'],
    ]);
    // invoke() stops at the first parser; stream() judges that parser's run when the first content comes, from the last step.
    expect(server.requests).toEqual(['gpt-4-x-urgent', 'gpt-4-x-urgent', 'gpt-4-x-ham', 'gpt-4-x-priority', 'gpt-4-x-urgent', 'gpt-4-x-priority', 'gpt-4-x-ham', 'gpt-4-x-priority']);
  });
});
