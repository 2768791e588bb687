/**
 * stream() of withResilience(ChatOpenAI) left with `break` while the provider is silent, over a real
 * socket. LangChain's stream reads one chunk ahead: when the caller breaks, a read already waits on the
 * provider. The break must not wait for the provider's next chunk: it settles the request at once (a
 * success with what was used), frees its concurrency slot and closes the provider's connection.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChatOpenAI } from '@langchain/openai';
import { withResilience } from '../src';
import { recordsReach } from './fakeProvider';
import { watchedEngine } from './scriptedChatServer';

const chunk = (delta: object) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-x',
  choices: [{ index: 0, delta, finish_reason: null }],
});

const completion = {
  id: 'chatcmpl-2',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-x',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Again' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
};

let server: Server;
let baseURL: string;
/** One per streamed request: resolves when the client closed the connection (the server never ends it). */
let closed: Array<Promise<void>> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as { stream?: boolean };
      if (body.stream !== true) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(completion));
        return;
      }
      closed.push(new Promise<void>((resolve) => res.on('close', () => resolve())));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const delta of [{ role: 'assistant', content: '' }, { content: 'Hello' }, { content: ' world' }]) {
        res.write(`data: ${JSON.stringify(chunk(delta))}\n\n`);
      }
      // ...then the provider stays silent, the connection open.
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});
beforeEach(() => {
  closed = [];
});

function resilient() {
  const { engine, records } = watchedEngine({
    targets: { 'gpt-a': { provider: 'openai', model: 'gpt-x' } },
    routes: { chat: { chain: ['gpt-a'] } },
    limits: [{ scope: ['model'], metric: 'concurrency', limit: 1, match: { model: 'gpt-x' } }],
  });
  const model = new ChatOpenAI({ model: 'gpt-x', apiKey: 'test-key', maxRetries: 0, configuration: { baseURL } });
  return { engine, records, safe: withResilience(model, { engine, route: 'chat' }) };
}

/** Reads the stream up to its first chunk with content, then breaks: the text read. */
async function breakAfterFirstContent(stream: Promise<AsyncIterable<{ content: unknown }>>): Promise<string> {
  for await (const c of await stream) {
    if (String(c.content) !== '') return String(c.content);
  }
  throw new Error('the stream ended without content');
}

describe('stream() left with break while the provider is silent', () => {
  it('returns from the break, records a success and closes the provider connection', async () => {
    const { engine, records, safe } = resilient();
    // Without the stop, this await waits for the provider's next chunk (never): the test times out.
    expect(await breakAfterFirstContent(safe.stream('Say hello'))).toBe('Hello');
    await recordsReach(engine, records, 1);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'success', final_target: 'gpt-a', fallback_used: false });
    expect(closed).toHaveLength(1);
    await closed[0];
  }, 10_000);

  it('frees the concurrency slot at the break: a second request is admitted at once', async () => {
    const { engine, records, safe } = resilient();
    expect(await breakAfterFirstContent(safe.stream('Say hello'))).toBe('Hello');
    // With the route's only slot still held, this call would queue behind the silent stream.
    const again = await safe.invokeWithResult('again', { resilience: { deadline: engine.clock.now() + 5_000 } });
    expect(String(again.value.content)).toBe('Again');
    expect(again.record).toMatchObject({ outcome: 'success', final_target: 'gpt-a' });
    expect(again.record.skipped).toEqual([]);
    await recordsReach(engine, records, 2);
    expect(records.map((r) => r.outcome)).toEqual(['success', 'success']);
  }, 10_000);
});
