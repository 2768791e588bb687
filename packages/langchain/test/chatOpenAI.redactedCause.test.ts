/**
 * The cause of a stream's own error (a stream of withResilience(ChatOpenAI) that broke after its first
 * chunk), against the fake provider over real HTTP: with the engine's `redact` option, the redacted
 * stand-in the engine's own errors carry (the SDK's error may quote the app's key: an echoing error body,
 * headers), the raw error still given back by `originalCauseOf`; without it, the SDK's error itself.
 */
import { inspect } from 'node:util';
import type { AIMessageChunk } from '@langchain/core/messages';
import { createResilience, definePolicy, originalCauseOf, type RequestRecord } from '@llm-resilience/core';
import { StreamInterruptedError, withResilience } from '../src';
import { recordsReach, startProvider, SUMMARY_TARGETS, type Provider } from './fakeProvider';
import { rejection } from './support';

/** The app's key, in a format the built-in key formats do not know (an Azure key: 32 hex characters). */
const KEY = '9f8e7d6c5b4a39281706f5e4d3c2b1a0';

let p: Provider;
beforeAll(async () => {
  p = await startProvider({ models: { 'summary-a': { contextWindow: 2_000, replyTokens: 40 } } });
});
afterAll(() => p.fake.stop());
beforeEach(() => {
  p.fake.setFaults([]);
  p.fake.reset();
});

/** An engine on the real clock, with `redact` naming the app's key or without it, collecting records. */
function engineOf(redact: boolean) {
  const policy = definePolicy({ targets: SUMMARY_TARGETS, routes: { summary: { chain: ['sum-a'] } } }, { onWarning: () => undefined });
  const engine = createResilience(policy, redact ? { redact: { secrets: [KEY] } } : {});
  const records: RequestRecord[] = [];
  engine.events.on('record', (r) => records.push(r));
  return { engine, records };
}

/**
 * A gateway in front of the fake provider, as the client's `fetch`: it passes the first `events` events of
 * the provider's stream on, then ends the stream with an error event that echoes the key the request sent
 * (some gateways do), and echoes it in a response header too. The SDK throws that event as its `APIError`,
 * the body and headers on it.
 */
function echoingGateway(events: number): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (!res.headers.get('content-type')?.startsWith('text/event-stream')) return res;
    const key = new Headers(init?.headers).get('authorization')?.replace(/^Bearer /, '') ?? '';
    const kept = (await res.text()).split('\n\n').filter((e) => e !== '').slice(0, events);
    const error = { error: { message: `Incorrect API key provided: ${key}. You can find your API key in the portal.`, type: 'invalid_request_error', code: 'invalid_api_key' } };
    const headers = new Headers(res.headers);
    headers.set('x-echo-key', key);
    return new Response([...kept, `data: ${JSON.stringify(error)}`].map((e) => `${e}\n\n`).join(''), { status: 200, headers });
  };
}

/** Reads the stream to its end: the non-empty chunks received and what it threw. */
async function readStream(stream: Promise<AsyncIterable<AIMessageChunk>>): Promise<{ chunks: number; err: StreamInterruptedError }> {
  let chunks = 0;
  const err = await rejection(
    (async () => {
      for await (const c of await stream) if (String(c.content) !== '') chunks++;
    })(),
  );
  return { chunks, err: err as StreamInterruptedError };
}

describe("the SDK's error that broke a stream after its first chunk, as the StreamInterruptedError's cause", () => {
  // The role chunk and 3 content chunks go out, then the gateway's error event.
  const echoing = () => p.chat('summary-a', { apiKey: KEY, configuration: { baseURL: p.baseURL, fetch: echoingGateway(4) } });

  it("with redact: the engine's redacted stand-in, nothing of the key in what a logger prints; originalCauseOf gives the SDK's error back", async () => {
    const { engine, records } = engineOf(true);
    const { chunks, err } = await readStream(withResilience(echoing(), { engine, route: 'summary' }).stream('Stream a summary'));
    expect(chunks).toBe(3);
    expect(err).toBeInstanceOf(StreamInterruptedError);
    expect(err).toMatchObject({ kind: 'auth', code: 'ERR_LLMR_STREAM_INTERRUPTED', providerCode: 'invalid_api_key', target: 'sum-a' });
    const raw = originalCauseOf(err) as Error & { error?: unknown; headers?: unknown };
    // The SDK's own error quotes the key: in its message, its body and the response headers it keeps.
    expect(raw).toBeInstanceOf(Error);
    expect(raw.message).toContain(KEY);
    expect(inspect(raw, { depth: Infinity })).toContain(KEY);
    expect(err.cause).not.toBe(raw);
    expect(err.cause).toMatchObject({ name: raw.name, message: expect.stringContaining('Incorrect API key provided: [redacted].'), code: 'invalid_api_key' });
    expect(inspect(err, { depth: Infinity })).not.toContain(KEY);
    await recordsReach(engine, records, 1);
    // The engine recorded it from the raw error: its kind and code.
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'auth', error_code: 'invalid_api_key' });
  });

  it("without redact: the SDK's error itself, as before", async () => {
    const { engine } = engineOf(false);
    const { err } = await readStream(withResilience(echoing(), { engine, route: 'summary' }).stream('Stream a summary'));
    expect(err).toMatchObject({ kind: 'auth', providerCode: 'invalid_api_key' });
    expect(err.cause).toBe(originalCauseOf(err));
    expect((err.cause as Error).message).toContain(KEY);
  });

  it('a connection cut midway (the fake provider drops the socket): with redact, a stand-in for the network error too', async () => {
    p.fake.setFaults([{ model: 'summary-a', kind: 'stream_cut', afterChunks: 3 }]);
    const { engine, records } = engineOf(true);
    const { chunks, err } = await readStream(withResilience(p.chat('summary-a', { apiKey: KEY }), { engine, route: 'summary' }).stream('Stream a summary'));
    expect(chunks).toBeGreaterThanOrEqual(3);
    expect(err).toMatchObject({ kind: 'network', code: 'ERR_LLMR_STREAM_INTERRUPTED' });
    // The SDK's (or fetch's) error for the cut body; fetch's own is a TypeError of Node's realm, not the test's.
    const raw = originalCauseOf(err) as Error;
    expect(typeof raw.message).toBe('string');
    expect(err.cause).not.toBe(raw);
    expect((err.cause as Error).name).toBe(raw.name);
    expect(inspect(err, { depth: Infinity })).not.toContain(KEY);
    await recordsReach(engine, records, 1);
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'network' });
  });
});
