import { Readable } from 'node:stream';
import { closeUnread } from './closeUnread';

const turn = () => new Promise((r) => setImmediate(r));

/** A web stream that records whether it was cancelled. */
function webStream() {
  const seen = { cancelled: false };
  const stream = new ReadableStream<string>({
    cancel: () => {
      seen.cancelled = true;
    },
  });
  return { stream, seen };
}

describe('closeUnread', () => {
  it("aborts an SDK stream's controller (openai and @anthropic-ai/sdk streams carry one)", () => {
    const controller = new AbortController();
    const sdkStream = { controller, async *[Symbol.asyncIterator]() {} };
    closeUnread(sdkStream);
    expect(controller.signal.aborted).toBe(true);
  });

  it('calls abort() of an async-iterable stream object that has no controller (Anthropic MessageStream)', () => {
    const calls: string[] = [];
    closeUnread({ abort: () => calls.push('abort'), async *[Symbol.asyncIterator]() {} });
    expect(calls).toEqual(['abort']);
  });

  it('cancels a web ReadableStream and the body of an unread fetch Response', async () => {
    const plain = webStream();
    closeUnread(plain.stream);
    const body = webStream();
    const response = new Response(body.stream);
    closeUnread(response);
    await turn();
    expect([plain.seen.cancelled, body.seen.cancelled]).toEqual([true, true]);
  });

  it('leaves a locked ReadableStream alone (someone reads it)', async () => {
    const { stream, seen } = webStream();
    stream.getReader();
    closeUnread(stream);
    await turn();
    expect(seen.cancelled).toBe(false);
  });

  it('destroys a Node Readable, unless something reads it already (flowing)', () => {
    const readable = new Readable({ read() {} });
    closeUnread(readable);
    const read = new Readable({ read() {} });
    read.on('data', () => undefined);
    closeUnread(read);
    expect([readable.destroyed, read.destroyed]).toEqual([true, false]);
  });

  it('closes the SDK stream an async generator wraps, though the generator never started', async () => {
    const controller = new AbortController();
    const sdkStream = {
      controller,
      async *[Symbol.asyncIterator]() {
        try {
          yield 'first chunk';
          yield 'second chunk';
        } finally {
          controller.abort(); // what the openai SDK's stream iterator does when it is returned
        }
      },
    };
    const seen: string[] = [];
    async function* texts(stream: AsyncIterable<string>) {
      try {
        for await (const chunk of stream) yield chunk.toUpperCase();
      } finally {
        seen.push('finally');
      }
    }
    closeUnread(texts(sdkStream)); // returned by a call as it is: nobody has called next()
    for (let i = 0; i < 5; i++) await turn();
    expect(seen).toEqual(['finally']);
    expect(controller.signal.aborted).toBe(true);
  });

  it("ends an async iterator that has a return() and no next(), and one whose first next() fails", async () => {
    const calls: string[] = [];
    closeUnread({ [Symbol.asyncIterator]: () => ({ return: () => calls.push('return') }) });
    closeUnread({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('broken')), return: () => calls.push('not called') }) });
    await turn();
    expect(calls).toEqual(['return']);
  });

  it('leaves values that are not streams alone, even with methods of those names', () => {
    const calls: string[] = [];
    const reply = { choices: [], cancel: () => calls.push('cancel'), destroy: () => calls.push('destroy'), abort: () => calls.push('abort'), controller: { abort: () => calls.push('controller') } };
    for (const v of [reply, null, undefined, 'text', 42, [1, 2]]) closeUnread(v);
    expect(calls).toEqual([]);
  });

  it('never throws, and swallows a rejected close', async () => {
    const rejections: unknown[] = [];
    const onRejection = (e: unknown) => rejections.push(e);
    process.on('unhandledRejection', onRejection);
    try {
      const throwing = { controller: { abort: () => { throw new Error('boom'); } }, async *[Symbol.asyncIterator]() {} };
      expect(() => closeUnread(throwing)).not.toThrow();
      const rejecting = { abort: () => Promise.reject(new Error('late boom')), async *[Symbol.asyncIterator]() {} };
      expect(() => closeUnread(rejecting)).not.toThrow();
      const badIterator = { [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ done: true }), return: () => Promise.reject(new Error('no')) }) };
      expect(() => closeUnread(badIterator)).not.toThrow();
      await turn();
      await turn();
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });
});
