import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import express from 'express';
import OpenAI, { APIError } from 'openai';
import { replyTag } from '@llm-resilience/testing';
import type { Resilience } from '@llm-resilience/core';
import { openAIGateway, resilienceErrorHandler, type OpenAIGatewayOptions } from '../src';
import { completeUpstream } from '../src/gateway/upstreamCall';
import { deferred, listen, nextRecord, rejection, testEngine, useFakeProvider } from './support';

/*
 * The primary target (`fast-a`) is a misbehaving upstream on a real socket: a body that never ends, a
 * body that is not JSON, a stream event that never ends. The backup (`fast-b`) is the fake provider.
 */
const provider = useFakeProvider();

const AUTH = { 'sk-client-alice': { user: 'alice', team: 'support' } };
const PROMPT = 'my card number is 4111 1111 1111 1111';

/** What the rogue upstream saw of one request: the bytes it sent, whether it sent all, when its socket closed. */
interface Exchange {
  sent: number;
  ended: boolean;
  socketClosed: Promise<void>;
}

/** Writes `piece` until the client goes away, or `cap` bytes (then ends: the test would fail on `ended`). */
function writeEndlessly(res: ServerResponse, piece: string, exchange: Exchange, cap = 256 * 1024 * 1024): void {
  const write = () => {
    while (!res.destroyed) {
      if (exchange.sent >= cap) {
        res.end(() => (exchange.ended = true));
        return;
      }
      exchange.sent += piece.length;
      if (!res.write(piece)) return; // wait for 'drain'
    }
  };
  res.on('drain', write);
  write();
}

type Behaviour = (req: IncomingMessage, res: ServerResponse, exchange: Exchange) => void;

/** A real HTTP server answering `POST /v1/chat/completions` with `behaviour`; `exchanges` lists what it saw. */
async function startRogue(): Promise<{ baseURL: string; exchanges: Exchange[]; setBehaviour: (b: Behaviour) => void; close: () => Promise<void> }> {
  let behaviour: Behaviour = (_req, res) => res.writeHead(500).end();
  const exchanges: Exchange[] = [];
  const server: Server = createServer((req, res) => {
    const closed = deferred();
    req.socket.once('close', () => closed.resolve());
    const exchange: Exchange = { sent: 0, ended: false, socketClosed: closed.promise };
    exchanges.push(exchange);
    req.resume();
    req.on('end', () => behaviour(req, res, exchange));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    exchanges,
    setBehaviour: (b) => (behaviour = b),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const endlessJson: Behaviour = (_req, res, exchange) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{"id":"r1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"');
  writeEndlessly(res, 'x'.repeat(16 * 1024), exchange);
};

const echoingHtml: Behaviour = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<html><body>You said: ${PROMPT}</body></html>`);
};

const endlessSseEvent: Behaviour = (_req, res, exchange) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write('data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"');
  writeEndlessly(res, 'z'.repeat(16 * 1024), exchange);
};

/** A valid completion whose content is `size` characters. */
const bigReply =
  (size: number): Behaviour =>
  (_req, res) => {
    const body = JSON.stringify({
      id: 'r1',
      object: 'chat.completion',
      created: 1,
      model: 'fast-a',
      choices: [{ index: 0, message: { role: 'assistant', content: 'w'.repeat(size) }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 10, total_tokens: 15 },
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  };

describe('openAIGateway bounds what it reads of an upstream reply (upstreamBodyLimit)', () => {
  let rogue: Awaited<ReturnType<typeof startRogue>>;
  beforeAll(async () => {
    rogue = await startRogue();
  });
  afterAll(() => rogue.close());

  async function startGateway(options: Partial<OpenAIGatewayOptions> = {}, engine: Resilience = testEngine()) {
    const app = express();
    app.use(
      openAIGateway({
        engine,
        upstreams: {
          primary: { kind: 'openai', baseURL: rogue.baseURL, apiKey: 'upstream-secret-key' },
          backup: { kind: 'openai', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' },
        },
        auth: AUTH,
        models: { support: 'support_reply' },
        ...options,
      }),
    );
    app.use(resilienceErrorHandler());
    const { url, close } = await listen(app);
    const client = new OpenAI({ apiKey: 'sk-client-alice', baseURL: `${url}/v1`, maxRetries: 0, timeout: 20_000 });
    return { engine, client, url, close };
  }

  const ask = (content: string) => [{ role: 'user' as const, content }];

  it('gives up on a 2xx body past the bound, closing the upstream socket, and falls back to the next target', async () => {
    rogue.setBehaviour(endlessJson);
    const gw = await startGateway({ upstreamBodyLimit: '64kb' });
    try {
      const before = rogue.exchanges.length;
      const recorded = nextRecord(gw.engine);
      const { data, response } = await gw.client.chat.completions.create({ model: 'support', messages: ask('Too long?') }).withResponse();
      expect(data.choices[0]!.message.content!.startsWith(replyTag('fast-b', 'Too long?'))).toBe(true);
      expect(response.headers.get('x-llm-resilience-target')).toBe('fast-b');
      expect(response.headers.get('x-llm-resilience-attempts')).toBe('2');
      const record = await recorded;
      expect(record.attempts[0]).toMatchObject({ target: 'fast-a', outcome: 'error', errorKind: 'network' });
      // The upstream's socket was closed by the gateway while the upstream was still writing.
      const exchange = rogue.exchanges[before]!;
      await exchange.socketClosed;
      expect(exchange.ended).toBe(false);
      expect(exchange.sent).toBeLessThan(64 * 1024 * 1024);
    } finally {
      await gw.close();
    }
  });

  it('closes the socket without reading when Content-Length is already past the bound', async () => {
    rogue.setBehaviour(bigReply(200_000));
    const gw = await startGateway({ upstreamBodyLimit: '64kb' });
    try {
      const before = rogue.exchanges.length;
      const { data } = await gw.client.chat.completions.create({ model: 'support', messages: ask('Declared long') }).withResponse();
      expect(data.choices[0]!.message.content!.startsWith(replyTag('fast-b', 'Declared long'))).toBe(true);
      await rogue.exchanges[before]!.socketClosed;
    } finally {
      await gw.close();
    }
  });

  it('answers the gateway’s usual error when no target is left, with nothing of the body', async () => {
    rogue.setBehaviour(endlessJson);
    const gw = await startGateway({ upstreamBodyLimit: 100_000 });
    try {
      const before = rogue.exchanges.length;
      const recorded = nextRecord(gw.engine);
      const err = await rejection(gw.client.chat.completions.create({ model: 'solo', messages: ask('Alone') }));
      expect(err).toBeInstanceOf(APIError);
      expect((err as APIError).status).toBe(503);
      expect((err as APIError).error).toMatchObject({ type: expect.any(String), message: expect.any(String) });
      expect(JSON.stringify((err as APIError).error)).not.toMatch(/xxxx|upstreamBodyLimit|primary/);
      expect(await recorded).toMatchObject({ outcome: 'failure', error_kind: 'network' });
      await rogue.exchanges[before]!.socketClosed;
      expect(rogue.exchanges[before]!.ended).toBe(false);
    } finally {
      await gw.close();
    }
  });

  it('breaks a stream whose event grows past the bound before its first token: the socket is closed, the next target streams', async () => {
    rogue.setBehaviour(endlessSseEvent);
    const gw = await startGateway({ upstreamBodyLimit: '64kb' });
    try {
      const before = rogue.exchanges.length;
      const { data: stream, response } = await gw.client.chat.completions.create({ model: 'support', messages: ask('Endless event'), stream: true }).withResponse();
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text.startsWith(replyTag('fast-b', 'Endless event'))).toBe(true);
      expect(response.headers.get('x-llm-resilience-target')).toBe('fast-b');
      await rogue.exchanges[before]!.socketClosed;
      expect(rogue.exchanges[before]!.ended).toBe(false);
    } finally {
      await gw.close();
    }
  });

  it('leaves normal replies alone at the default bound: the fake provider streaming and not, and a 2 MiB reply', async () => {
    const fake = { kind: 'openai' as const, baseURL: provider.baseURL, apiKey: 'upstream-secret-key' };
    const normal = await startGateway({ upstreams: { primary: fake, backup: fake } });
    try {
      const { data, response } = await normal.client.chat.completions.create({ model: 'support', messages: ask('Normal') }).withResponse();
      expect(data.choices[0]!.message.content!.startsWith(replyTag('fast-a', 'Normal'))).toBe(true);
      expect(response.headers.get('x-llm-resilience-attempts')).toBe('1');
      const stream = await normal.client.chat.completions.create({ model: 'support', messages: ask('Normal stream'), stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text.startsWith(replyTag('fast-a', 'Normal stream'))).toBe(true);
    } finally {
      await normal.close();
    }

    rogue.setBehaviour(bigReply(2 * 1024 * 1024));
    const gw = await startGateway();
    try {
      const big = await gw.client.chat.completions.create({ model: 'solo', messages: ask('Big') }).withResponse();
      expect(big.data.choices[0]!.message.content).toBe('w'.repeat(2 * 1024 * 1024));
      expect(big.response.headers.get('x-llm-resilience-target')).toBe('fast-a');
    } finally {
      await gw.close();
    }
  });

  it('keeps no text of a 2xx body that is not JSON: not in the response, not in the error the engine keeps as cause', async () => {
    rogue.setBehaviour(echoingHtml);
    const gw = await startGateway();
    try {
      const { data } = await gw.client.chat.completions.create({ model: 'support', messages: ask(PROMPT) }).withResponse();
      expect(data.choices[0]!.message.content!.startsWith(replyTag('fast-b', PROMPT))).toBe(true);

      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-client-alice', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'solo', messages: ask(PROMPT) }),
      });
      expect(res.status).toBe(503);
      const text = await res.text();
      for (const part of ['<html', 'You said', '4111', 'not JSON']) expect(text).not.toContain(part);
    } finally {
      await gw.close();
    }

    // What the engine throws for the same attempt, cause chain and all, as a logger would print it.
    const engine = testEngine();
    const err = await rejection(
      engine.execute({ route: 'solo', identity: { user: 'alice' }, input: { messages: ask(PROMPT) } }, (target, ctx) =>
        completeUpstream({
          name: 'primary',
          upstream: { kind: 'openai', baseURL: rogue.baseURL },
          target,
          ctx,
          body: { model: 'solo', messages: ask(PROMPT) },
          clientSignal: new AbortController().signal,
          fetch: globalThis.fetch,
          maxBodyBytes: 64 * 1024 * 1024,
        }),
      ),
    );
    const printed = inspect(err, { depth: Infinity });
    expect(printed).toContain('bytes that are not JSON (content-type text/html)');
    for (const part of ['<html', 'You said', '4111']) expect(printed).not.toContain(part);
  });
});
