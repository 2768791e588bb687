import express from 'express';
import { ManualClock, type Resilience } from '@llm-resilience/core';
import { openAIGateway, type OpenAIGatewayOptions } from '../index';
import { deferred, listen, nextRecord, testEngine, testPolicy } from '../../test/support';
import { HEAD_CHUNK_LIMIT } from './upstreamCall';

/*
 * Streaming behaviour of the gateway against a scripted upstream (its injectable `fetch`) whose SSE
 * body each test pushes piece by piece; the gateway is a real Express server, its clients real
 * sockets, and every timer runs on a ManualClock.
 */

const AUTH = { 'sk-client-alice': { user: 'alice', team: 'support' } };

interface ScriptedStream {
  push: (text: string) => void;
  end: () => void;
  aborted: Promise<unknown>;
  isAborted: () => boolean;
}

interface Upstream {
  /** Bodies of the requests the gateway sent upstream. */
  bodies: Array<Record<string, unknown>>;
  /** Opened streams, in order. */
  streams: ScriptedStream[];
  /** Resolves when the next stream opens. */
  opened: Promise<void>;
  fetch: typeof fetch;
}

/** An upstream answering every request with a stream the test writes; `json` answers non-streaming requests. */
function scriptedUpstream(json?: (body: Record<string, unknown>) => unknown): Upstream {
  const u: Upstream = { bodies: [], streams: [], opened: undefined as never, fetch: undefined as never };
  let openedD = deferred();
  u.opened = openedD.promise;
  u.fetch = async (_input, init) => {
    const sent = JSON.parse(String(init?.body)) as Record<string, unknown>;
    u.bodies.push(sent);
    if (sent.stream !== true && json !== undefined) return Response.json(json(sent));
    const abortedD = deferred<unknown>();
    let aborted = false;
    let ctrl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        ctrl = c;
      },
      cancel(reason) {
        aborted = true;
        abortedD.resolve(reason);
      },
    });
    const signal = init?.signal;
    signal?.addEventListener('abort', () => {
      aborted = true;
      abortedD.resolve(signal.reason);
      try {
        ctrl.error(signal.reason);
      } catch {
        /* closed */
      }
    });
    const enc = new TextEncoder();
    u.streams.push({
      push: (text) => {
        if (!aborted) ctrl.enqueue(enc.encode(text));
      },
      end: () => {
        if (!aborted) ctrl.close();
      },
      aborted: abortedD.promise,
      isAborted: () => aborted,
    });
    const d = openedD;
    openedD = deferred();
    u.opened = openedD.promise;
    d.resolve();
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
  return u;
}

const sse = (data: unknown, event?: string) => `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'c1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'fast-a',
  choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
});
const usageChunk = (prompt: number, completion: number) => ({
  id: 'c1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'fast-a',
  choices: [],
  usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
});

async function startGateway(upstream: Upstream, engine: Resilience, options: Partial<OpenAIGatewayOptions> = {}) {
  const app = express();
  app.use(
    openAIGateway({
      engine,
      upstreams: {
        primary: { kind: 'openai', baseURL: 'http://upstream.test/v1', apiKey: 'k' },
        backup: { kind: 'openai', baseURL: 'http://upstream.test/v1', apiKey: 'k' },
        anthropic: { kind: 'anthropic', baseURL: 'http://upstream.test/v1', apiKey: 'k' },
      },
      auth: AUTH,
      fetch: upstream.fetch,
      ...options,
    }),
  );
  return listen(app);
}

const post = (url: string, body: unknown) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-client-alice', 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

const ask = [{ role: 'user', content: 'hi' }];
const tick = () => new Promise((r) => setImmediate(r));
const ticks = async (n = 5) => {
  for (let k = 0; k < n; k++) await tick();
};
/** Waits (on events, not time) until the gateway armed a timer on the clock. */
const armed = async (clock: ManualClock) => {
  while (clock.pending === 0) await tick();
};
async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  let text = '';
  const dec = new TextDecoder();
  for (let n = await reader.read(); !n.done; n = await reader.read()) text += dec.decode(n.value);
  return text;
}

const anthropicStart = (s: ScriptedStream) => {
  s.push(sse({ type: 'message_start', message: { id: 'msg_1', model: 'claude-x', usage: { input_tokens: 5, output_tokens: 1 } } }, 'message_start'));
  s.push(sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start'));
  s.push(sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } }, 'content_block_delta'));
};
const anthropicEnd = (s: ScriptedStream) => {
  s.push(sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' world' } }, 'content_block_delta'));
  s.push(sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop'));
  s.push(sse({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } }, 'message_delta'));
  s.push(sse({ type: 'message_stop' }, 'message_stop'));
  s.end();
};

describe('openAIGateway stream idle timeout: any upstream event is a sign of life, not only output', () => {
  it('keeps an Anthropic stream that sends ping events between tokens longer apart than streamIdleTimeoutMs', async () => {
    const clock = new ManualClock(0);
    const engine = testEngine({}, { clock });
    const up = scriptedUpstream();
    const gw = await startGateway(up, engine, { streamIdleTimeoutMs: 30_000 });
    try {
      const resP = post(gw.url, { model: 'claude', messages: ask, stream: true, max_tokens: 50 });
      await up.opened;
      const s = up.streams[0]!;
      anthropicStart(s);
      const reader = (await resP).body!.getReader();
      await reader.read(); // the first token reached the client
      // 40 s until the next token, a ping every 20 s.
      for (let i = 0; i < 2; i++) {
        await armed(clock);
        await clock.advance(20_000);
        s.push(sse({ type: 'ping' }, 'ping'));
        await ticks();
      }
      expect(s.isAborted()).toBe(false);
      anthropicEnd(s);
      const text = await readAll(reader);
      expect(text).not.toContain('ERR_LLMR_EXPRESS_STREAM_INTERRUPTED');
      expect(text).toContain(' world');
      expect(text).toContain('data: [DONE]');
    } finally {
      await gw.close();
    }
  });

  it('keeps an OpenAI-compatible stream that sends SSE keep-alive comments', async () => {
    const clock = new ManualClock(0);
    const engine = testEngine({}, { clock });
    const up = scriptedUpstream();
    const gw = await startGateway(up, engine, { streamIdleTimeoutMs: 30_000 });
    try {
      const resP = post(gw.url, { model: 'solo', messages: ask, stream: true });
      await up.opened;
      const s = up.streams[0]!;
      s.push(sse(chunk({ role: 'assistant', content: 'Hello' })));
      const reader = (await resP).body!.getReader();
      await reader.read();
      for (let i = 0; i < 3; i++) {
        await armed(clock);
        await clock.advance(20_000);
        s.push(': keep-alive\n\n');
        await ticks();
      }
      s.push(sse(chunk({ content: ' world' }, 'stop')));
      s.push(sse(usageChunk(5, 2)));
      s.push(sse('[DONE]'));
      s.end();
      const text = await readAll(reader);
      expect(text).not.toContain('ERR_LLMR_EXPRESS_STREAM_INTERRUPTED');
      expect(text).toContain(' world');
      expect(text).toContain('data: [DONE]');
    } finally {
      await gw.close();
    }
  });

  it('still cuts a stream streamIdleTimeoutMs after its last ping, not later and not earlier', async () => {
    const clock = new ManualClock(0);
    const engine = testEngine({}, { clock });
    const up = scriptedUpstream();
    const gw = await startGateway(up, engine, { streamIdleTimeoutMs: 30_000 });
    try {
      const recorded = nextRecord(engine);
      const resP = post(gw.url, { model: 'claude', messages: ask, stream: true, max_tokens: 50 });
      await up.opened;
      const s = up.streams[0]!;
      anthropicStart(s);
      const reader = (await resP).body!.getReader();
      await reader.read();
      await armed(clock);
      await clock.advance(20_000);
      s.push(sse({ type: 'ping' }, 'ping')); // at 20 s: the deadline moves to 50 s
      await ticks();
      await clock.advance(29_999); // 49.999 s: the timer armed at 0 fired at 30 s and was put off
      await ticks();
      expect(s.isAborted()).toBe(false);
      await clock.advance(1); // 50 s: 30 s of silence
      await s.aborted;
      const text = await readAll(reader);
      expect(text).toContain('ERR_LLMR_EXPRESS_STREAM_INTERRUPTED');
      expect(text).not.toContain('data: [DONE]');
      expect((await recorded).outcome).toBe('failure');
    } finally {
      await gw.close();
    }
  });
});

describe('openAIGateway reserves and charges every choice of a request with n > 1', () => {
  it('charges a stream cut after its first token n x max_tokens, sending each choice its own max_tokens', async () => {
    const engine = testEngine();
    const up = scriptedUpstream();
    const gw = await startGateway(up, engine);
    try {
      const recorded = nextRecord(engine);
      const resP = post(gw.url, { model: 'solo', messages: ask, stream: true, max_tokens: 10, n: 3 });
      await up.opened;
      const s = up.streams[0]!;
      s.push(sse(chunk({ role: 'assistant', content: 'a' })));
      const res = await resP;
      s.end(); // cut before its final event
      expect(await res.text()).toContain('ERR_LLMR_EXPRESS_STREAM_INTERRUPTED');
      const rec = await recorded;
      expect(rec.output_tokens).toBe(30);
      expect(up.bodies[0]).toMatchObject({ n: 3, max_tokens: 10 });
    } finally {
      await gw.close();
    }
  });

  it('settles a complete n = 3 reply with the usage the upstream reported for all choices', async () => {
    const engine = testEngine();
    const reply = (body: Record<string, unknown>) => ({
      id: 'r1',
      object: 'chat.completion',
      created: 1,
      model: body.model,
      choices: [0, 1, 2].map((index) => ({ index, message: { role: 'assistant', content: `take ${index}` }, finish_reason: 'stop', logprobs: null })),
      usage: { prompt_tokens: 5, completion_tokens: 27, total_tokens: 32 },
    });
    const up = scriptedUpstream(reply);
    const gw = await startGateway(up, engine);
    try {
      const recorded = nextRecord(engine);
      const res = await post(gw.url, { model: 'solo', messages: ask, max_completion_tokens: 10, n: 3 });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { choices: unknown[] }).choices).toHaveLength(3);
      expect((await recorded).output_tokens).toBe(27);
      expect(up.bodies[0]).toMatchObject({ n: 3, max_completion_tokens: 10 });
    } finally {
      await gw.close();
    }
  });

  it("gives each choice the client's max_tokens within the target's maxOutputTokens, a cap per reply; the reservation is at most that cap", async () => {
    const base = testPolicy();
    const engine = testEngine({ targets: { ...base.targets, 'fast-a': { provider: 'primary', model: 'fast-a', contextWindow: 16_000, maxOutputTokens: 12 } } });
    const up = scriptedUpstream();
    const gw = await startGateway(up, engine);
    try {
      const recorded = nextRecord(engine);
      const resP = post(gw.url, { model: 'solo', messages: ask, stream: true, max_tokens: 10, n: 3 });
      await up.opened;
      const s = up.streams[0]!;
      s.push(sse(chunk({ role: 'assistant', content: 'a' })));
      const res = await resP;
      s.end();
      await res.text();
      // Each choice may produce 10 (the model's cap is 12 per reply); the engine reserved 12 in all.
      expect(up.bodies[0]).toMatchObject({ n: 3, max_tokens: 10 });
      expect((await recorded).output_tokens).toBe(12);
    } finally {
      await gw.close();
    }
  });

  it('refuses an n that is not an integer >= 1 with 400 before any upstream call', async () => {
    const engine = testEngine();
    const up = scriptedUpstream();
    const gw = await startGateway(up, engine);
    try {
      for (const n of [0, 1.5, '2', -1]) {
        const res = await post(gw.url, { model: 'solo', messages: ask, n });
        expect(res.status).toBe(400);
        expect(((await res.json()) as { error: { param: string } }).error.param).toBe('n');
      }
      expect(up.bodies).toHaveLength(0);
    } finally {
      await gw.close();
    }
  });
});

describe('openAIGateway commits a stream at its first output, audio included, and bounds what it buffers before', () => {
  /** A route with a 10 s attempt timeout (the time to first token) on the manual clock. */
  const timedEngine = (clock: ManualClock) => testEngine({ routes: { solo: { chain: ['fast-a'], timeout: '10s', retry: { perKind: { timeout: 0, network: 0 } } } } }, { clock });

  it('commits an audio reply at its first audio delta instead of buffering it under the first-token timeout', async () => {
    const clock = new ManualClock(0);
    const engine = timedEngine(clock);
    const up = scriptedUpstream();
    const gw = await startGateway(up, engine);
    try {
      const resP = post(gw.url, { model: 'solo', messages: ask, stream: true, modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'pcm16' } });
      await up.opened;
      const s = up.streams[0]!;
      s.push(sse(chunk({ role: 'assistant', content: null })));
      s.push(sse(chunk({ audio: { id: 'audio_1', transcript: 'Hel', data: 'AAAAAAAA' } })));
      s.push(sse(chunk({ audio: { transcript: 'lo', data: 'BBBBBBBB' } })));
      await ticks(10);
      await armed(clock);
      await clock.advance(10_000); // past the attempt timeout: the attempt resolved before it
      const res = await resP;
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      s.push(sse(chunk({}, 'stop')));
      s.push(sse(usageChunk(5, 20)));
      s.push(sse('[DONE]'));
      s.end();
      const text = await res.text();
      expect(text).toContain('AAAAAAAA');
      expect(text).toContain('BBBBBBBB');
      expect(text).toContain('data: [DONE]');
    } finally {
      await gw.close();
    }
  });

  it(`commits a stream after ${HEAD_CHUNK_LIMIT} chunks without known output (reasoning deltas), passing them on in order`, async () => {
    const clock = new ManualClock(0);
    const engine = timedEngine(clock);
    const up = scriptedUpstream();
    const gw = await startGateway(up, engine);
    try {
      let answered = false;
      const resP = post(gw.url, { model: 'solo', messages: ask, stream: true }).then((r) => {
        answered = true;
        return r;
      });
      await up.opened;
      const s = up.streams[0]!;
      s.push(sse(chunk({ role: 'assistant', content: '' })));
      for (let i = 1; i < HEAD_CHUNK_LIMIT - 1; i++) s.push(sse(chunk({ reasoning_content: `r${i} ` })));
      await ticks(10);
      expect(answered).toBe(false); // one chunk short of the bound: still before the commit point
      s.push(sse(chunk({ reasoning_content: `r${HEAD_CHUNK_LIMIT - 1} ` })));
      await ticks(10);
      await armed(clock);
      await clock.advance(10_000);
      const res = await resP;
      expect(res.status).toBe(200);
      s.push(sse(chunk({ content: 'answer' }, 'stop')));
      s.push(sse(usageChunk(5, 70)));
      s.push(sse('[DONE]'));
      s.end();
      const text = await res.text();
      const order = [...text.matchAll(/"reasoning_content":"r(\d+) "/g)].map((m) => Number(m[1]));
      expect(order).toEqual(Array.from({ length: HEAD_CHUNK_LIMIT - 1 }, (_, i) => i + 1));
      expect(text.indexOf('answer')).toBeGreaterThan(text.indexOf(`r${HEAD_CHUNK_LIMIT - 1} `));
      expect(text).toContain('data: [DONE]');
    } finally {
      await gw.close();
    }
  });
});
