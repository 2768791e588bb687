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
    expect(seen.pulled).toBe(11); // 10 lines hold 989 characters (98 each, joined by '\n'), 11 hold 1088
    expect(seen.cancelled).toBe(true);
  });

  it('keeps events up to the bound, however many arrive in one chunk', async () => {
    const event = `data: ${'z'.repeat(94)}\n\n`; // 94 characters of data
    expect(await parse([event.repeat(50)], 94)).toHaveLength(50);
    expect(await parse([`event: delta\n${event}`], 94 + 5)).toHaveLength(1);
    expect(await rejection(parse([`event: delta\n${event}`], 94 + 4))).toBeInstanceOf(SseEventTooLargeError);
  });

  it('counts an unfinished line with the event it belongs to', async () => {
    expect(await rejection(parse(['data: ', 'a'.repeat(60), '\ndata: ', 'b'.repeat(60)], 100))).toBeInstanceOf(SseEventTooLargeError);
    expect(await parse(['data: ', 'a'.repeat(60), '\n\ndata: ', 'b'.repeat(60), '\n\n'], 100)).toHaveLength(2);
  });
});

describe('formatSse', () => {
  it('frames data and named events', () => {
    expect(formatSse('[DONE]')).toBe('data: [DONE]\n\n');
    expect(formatSse('{}', 'error')).toBe('event: error\ndata: {}\n\n');
  });
});
