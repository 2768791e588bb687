/**
 * Test helpers for suites that script a Chat Completions server on a real socket (what the fake provider
 * cannot produce: a reply cut before any text, tool-call arguments in pieces) and read the real
 * ChatOpenAI through `withResilience()`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createResilience, definePolicy, type PolicyInput, type RequestRecord } from '@llm-resilience/core';

/** What the scripted server answers one request with: SSE events (each a whole `data: ...\n\n`), or a JSON body. */
export type ScriptedAnswer = { events: string[] } | { body: object };

/** The body fields the server reads. */
export interface ChatRequestBody {
  model: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
}

/** The running server of {@link scriptedChatServer}: its base URL (once started) and the models requested since the test began. */
export interface ScriptedChatServer {
  readonly baseURL: string;
  readonly requests: string[];
}

/**
 * Starts a Chat Completions server for the suite (jest `beforeAll`, closed in `afterAll`) that answers
 * each request with `answer(body)`; `requests` lists the models asked for, reset before each test.
 *
 * @example
 * ```ts
 * const server = scriptedChatServer((b) => ({ body: completion(b.model) }));
 * const chat = (model: string) => new ChatOpenAI({ model, apiKey: 'k', configuration: { baseURL: server.baseURL } });
 * ```
 */
export function scriptedChatServer(answer: (body: ChatRequestBody) => ScriptedAnswer): ScriptedChatServer {
  let server: Server;
  const handle = { baseURL: '', requests: [] as string[] };
  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString()));
      req.on('end', () => {
        const body = JSON.parse(raw) as ChatRequestBody;
        handle.requests.push(body.model);
        const a = answer(body);
        if ('events' in a) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          for (const event of a.events) res.write(event);
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(a.body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    handle.baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    handle.requests.length = 0;
  });
  return handle;
}

/**
 * Chunks as Chat Completions SSE events: each `data: <json>\n\n`, then `data: [DONE]\n\n`.
 *
 * @example
 * ```ts
 * sseEvents([{ choices: [] }]); // ['data: {"choices":[]}\n\n', 'data: [DONE]\n\n']
 * ```
 */
export function sseEvents(chunks: readonly object[]): string[] {
  return chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).concat('data: [DONE]\n\n');
}

/**
 * An engine on `policy`, with the records it emits and its breakers' transitions (`key: from -> to`).
 *
 * @example
 * ```ts
 * const { engine, records, transitions } = watchedEngine({ targets, routes, breaker: { consecutiveFailures: 1 } });
 * ```
 */
export function watchedEngine(policy: PolicyInput): { engine: ReturnType<typeof createResilience>; records: RequestRecord[]; transitions: string[] } {
  const engine = createResilience(definePolicy(policy, { onWarning: () => undefined }));
  const records: RequestRecord[] = [];
  const transitions: string[] = [];
  engine.events.on('record', (r) => records.push(r));
  engine.events.on('breaker', (t) => transitions.push(`${t.key}: ${t.from} -> ${t.to}`));
  return { engine, records, transitions };
}

/**
 * A record's attempts as `target:errorKind` (or `target:outcome`).
 *
 * @example
 * ```ts
 * expect(records.map(attemptsOf)).toEqual([['cut:validation_failed', 'whole:success']]);
 * ```
 */
export const attemptsOf = (r: RequestRecord): string[] => r.attempts.map((a) => `${a.target}:${a.errorKind ?? a.outcome}`);

/**
 * Reads a stream to its end: its chunks, and what it threw, if anything.
 *
 * @example
 * ```ts
 * const { chunks, err } = await readStream(safe.stream(PROMPT));
 * ```
 */
export async function readStream<T>(stream: Promise<AsyncIterable<T>>): Promise<{ chunks: T[]; err?: unknown }> {
  const chunks: T[] = [];
  try {
    for await (const c of await stream) chunks.push(c);
    return { chunks };
  } catch (err) {
    return { chunks, err };
  }
}
