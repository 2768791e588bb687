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
 * A server-sent event grew past the largest size {@link parseSse} was told to keep: one line without
 * a line end, or one event's lines without the blank line that ends it. Carries the bound only,
 * never the event's text.
 *
 * @example
 * ```ts
 * try { for await (const m of parseSse(body, 1024)) use(m); }
 * catch (e) { if (e instanceof SseEventTooLargeError) console.warn(e.code, e.maxEventLength); }
 * ```
 */
export class SseEventTooLargeError extends Error {
  readonly code = 'ERR_LLMR_EXPRESS_SSE_EVENT_TOO_LARGE';
  /** The bound, in characters. */
  readonly maxEventLength: number;

  constructor(maxEventLength: number) {
    super(`A server-sent event grew past ${maxEventLength} characters without ending; the stream was abandoned.`);
    this.name = 'SseEventTooLargeError';
    this.maxEventLength = maxEventLength;
  }
}

/**
 * Parses a `text/event-stream` body into messages (`data:`/`event:` fields, `\n`, `\r\n` or `\r`
 * line ends, comments and `id:`/`retry:` ignored). Messages without data are skipped; an event cut off
 * by the end of the body is discarded. Errors of the underlying stream propagate.
 *
 * What an event keeps while it is read (the line not ended yet, its `data` and `event` values so far)
 * is bounded by `maxEventLength` characters: past it, the parser throws an
 * {@link SseEventTooLargeError} (and stops reading `body`, which cancels a web stream) rather than
 * buffering an endless line. Lines are scanned once each, so a long line costs linear time.
 *
 * @example
 * ```ts
 * for await (const m of parseSse(response.body!, 64 * 1024 * 1024)) if (m.data !== '[DONE]') handle(JSON.parse(m.data));
 * ```
 */
export async function* parseSse(body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>, maxEventLength = Infinity): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  const lineEnd = /\r\n|\r|\n/g;
  let buffer = '';
  /** Where the search for the next line end resumes: the text before it has none. */
  let scanned = 0;
  let event: string | undefined;
  let data: string[] = [];
  /** Characters held by the event being read: its data values (with the `\n` joining them) and its name. */
  let held = 0;
  const flushLine = function* (line: string): Generator<SseMessage> {
    if (line === '') {
      if (data.length > 0) {
        const m: SseMessage = { data: data.join('\n') };
        if (event !== undefined) m.event = event;
        yield m;
      }
      event = undefined;
      data = [];
      held = 0;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      held += value.length + (data.length > 0 ? 1 : 0);
      data.push(value);
    } else if (field === 'event') {
      held += value.length - (event?.length ?? 0);
      event = value;
    }
  };
  /** `pending`: the characters of the line not ended yet (none while complete lines are taken). */
  const checkHeld = (pending: number) => {
    if (held + pending > maxEventLength) throw new SseEventTooLargeError(maxEventLength);
  };
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (;;) {
      lineEnd.lastIndex = scanned;
      const m = lineEnd.exec(buffer);
      if (!m) {
        scanned = buffer.length;
        break;
      }
      // A lone '\r' at the end may be the first half of '\r\n': wait for more.
      if (m[0] === '\r' && m.index === buffer.length - 1) {
        scanned = m.index;
        break;
      }
      const line = buffer.slice(0, m.index);
      buffer = buffer.slice(m.index + m[0].length);
      scanned = 0;
      yield* flushLine(line);
      checkHeld(0);
    }
    // What is left has no line end: the current event's unfinished line.
    checkHeld(buffer.length);
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
