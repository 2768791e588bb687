import { Readable } from 'node:stream';
import { readBounded } from './readBounded';

/** A body of `chunks` chunks of `size` bytes ('a'), recording how many were pulled and whether it was cancelled. */
function countingBody(chunks: number, size: number) {
  const seen = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (seen.pulled === chunks) return controller.close();
      seen.pulled += 1;
      controller.enqueue(new Uint8Array(size).fill(97));
    },
    cancel() {
      seen.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, seen };
}

/** An endless Node stream of 10-byte chunks, and how many it was asked for. */
function endlessNodeBody(): { node: Readable; pulls: () => number } {
  let pulled = 0;
  const node = new Readable({
    highWaterMark: 0,
    read() {
      pulled += 1;
      this.push(Buffer.alloc(10, 97));
    },
  });
  return { node, pulls: () => pulled };
}

describe('readBounded', () => {
  it('reads a body within the bound whole', async () => {
    const { stream, seen } = countingBody(3, 10);
    const got = await readBounded(new Response(stream), 30);
    expect(got.truncated).toBe(false);
    expect(new TextDecoder().decode(got.bytes)).toBe('a'.repeat(30));
    expect(seen.cancelled).toBe(false);
  });

  it('stops at the bound, keeps what fits and cancels the rest unread', async () => {
    const { stream, seen } = countingBody(1_000, 10);
    const got = await readBounded(new Response(stream), 25);
    expect(got).toMatchObject({ truncated: true });
    expect(got.bytes.byteLength).toBe(25);
    expect(seen.pulled).toBe(3);
    expect(seen.cancelled).toBe(true);
  });

  it('with skipDeclaredLonger, gives up on a Content-Length over the bound without reading', async () => {
    const { stream, seen } = countingBody(10, 10);
    const got = await readBounded(new Response(stream, { headers: { 'content-length': '100' } }), 50, true);
    expect(got).toMatchObject({ truncated: true });
    expect(got.bytes.byteLength).toBe(0);
    expect(seen.pulled).toBe(0);
    expect(seen.cancelled).toBe(true);
  });

  it('reads on when the Content-Length is of an encoded body (fetch has decoded it)', async () => {
    const { stream } = countingBody(2, 10);
    const got = await readBounded(new Response(stream, { headers: { 'content-length': '100', 'content-encoding': 'gzip' } }), 50, true);
    expect(got).toMatchObject({ truncated: false });
    expect(got.bytes.byteLength).toBe(20);
  });

  it('reads and stops a Node stream body too (a fetch option of another make), destroying it at the bound', async () => {
    const { node, pulls } = endlessNodeBody();
    const like = { body: node, headers: new Headers() } as unknown as Response;
    const got = await readBounded(like, 25);
    expect(got).toMatchObject({ truncated: true });
    expect(got.bytes.byteLength).toBe(25);
    expect(node.destroyed).toBe(true);
    expect(pulls()).toBeLessThan(10);
  });

  it('with skipDeclaredLonger, destroys a Node stream body whose Content-Length is over the bound, reading none of it', async () => {
    const { node, pulls } = endlessNodeBody();
    const like = { body: node, headers: new Headers({ 'content-length': '1000' }) } as unknown as Response;
    const got = await readBounded(like, 25, true);
    expect(got).toEqual({ bytes: new Uint8Array(0), truncated: true });
    // Not left open with its socket: ending an iteration that never started would not destroy it.
    expect(node.destroyed).toBe(true);
    expect(pulls()).toBe(0);
  });

  it('with skipDeclaredLonger, ends a body that is only async-iterable (neither kind of stream) without reading it', async () => {
    let pulled = 0;
    let ended = false;
    const body = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          pulled += 1;
          return { done: false, value: new Uint8Array(10) };
        },
        return: async () => {
          ended = true;
          return { done: true, value: undefined };
        },
      }),
    };
    const like = { body, headers: new Headers({ 'content-length': '1000' }) } as unknown as Response;
    expect(await readBounded(like, 25, true)).toEqual({ bytes: new Uint8Array(0), truncated: true });
    expect(ended).toBe(true);
    expect(pulled).toBe(0);
  });

  it('reads an empty body', async () => {
    expect(await readBounded(new Response(null, { status: 204 }), 10)).toEqual({ bytes: new Uint8Array(0), truncated: false });
  });

  it('rejects with the error of a body that fails', async () => {
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(new TypeError('terminated'));
      },
    });
    await expect(readBounded(new Response(failing), 10)).rejects.toThrow('terminated');
  });
});
