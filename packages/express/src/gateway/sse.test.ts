import { rejection } from '../../../../test/support/rejection';
import { formatSse, parseSse, SseEventTooLargeError, type SseMessage } from './sse';

async function parse(pieces: string[], maxEventLength?: number): Promise<SseMessage[]> {
  const enc = new TextEncoder();
  async function* body() {
    for (const p of pieces) yield enc.encode(p);
  }
  const out: SseMessage[] = [];
  for await (const m of parseSse(body(), maxEventLength)) out.push(m);
  return out;
}

/** An endless body repeating `piece`, recording how many pieces were pulled and whether it was cancelled. */
function endless(piece: string) {
  const bytes = new TextEncoder().encode(piece);
  const seen = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        seen.pulled += 1;
        controller.enqueue(bytes);
      },
      cancel() {
        seen.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, seen };
}


describe('parseSse', () => {
  it('reads events split anywhere, with named events and multi-line data', async () => {
    expect(await parse(['data: {"a"', ':1}\n\nevent: ping\ndata: {}\n', '\ndata: x\ndata: y\n\n'])).toEqual([
      { data: '{"a":1}' },
      { event: 'ping', data: '{}' },
      { data: 'x\ny' },
    ]);
  });

  it('handles CRLF and CR line ends split between chunks, and ignores comments and ids', async () => {
    expect(await parse([': keep-alive\r\nid: 1\r\ndata: a\r', '\n\r\ndata:b\r\r'])).toEqual([{ data: 'a' }, { data: 'b' }]);
  });

  it('keeps multi-byte characters split between chunks', async () => {
    const bytes = new TextEncoder().encode('data: é\n\n');
    async function* body() {
      yield bytes.subarray(0, 7);
      yield bytes.subarray(7);
    }
    const out: SseMessage[] = [];
    for await (const m of parseSse(body())) out.push(m);
    expect(out).toEqual([{ data: 'é' }]);
  });

  it('discards an event cut off by the end of the body', async () => {
    expect(await parse(['data: [DONE]\n\n', 'data: {"trunc'])).toEqual([{ data: '[DONE]' }]);
  });
});

describe('parseSse onEvent (signs of life for the idle timeout)', () => {
  it('reports every comment and every ended event, with or without data, before the event is yielded', async () => {
    const enc = new TextEncoder();
    async function* body() {
      for (const p of [': keep-alive\n\n', 'event: ping\ndata: {}\n', '\n', 'id: 7\n\n', '\n\n', 'data: x\n\n', 'data: cut']) yield enc.encode(p);
    }
    const seen: string[] = [];
    for await (const m of parseSse(body(), Infinity, () => seen.push('event'))) seen.push(`message ${m.data}`);
    // The comment, the ping, the id-only event, the data event; bare blank lines and the unfinished event are not.
    expect(seen).toEqual(['event', 'event', 'message {}', 'event', 'event', 'message x']);
  });
});

describe('parseSse with maxEventLength', () => {
  const drain = async (body: ReadableStream<Uint8Array>, max: number) => {
    const out: SseMessage[] = [];
    for await (const m of parseSse(body, max)) out.push(m);
    return out;
  };

  it('throws on a line that never ends, and cancels the body instead of buffering it', async () => {
    const { stream, seen } = endless('x'.repeat(100));
    const err = await rejection(drain(stream, 1_000));
    expect(err).toBeInstanceOf(SseEventTooLargeError);
    expect(err).toMatchObject({ code: 'ERR_LLMR_EXPRESS_SSE_EVENT_TOO_LARGE', maxEventLength: 1_000 });
    expect((err as Error).message).not.toContain('xxx');
    expect(seen.pulled).toBe(11);
    expect(seen.cancelled).toBe(true);
  });

  it('throws on an event whose data lines never reach the blank line that ends it', async () => {
    const { stream, seen } = endless(`data: ${'y'.repeat(98)}\n`);
    expect(await rejection(drain(stream, 1_000))).toBeInstanceOf(SseEventTooLargeError);
    // Each line counts its 104 characters, 1 for its line end and 32 for keeping it: 7 lines hold
    // 959, the 8th would make 1096.
    expect(seen.pulled).toBe(8);
    expect(seen.cancelled).toBe(true);
  });

  it('counts every line an event keeps in full, so endless empty data lines trip the bound as their number says', async () => {
    // 'data:' costs 5 + 1 + 32 = 38: 263 lines hold 9 994 of 10 000, the 264th breaks the event.
    const { stream, seen } = endless('data:\n');
    expect(await rejection(drain(stream, 10_000))).toBeInstanceOf(SseEventTooLargeError);
    expect(seen.pulled).toBe(264);
    expect(seen.cancelled).toBe(true);
    // However the lines are cut into chunks: 263 are an event, 264 are too many.
    expect(await parse(['data:\n'.repeat(263), '\n'], 10_000)).toEqual([{ data: '\n'.repeat(262) }]);
    expect(await rejection(parse(['data:\n'.repeat(264), '\n'], 10_000))).toBeInstanceOf(SseEventTooLargeError);
    expect(await rejection(parse(['data:\n'.repeat(264).split('')].flat(), 10_000))).toBeInstanceOf(SseEventTooLargeError);
  });

  it('keeps events up to the bound, however many arrive in one chunk', async () => {
    const event = `data: ${'z'.repeat(94)}\n\n`; // a line of 100 characters: 133 with its line end and overhead
    expect(await parse([event.repeat(50)], 133)).toHaveLength(50);
    expect(await rejection(parse([event], 132))).toBeInstanceOf(SseEventTooLargeError);
    // 'event: delta' adds 12 + 33.
    expect(await parse([`event: delta\n${event}`], 133 + 45)).toHaveLength(1);
    expect(await rejection(parse([`event: delta\n${event}`], 133 + 44))).toBeInstanceOf(SseEventTooLargeError);
    // A second event line replaces the first: counted once it is read, not twice.
    expect(await parse([`event: delta\nevent: delta\n${event}`], 133 + 45)).toEqual([{ event: 'delta', data: 'z'.repeat(94) }]);
  });

  it('counts an unfinished line with the event it belongs to', async () => {
    // 'data: ' + 60 characters held (66 + 33 = 99), then a line of 66 not ended yet: 165.
    expect(await rejection(parse(['data: ', 'a'.repeat(60), '\ndata: ', 'b'.repeat(60)], 150))).toBeInstanceOf(SseEventTooLargeError);
    expect(await parse(['data: ', 'a'.repeat(60), '\n\ndata: ', 'b'.repeat(60), '\n\n'], 150)).toHaveLength(2);
  });

  it('breaks the event on a line past the bound even when the line arrives whole and would not be kept', async () => {
    expect(await rejection(parse([`: ${'c'.repeat(200)}\ndata: x\n\n`], 150))).toBeInstanceOf(SseEventTooLargeError);
    expect(await rejection(parse([': ', 'c'.repeat(200), '\ndata: x\n\n'], 150))).toBeInstanceOf(SseEventTooLargeError);
    expect(await parse([`: ${'c'.repeat(100)}\ndata: x\n\n`], 150)).toEqual([{ data: 'x' }]);
  });
});

describe('parseSse with a long line', () => {
  it('reads a line of 2.6 MB that arrives in chunks of many sizes, characters split between them', async () => {
    const text = 'aé🌍中'.repeat(1024 * 1024 / 4) + '\u2028'.repeat(1000);
    const bytes = new TextEncoder().encode(`event: big\ndata: ${text}\n\ndata: after\n\n`);
    const sizes = [1, 2, 3, 5, 7, 4096, 65_536, 1, 1, 100_003];
    async function* body() {
      for (let at = 0, i = 0; at < bytes.length; i += 1) {
        const size = sizes[i % sizes.length]!;
        yield bytes.subarray(at, at + size);
        at += size;
      }
    }
    const out: SseMessage[] = [];
    for await (const m of parseSse(body(), 64 * 1024 * 1024)) out.push(m);
    expect(out).toHaveLength(2);
    expect(out[0]!.event).toBe('big');
    expect(out[0]!.data === text).toBe(true); // not toEqual: a failure would print 4 MiB
    expect(out[1]).toEqual({ data: 'after' });
  });

  it('reads a long line that arrives a byte at a time', async () => {
    const text = 'x'.repeat(20_000) + 'é'.repeat(5_000);
    const bytes = new TextEncoder().encode(`data: ${text}\r\n\r\n`);
    async function* body() {
      for (let at = 0; at < bytes.length; at += 1) yield bytes.subarray(at, at + 1);
    }
    const out: SseMessage[] = [];
    for await (const m of parseSse(body(), 100_000)) out.push(m);
    expect(out).toHaveLength(1);
    expect(out[0]!.data === text).toBe(true);
  });

  it('hands an event ended by \r at the end of a chunk over before the next chunk is read', async () => {
    let pulled = 0;
    async function* body() {
      pulled += 1;
      yield new TextEncoder().encode('data: a\r\r');
      pulled += 1;
      yield new TextEncoder().encode('\ndata: b\n\n');
    }
    const it = parseSse(body());
    expect((await it.next()).value).toEqual({ data: 'a' });
    expect(pulled).toBe(1);
    expect((await it.next()).value).toEqual({ data: 'b' });
  });
});

describe('formatSse', () => {
  it('frames data and named events', () => {
    expect(formatSse('[DONE]')).toBe('data: [DONE]\n\n');
    expect(formatSse('{}', 'error')).toBe('event: error\ndata: {}\n\n');
  });
});
