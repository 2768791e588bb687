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

  it('a start() while another is still starting is refused, and stop() leaves nothing listening', async () => {
    const fake = createFakeProvider(config);
    const [first, second] = await Promise.allSettled([fake.start(), fake.start()]);
    expect(second).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ message: expect.stringMatching(/already started/) }) });
    if (first.status !== 'fulfilled') throw new Error('the first start() should succeed');
    await fake.stop();
    await expect(fetch(`${first.value.url}/v1/models`)).rejects.toThrow();
    const again = await fake.start();
    await fake.stop();
    await expect(fetch(`${again.url}/v1/models`)).rejects.toThrow();
  });

  it('stop() during start() waits for it, then closes the server', async () => {
    const fake = createFakeProvider(config);
    const starting = fake.start();
    await fake.stop();
    const { url } = await starting;
    await expect(fetch(`${url}/v1/models`)).rejects.toThrow();
  });

  it('survives an error emitted by the listening server', async () => {
    const created: http.Server[] = [];
    const real = http.createServer;
    const spy = jest.spyOn(http, 'createServer').mockImplementation(((...args: Parameters<typeof http.createServer>) => {
      const server = real(...args);
      created.push(server);
      return server;
    }) as typeof http.createServer);
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const fake = createFakeProvider(config);
    try {
      const { port } = await fake.start();
      expect(created).toHaveLength(1);
      // without an 'error' listener, emit('error') throws (and would crash the process)
      expect(() => created[0]!.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }))).not.toThrow();
      expect(warn).toHaveBeenCalledWith('llm-resilience fake provider: server error: accept EMFILE', { code: 'LLMR_FAKE_PROVIDER_SERVER_ERROR' });
      expect(await rawRequest(port, new http.Agent())).toBe(200);
    } finally {
      warn.mockRestore();
      spy.mockRestore();
      await fake.stop();
    }
  });

  it('reset() restarts the id sequence: the same requests get the same ids again', async () => {
    const fake = createFakeProvider(config);
    const { baseURL } = await fake.start();
    const ask = async () => {
      const res = await fetch(`${baseURL}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'm', messages: userMessage('x') }) });
      return { requestId: res.headers.get('x-request-id'), id: ((await res.json()) as { id: string }).id };
    };
    try {
      const first = [await ask(), await ask()];
      expect(first[0]).toEqual({ requestId: 'req_fake00000001', id: 'chatcmpl-fake00000002' });
      fake.reset();
      expect([await ask(), await ask()]).toEqual(first);
    } finally {
      await fake.stop();
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
