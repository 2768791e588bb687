/*
 * The gateway's upstream path: a wrong baseURL's 404 (the provider's own JSON) falls back, and a Basic
 * credential whose secret is its user part is redacted. Real sockets: a plain node:http upstream and the
 * gateway mounted on express via test/support's listen().
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { openAIGateway, type OpenAIGatewayOptions } from '../index';
import { listen, testEngine } from '../../test/support';

async function upstreamServer(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.url ?? '');
      handler(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const reply = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const completion = { id: 'x', object: 'chat.completion', created: 1, model: 'fast-b', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } };

async function startGateway(upstreams: OpenAIGatewayOptions['upstreams']) {
  const engine = testEngine();
  const app = express();
  app.use(openAIGateway({ engine, upstreams, auth: { 'sk-client-alice': { user: 'alice' } } }));
  const { close, url } = await listen(app);
  const post = (body: unknown) =>
    fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-client-alice', 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { engine, close, post };
}

describe('a wrong baseURL on a real provider (its own JSON 404 for an unknown path) falls back and never answers 400', () => {
  // The primary's 404 for a path that does not exist (a baseURL missing '/v1') fails the attempt and
  // fast-b answers 200, whatever JSON the provider answers an unknown path with.
  it.each([
    ['OpenAI (baseURL without /v1)', { error: { message: 'Invalid URL (POST /chat/completions)', type: 'invalid_request_error', param: null, code: null } }],
    ['Anthropic', { type: 'error', error: { type: 'not_found_error', message: 'Not Found' } }],
    ['Azure OpenAI (wrong path / api-version)', { error: { code: '404', message: 'Resource not found' } }],
  ])('%s', async (_name, notFoundBody) => {
    const broken = await upstreamServer((_req, res) => reply(res, 404, notFoundBody));
    const good = await upstreamServer((_req, res) => reply(res, 200, completion));
    const gw = await startGateway({
      primary: { kind: 'openai', baseURL: broken.origin, apiKey: 'upstream-secret-key' },
      backup: { kind: 'openai', baseURL: `${good.origin}/v1`, apiKey: 'upstream-secret-key' },
    });
    try {
      const res = await gw.post({ model: 'support_reply', messages: [{ role: 'user', content: 'x' }] });
      const body = await res.json();
      expect(broken.seen).toEqual(['/chat/completions']);
      expect({ status: res.status, target: res.headers.get('x-llm-resilience-target'), backupCalls: good.seen.length }).toEqual({ status: 200, target: 'fast-b', backupCalls: 1 });
      void body;
    } finally {
      await gw.close();
      await broken.close();
      await good.close();
    }
  });
});

describe('a Basic credential whose secret is the user name (`Basic base64(<key>:)`) is cut when the upstream echoes it', () => {
  // `Basic base64(<key>:)` (Stripe-style): an upstream echoing the bare key must not bring it into alerts.
  it('the bare key from the user part is redacted in alerts', async () => {
    const key = 'tenant7Zq81LmX0pR4vKdW';
    const up = await upstreamServer((_req, res) => reply(res, 401, { error: { message: `Incorrect API key provided: ${key}.`, type: 'invalid_request_error', code: 'invalid_api_key' } }));
    const gw = await startGateway({ primary: { kind: 'openai', baseURL: `${up.origin}/v1`, headers: { Authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` } } });
    try {
      const alerts: string[] = [];
      gw.engine.events.on('alert', (a) => alerts.push(a.message));
      const res = await gw.post({ model: 'solo', messages: [{ role: 'user', content: 'x' }] });
      await res.text();
      expect(alerts.length).toBeGreaterThan(0);
      expect(alerts.join('\n')).not.toContain(key);
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
