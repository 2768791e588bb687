import http from 'node:http';
import { createFakeProvider, FakeProviderConfigError } from '../src';
import { userMessage } from './support';

const config = { models: { m: { contextWindow: 1_000 } } };

function rawRequest(port: number, agent: http.Agent, path = '/v1/chat/completions', method = 'POST'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', path, method, agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? JSON.stringify({ model: 'm', messages: userMessage('x') }) : undefined);
  });
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  if (!cond()) throw new Error('condition not reached');
}

describe('start / stop', () => {
  it('start() returns url, baseURL and port; a second start() without stop() throws', async () => {
    const fake = createFakeProvider(config);
    const addr = await fake.start();
    try {
      expect(addr.url).toBe(`http://127.0.0.1:${addr.port}`);
      expect(addr.baseURL).toBe(`${addr.url}/v1`);
      await expect(fake.start()).rejects.toThrow(/already started/);
    } finally {
      await fake.stop();
    }
    await fake.stop(); // idempotent
  });

  it('stop() ends hanging requests and keep-alive sockets at once', async () => {
    const fake = createFakeProvider({ ...config, faults: [{ kind: 'hang', count: 1 }] });
    const { port } = await fake.start();
    const agent = new http.Agent({ keepAlive: true });
    try {
      expect(await rawRequest(port, agent, '/v1/models', 'GET')).toBe(200); // leaves an idle keep-alive socket
      const hanging = rawRequest(port, agent).catch((e: Error) => e);
      await until(() => fake.counters.requests === 1);
      const started = Date.now();
      await fake.stop();
      expect(Date.now() - started).toBeLessThan(1_000);
      const err = await hanging;
      expect((err as Error & { code?: string }).code).toMatch(/ECONNRESET|ECONNREFUSED/);
    } finally {
      agent.destroy();
      await fake.stop();
    }
  });

  it('can be started again after stop(); reset() clears counters', async () => {
    const fake = createFakeProvider(config);
    const agent = new http.Agent();
    const first = await fake.start();
    expect(await rawRequest(first.port, agent)).toBe(200);
    await fake.stop();
    const second = await fake.start();
    try {
      expect(await rawRequest(second.port, agent)).toBe(200);
      expect(fake.counters.requests).toBe(2);
      fake.reset();
      expect(fake.counters.requests).toBe(0);
    } finally {
      await fake.stop();
      agent.destroy();
    }
  });

  it('counters are snapshots', async () => {
    const fake = createFakeProvider(config);
    const snap = fake.counters;
    snap.requests = 99;
    expect(fake.counters.requests).toBe(0);
  });

  it('rejects an invalid scenario with every problem listed', () => {
    expect(() => createFakeProvider({ models: { m: { contextWindow: 0 } }, faults: [{ kind: 'nope' as never }] })).toThrow(FakeProviderConfigError);
  });
});
