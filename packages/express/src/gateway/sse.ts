/**
 * One server-sent event: its `event` name (if any) and its `data` lines joined by `\n`.
 *
 * @example
 * ```ts
 * const e: SseMessage = { event: 'message_start', data: '{"type":"message_start"}' };
 * ```
 */
export interface SseMessage {
  event?: string;
  data: string;
}

/**
 * Parses a `text/event-stream` body into messages (`data:`/`event:` fields, `\n`, `\r\n` or `\r`
 * line ends, comments and `id:`/`retry:` ignored). Messages without data are skipped; an event cut off
 * by the end of the body is discarded. Errors of the underlying stream propagate.
 *
 * @example
 * ```ts
 * for await (const m of parseSse(response.body!)) if (m.data !== '[DONE]') handle(JSON.parse(m.data));
 * ```
 */
export async function* parseSse(body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event: string | undefined;
  let data: string[] = [];
  const flushLine = function* (line: string): Generator<SseMessage> {
    if (line === '') {
      if (data.length > 0) {
        const m: SseMessage = { data: data.join('\n') };
        if (event !== undefined) m.event = event;
        yield m;
      }
      event = undefined;
      data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
  };
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buffer);
      if (!m) break;
      // A lone '\r' at the end may be the first half of '\r\n': wait for more.
      if (m[0] === '\r' && m.index === buffer.length - 1) break;
      const line = buffer.slice(0, m.index);
      buffer = buffer.slice(m.index + m[0].length);
      yield* flushLine(line);
    }
  }
  buffer += decoder.decode();
  // A final '\r' is a line end after all.
  if (buffer.endsWith('\r')) yield* flushLine(buffer.slice(0, -1));
  // An event not ended by a blank line when the body ends is incomplete: discarded (as the spec says).
}

/**
 * Frames one server-sent event.
 *
 * @example
 * ```ts
 * formatSse('[DONE]'); // 'data: [DONE]\n\n'
 * ```
 */
export function formatSse(data: string, event?: string): string {
  return `${event !== undefined ? `event: ${event}\n` : ''}data: ${data}\n\n`;
}
