import { LineSplitter } from './LineSplitter';

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
 * What keeping one line of an event costs besides its characters (a string header, an array slot),
 * counted in characters. With the line end (one more), every line counts 33 more than its length:
 * an event of endless short lines (`data:` alone) then holds a small factor of the bound in memory,
 * not ten times it as if each line counted its value only.
 */
const LINE_OVERHEAD = 32;

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
  /** The bound, in characters (each line of the event counting 33 more than its length: see {@link parseSse}). */
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
 * What an event holds while it is read is bounded by `maxEventLength`: its `data:` lines and its
 * `event:` line so far, each counted as its whole length (field name included) plus 33 (its line
 * end, and what keeping a line costs besides its characters), and the line not ended yet, counted by
 * its characters so far. A line that does not fit what is left of the bound breaks the event even
 * when it would not be kept (a comment, an `id:`), so whether the bound trips does not depend on how
 * the body was cut into chunks. Past it, the parser throws an {@link SseEventTooLargeError} (and
 * stops reading `body`, which cancels a web stream) rather than buffering an endless line or event;
 * what it held is then at most a small factor of the bound, however short the lines. Each chunk is
 * searched once for line ends and a line not ended yet is joined once, when it ends
 * ({@link LineSplitter}), so a long line costs time linear in its length, however many chunks it
 * arrives in.
 *
 * `onEvent`, when given, is called for every comment line (`: keep-alive`) and every event that ends
 * (a blank line after some field), with or without data and before it is yielded: the signs of life
 * of the stream, which an idle timeout listens to (an Anthropic `event: ping` or an SSE comment
 * carries no output, yet says the upstream is alive).
 *
 * @example
 * ```ts
 * for await (const m of parseSse(response.body!, 64 * 1024 * 1024)) if (m.data !== '[DONE]') handle(JSON.parse(m.data));
 * ```
 */
export async function* parseSse(
  body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
  maxEventLength = Infinity,
  onEvent?: () => void,
): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  const lines = new LineSplitter();
  let event: string | undefined;
  let data: string[] = [];
  /** What the event being read holds: the cost of its data lines and of its `event:` line. */
  let held = 0;
  /** The cost of the event's `event:` line (part of `held`), replaced by the next one. */
  let eventCost = 0;
  /** Whether a line of an event (a field, kept or not) was read since the last blank line. */
  let open = false;
  const take = function* (line: string): Generator<SseMessage> {
    if (line === '') {
      if (open) {
        open = false;
        onEvent?.();
      }
      if (data.length > 0) {
        const m: SseMessage = { data: data.join('\n') };
        if (event !== undefined) m.event = event;
        yield m;
      }
      event = undefined;
      data = [];
      held = 0;
      eventCost = 0;
      return;
    }
    // The line is held with the event while it is read, whether it is kept or not.
    const cost = line.length + 1 + LINE_OVERHEAD;
    if (held + cost > maxEventLength) throw new SseEventTooLargeError(maxEventLength);
    if (line.startsWith(':')) {
      onEvent?.();
      return;
    }
    open = true;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      held += cost;
      data.push(value);
    } else if (field === 'event') {
      held += cost - eventCost;
      eventCost = cost;
      event = value;
    }
  };
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    for (const line of lines.push(decoder.decode(chunk, { stream: true }))) yield* take(line);
    // What is left has no line end yet: the event's unfinished line, counted with it.
    if (held + lines.pendingLength > maxEventLength) throw new SseEventTooLargeError(maxEventLength);
  }
  // A line without its line end when the body ends (and the bytes of a character cut off with it) is
  // dropped, and so is an event not ended by a blank line: it is incomplete (as the spec says).
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
