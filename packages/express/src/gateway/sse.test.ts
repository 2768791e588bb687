import { formatSse, parseSse, type SseMessage } from './sse';

async function parse(pieces: string[]): Promise<SseMessage[]> {
  const enc = new TextEncoder();
  async function* body() {
    for (const p of pieces) yield enc.encode(p);
  }
  const out: SseMessage[] = [];
  for await (const m of parseSse(body())) out.push(m);
  return out;
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

describe('formatSse', () => {
  it('frames data and named events', () => {
    expect(formatSse('[DONE]')).toBe('data: [DONE]\n\n');
    expect(formatSse('{}', 'error')).toBe('event: error\ndata: {}\n\n');
  });
});
