import fc from 'fast-check';
import { parseSse, SseEventTooLargeError, type SseMessage } from './sse';

/** What a parse gave: the messages up to the end, or up to the error that ended it. */
interface Outcome {
  messages: SseMessage[];
  tooLarge: boolean;
}

/** Parses `bytes` handed over in the chunks `cuts` make (sorted offsets; repeated ones make empty chunks). */
async function parseCut(bytes: Uint8Array, cuts: number[], maxEventLength: number): Promise<Outcome> {
  async function* body() {
    let from = 0;
    for (const at of [...cuts, bytes.length]) {
      yield bytes.subarray(from, at);
      from = at;
    }
  }
  const messages: SseMessage[] = [];
  try {
    for await (const m of parseSse(body(), maxEventLength)) messages.push(m);
  } catch (e) {
    if (!(e instanceof SseEventTooLargeError)) throw e;
    return { messages, tooLarge: true };
  }
  return { messages, tooLarge: false };
}

/**
 * The messages of a whole `text/event-stream` text, read the plain way (split on every line end,
 * the spec's rules applied line by line): what any chunking must give without a bound.
 */
function reference(text: string): SseMessage[] {
  const lines = text.split(/\r\n|\r|\n/);
  lines.pop(); // what follows the last line end is not a line
  const out: SseMessage[] = [];
  let event: string | undefined;
  let data: string[] = [];
  for (const line of lines) {
    if (line === '') {
      if (data.length > 0) out.push(event === undefined ? { data: data.join('\n') } : { event, data: data.join('\n') });
      event = undefined;
      data = [];
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
  }
  return out;
}

/** Characters that matter to the parser or to its decoding: multi-byte ones, a surrogate pair, separators. */
const char = fc.constantFrom('x', 'y', ' ', ':', 'é', '中', '🌍', '\u2028', '\u0085');
const value = fc.string({ unit: char, maxLength: 12 });
const field = fc.constantFrom('data: ', 'data:', 'data', 'event: ', 'event:', 'id: ', 'retry: ', ': ', ':', 'foo: ', 'dat', '');
const lineEnd = fc.constantFrom('\n', '\r', '\r\n');
const line = fc.tuple(field, value, lineEnd).map(([f, v, e]) => f + v + e);
/** A stream of lines (blank ones among them), maybe with an unfinished line at the end. */
const stream = fc
  .tuple(fc.array(fc.oneof(line, lineEnd), { maxLength: 30 }), fc.option(fc.tuple(field, value).map(([f, v]) => f + v), { nil: undefined }))
  .map(([lines, tail]) => lines.join('') + (tail ?? ''));
/**
 * A text and the offsets its UTF-8 bytes are cut at: anywhere (inside characters too), and often
 * right after a `\r` (between the halves of a `\r\n`), some offsets repeated (empty chunks).
 */
const cutText = stream.chain((text) => {
  const bytes = new TextEncoder().encode(text);
  const afterCR = Array.from(bytes).flatMap((b, i) => (b === 13 ? [i + 1] : []));
  const offset = afterCR.length > 0 ? fc.oneof(fc.integer({ min: 0, max: bytes.length }), fc.constantFrom(...afterCR)) : fc.integer({ min: 0, max: bytes.length });
  return fc
    .array(fc.tuple(offset, fc.integer({ min: 1, max: 3 })), { maxLength: 12 })
    .map((picked) => ({ text, bytes, cuts: picked.flatMap(([at, times]) => Array<number>(times).fill(at)).sort((a, b) => a - b) }));
});

describe('parseSse over random chunkings (property)', () => {
  it('gives what it gives for the whole text in one chunk, and what the spec says', async () => {
    await fc.assert(
      fc.asyncProperty(cutText, async ({ text, bytes, cuts }) => {
        const whole = await parseCut(bytes, [], Infinity);
        expect(whole).toEqual({ messages: reference(text), tooLarge: false });
        expect(await parseCut(bytes, cuts, Infinity)).toEqual(whole);
      }),
      { numRuns: 2_000 },
    );
  });

  it('trips its bound at the same place however the text is cut', async () => {
    await fc.assert(
      fc.asyncProperty(cutText, fc.integer({ min: 1, max: 250 }), async ({ bytes, cuts }, max) => {
        expect(await parseCut(bytes, cuts, max)).toEqual(await parseCut(bytes, [], max));
      }),
      { numRuns: 2_000 },
    );
  });

  it('reads a stream of events in chunks a byte long, with empty chunks between them, like the whole', async () => {
    await fc.assert(
      fc.asyncProperty(stream, async (text) => {
        const bytes = new TextEncoder().encode(text);
        const everyByte = Array.from({ length: bytes.length * 2 }, (_, i) => Math.floor(i / 2));
        expect(await parseCut(bytes, everyByte, Infinity)).toEqual(await parseCut(bytes, [], Infinity));
      }),
      { numRuns: 300 },
    );
  });
});
