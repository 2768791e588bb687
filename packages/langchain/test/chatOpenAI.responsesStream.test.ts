/**
 * Tool calls streamed by ChatOpenAI through OpenAI's Responses API (`useResponsesApi: true`), served by a
 * small Responses-API server over a real socket (the fake provider has no /v1/responses), with the
 * @langchain/openai under test (1.6, or 1.0 in the 'langchain 1.0' jest project) and @langchain/openai
 * 1.0.0 itself (inside the package's peer range). A stream whose tool call ends with incomplete
 * arguments fails only when the reply says it was cut off (`status: 'incomplete'`): a custom tool's raw
 * input (not JSON by design) is a success whichever version streamed it, and a function call cut off by
 * `max_output_tokens` fails the stream only with a version that passes the `response.incomplete` event on.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AIMessageChunk } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { ChatOpenAI as ChatOpenAI10 } from '@langchain/openai10';
import { createResilience, definePolicy, type RequestRecord } from '@llm-resilience/core';
import { InvalidStreamOutputError, withResilience } from '../src';
import { recordsReach } from './fakeProvider';

/** The version of `@langchain/openai` under test (the jest project's resolver picks the copy). */
const testedVersion = (require('@langchain/openai/package.json') as { version: string }).version;
/** Whether an @langchain/openai version passes the Responses API's `response.incomplete` event on (1.4.7 and later). */
const passesIncompleteOn = (version: string): boolean => {
  const [major = 0, minor = 0, patch = 0] = version.split('.').map((n) => Number.parseInt(n, 10));
  return major > 1 || (major === 1 && (minor > 4 || (minor === 4 && patch >= 7)));
};

const SQL = 'SELECT name FROM users WHERE active';
const CUT_ARGS = '{"title":"Quarterly res';
const USAGE = { input_tokens: 20, output_tokens: 8, total_tokens: 28, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } };

const response = (status: string, output: object[], usage: object | null, extra: object = {}) => ({
  id: 'resp_1',
  object: 'response',
  created_at: 1_700_000_000,
  status,
  model: 'gpt-x',
  output,
  usage,
  ...extra,
});

/** The events of one custom tool call (raw text input), then `response.completed`. */
function customToolCall(): object[] {
  const item = { type: 'custom_tool_call', id: 'ctc_1', call_id: 'call_1', name: 'run_sql', input: '', status: 'in_progress' };
  const done = { ...item, input: SQL, status: 'completed' };
  return [
    { type: 'response.created', response: response('in_progress', [], null) },
    { type: 'response.output_item.added', output_index: 0, item },
    { type: 'response.custom_tool_call_input.delta', output_index: 0, item_id: 'ctc_1', delta: 'SELECT name ' },
    { type: 'response.custom_tool_call_input.delta', output_index: 0, item_id: 'ctc_1', delta: 'FROM users WHERE active' },
    { type: 'response.custom_tool_call_input.done', output_index: 0, item_id: 'ctc_1', input: SQL },
    { type: 'response.output_item.done', output_index: 0, item: done },
    { type: 'response.completed', response: response('completed', [done], USAGE) },
  ];
}

/** The events of one function call cut off by `max_output_tokens`, ending with `response.incomplete`. */
function cutFunctionCall(): object[] {
  const item = { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'summary', arguments: '', status: 'in_progress' };
  const cut = { ...item, arguments: CUT_ARGS, status: 'incomplete' };
  return [
    { type: 'response.created', response: response('in_progress', [], null) },
    { type: 'response.output_item.added', output_index: 0, item },
    { type: 'response.function_call_arguments.delta', output_index: 0, item_id: 'fc_1', delta: '{"title":"Quar' },
    { type: 'response.function_call_arguments.delta', output_index: 0, item_id: 'fc_1', delta: 'terly res' },
    { type: 'response.incomplete', response: response('incomplete', [cut], USAGE, { incomplete_details: { reason: 'max_output_tokens' } }) },
  ];
}

let script: () => object[] = customToolCall;
let server: Server;
let baseURL: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      script().forEach((e, n) => res.write(`event: ${(e as { type: string }).type}\ndata: ${JSON.stringify({ ...e, sequence_number: n })}\n\n`));
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function engineOf() {
  const policy = definePolicy({ targets: { 'gpt-a': { provider: 'openai', model: 'gpt-x' } }, routes: { tools: { chain: ['gpt-a'] } } }, { onWarning: () => undefined });
  const engine = createResilience(policy);
  const records: RequestRecord[] = [];
  engine.events.on('record', (r) => records.push(r));
  return { engine, records };
}

type Model = { stream(input: string): Promise<AsyncIterable<AIMessageChunk>> };
const fields = () => ({ model: 'gpt-x', apiKey: 'test-key', maxRetries: 0, useResponsesApi: true, configuration: { baseURL } });
const models: Array<[string, string, () => Model]> = [
  [`@langchain/openai ${testedVersion}`, testedVersion, () => new ChatOpenAI(fields()) as unknown as Model],
  ['@langchain/openai 1.0.0', '1.0.0', () => new ChatOpenAI10(fields()) as unknown as Model],
];

/** The chunks of a stream read to its end, and what it threw, if anything. */
async function readStream(stream: Promise<AsyncIterable<AIMessageChunk>>): Promise<{ chunks: AIMessageChunk[]; error?: unknown }> {
  const chunks: AIMessageChunk[] = [];
  try {
    for await (const c of await stream) chunks.push(c);
    return { chunks };
  } catch (error) {
    return { chunks, error };
  }
}

describe('tool calls streamed through the Responses API', () => {
  it.each(models)("a whole custom tool call (raw text input, not JSON by design) streams as it does without the adapter, a success (%s)", async (_, __, model) => {
    script = customToolCall;
    const bare = (await readStream(model().stream('List active users'))).chunks;
    expect(JSON.stringify(bare.reduce((a, c) => a.concat(c)).additional_kwargs.tool_outputs)).toContain(SQL);
    const { engine, records } = engineOf();
    const { chunks, error } = await readStream(withResilience(model() as never, { engine, route: 'tools' }).stream('List active users') as never);
    expect(error).toBeUndefined();
    expect(chunks).toHaveLength(bare.length);
    await recordsReach(engine, records, 1);
    expect(records[0]).toMatchObject({ outcome: 'success', input_tokens: 20, output_tokens: 8 });
  });

  it.each(models)(
    "a function call cut off by max_output_tokens fails the stream when the reply says so (status 'incomplete', passed on from 1.4.7), else streams as without the adapter (%s)",
    async (_, version, model) => {
      script = cutFunctionCall;
      const bare = (await readStream(model().stream('Summarize the meeting'))).chunks.reduce((a, c) => a.concat(c));
      // LangChain reads the streamed arguments as partial JSON: the cut call is listed as a tool call to run.
      expect(bare.tool_calls).toMatchObject([{ name: 'summary', args: { title: 'Quarterly res' } }]);
      const says = passesIncompleteOn(version);
      expect(bare.response_metadata.status).toBe(says ? 'incomplete' : undefined);
      const { engine, records } = engineOf();
      const { chunks, error } = await readStream(withResilience(model() as never, { engine, route: 'tools' }).stream('Summarize the meeting') as never);
      expect(chunks.length).toBeGreaterThan(1);
      await recordsReach(engine, records, 1);
      if (says) {
        expect(error).toBeInstanceOf(InvalidStreamOutputError);
        expect(error).toMatchObject({ kind: 'validation_failed', target: 'gpt-a', reason: "the reply's tool call arguments are not valid JSON", chunksReceived: chunks.length });
        expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'validation_failed', output_tokens: 8 });
      } else {
        // Nothing says the reply was cut off (the SDK dropped the event that did): nothing is judged, as LangChain judges nothing.
        expect(error).toBeUndefined();
        expect(records[0]).toMatchObject({ outcome: 'success' });
      }
    },
  );
});
