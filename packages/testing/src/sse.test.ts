import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SseEvent } from './protocol';
import { formatSse, MAX_SLEEP_MS, sleep, writeSse, type SseOutcome, type SsePacing } from './sse';

const EVENTS: SseEvent[] = [
  { event: 'start', data: '{"n":0}', tokens: 0 },
  { data: '{"n":1}', tokens: 1 },
  { data: '{"n":2}', tokens: 1 },
  { data: '{"n":3}', tokens: 1 },
  { event: 'stop', data: '{"n":4}', tokens: 0 },
];

/** Serves EVENTS once with `pacing` over a real socket; resolves with what the client read and writeSse's outcome. */
async function serve(pacing: SsePacing): Promise<{ body: string; error?: string; outcome: SseOutcome }> {
  let outcome!: Promise<SseOutcome>;
  const server: Server = createServer((_req, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    outcome = writeSse(res, EVENTS, pacing, new AbortController().signal);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const reader = res.body!.getReader();
    let body = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        body += Buffer.from(value).toString();
      }
    } catch (e) {
      return { body, error: (e as Error).message, outcome: await outcome };
    }
    return { body, outcome: await outcome };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('sleep', () => {
  it('waits at most the longest timer Node keeps: a longer sum of delays is not fired after 1 ms', async () => {
    const spy = jest.spyOn(globalThis, 'setTimeout');
    const controller = new AbortController();
    try {
      const slept = sleep(MAX_SLEEP_MS + 1_000, controller.signal);
      expect(spy).toHaveBeenLastCalledWith(expect.any(Function), MAX_SLEEP_MS);
      controller.abort(new Error('done'));
      await expect(slept).rejects.toThrow('done');
    } finally {
      spy.mockRestore();
    }
  });
});

describe('formatSse', () => {
  it('frames an event with and without a name', () => {
    expect(formatSse({ event: 'error', data: '{}', tokens: 0 })).toBe('event: error\ndata: {}\n\n');
    expect(formatSse({ data: '[DONE]', tokens: 0 })).toBe('data: [DONE]\n\n');
  });
});

describe('writeSse', () => {
  it('sends every event and ends the response: done', async () => {
    expect(await serve({ firstTokenMs: 0, perTokenMs: 0 })).toEqual({ body: EVENTS.map(formatSse).join(''), outcome: 'done' });
  });

  it('endWith replaces the content chunk at `at` and everything after it, then ends the response properly: ended', async () => {
    const tail: SseEvent[] = [
      { event: 'error', data: '{"type":"error"}', tokens: 0 },
      { data: '[DONE]', tokens: 0 },
    ];
    const out = await serve({ firstTokenMs: 0, perTokenMs: 0, endWith: { at: 2, events: tail } });
    expect(out).toEqual({ body: [...EVENTS.slice(0, 3), ...tail].map(formatSse).join(''), outcome: 'ended' });
  });

  it('cutAfterChunks closes the socket mid-message: the client sees the body end early, cut', async () => {
    const out = await serve({ firstTokenMs: 0, perTokenMs: 0, cutAfterChunks: 1 });
    expect(out.outcome).toBe('cut');
    expect(out.body).toBe(EVENTS.slice(0, 2).map(formatSse).join(''));
    expect(out.error).toBe('terminated');
  });
});
