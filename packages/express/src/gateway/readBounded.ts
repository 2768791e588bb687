/**
 * What {@link readBounded} read: at most `maxBytes` bytes of a body, and whether there was more.
 *
 * @example
 * ```ts
 * const { bytes, truncated } = await readBounded(response, 1_048_576);
 * ```
 */
export interface BoundedBody {
  /** The body, or its first `maxBytes` bytes when `truncated`. */
  bytes: Uint8Array;
  /** True when the body was longer than `maxBytes`: the rest was not read, and the body was cancelled. */
  truncated: boolean;
}

/** True when `Content-Length` alone shows the body is longer than `maxBytes` (no encoding that `fetch` would undo). */
function declaredLonger(response: Response, maxBytes: number): boolean {
  const encoding = response.headers.get('content-encoding');
  if (encoding !== null && encoding.trim().toLowerCase() !== 'identity') return false;
  const length = response.headers.get('content-length');
  return length !== null && /^\d+$/.test(length.trim()) && Number(length) > maxBytes;
}

/**
 * Gives up on a body none of which was read: a web stream is cancelled, a Node stream destroyed
 * (which closes the connection either way). Not by ending an iteration: `return()` on a Node
 * stream's iterator that never started is a no-op (an async generator runs no `finally` before its
 * first step), which would leave the stream, and its socket, open.
 */
async function discard(body: unknown): Promise<void> {
  const stream = body as Partial<ReadableStream<Uint8Array>> & { destroy?: () => void };
  if (typeof stream.cancel === 'function') await stream.cancel().catch(() => undefined);
  else if (typeof stream.destroy === 'function') stream.destroy();
  else await (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]().return?.().catch(() => undefined);
}

/**
 * Reads `response`'s body, at most `maxBytes` bytes of it (counted after `fetch` undid any
 * `Content-Encoding`, so a compressed bomb counts at its real size). A longer body is cancelled as
 * soon as it passes the bound, which makes `fetch` close its connection instead of reading on; so is
 * a body whose `Content-Length` (uncompressed) already says it is longer, when `skipDeclaredLonger` is
 * set, without reading any of it. A body that fails while being read rejects with the stream's error.
 *
 * @example
 * ```ts
 * const { bytes, truncated } = await readBounded(response, 64 * 1024 * 1024, true);
 * if (truncated) throw new Error('reply too large');
 * JSON.parse(new TextDecoder().decode(bytes));
 * ```
 */
export async function readBounded(response: Response, maxBytes: number, skipDeclaredLonger = false): Promise<BoundedBody> {
  const body = response.body;
  if (body === null || body === undefined) return { bytes: new Uint8Array(0), truncated: false };
  if (skipDeclaredLonger && declaredLonger(response, maxBytes)) {
    await discard(body);
    return { bytes: new Uint8Array(0), truncated: true };
  }
  // Iterated rather than read with getReader(): a `fetch` option of another make may give a Node
  // stream. Ending the iteration early (`return()`, once it has started) cancels a web stream and
  // destroys a Node one.
  const chunks = (body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  const stop = async () => {
    // A failed cancel changes nothing: the reply is given up either way.
    await chunks.return?.().catch(() => undefined);
  };
  const kept: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await chunks.next();
    if (done) break;
    if (size + value.byteLength > maxBytes) {
      kept.push(value.subarray(0, maxBytes - size));
      size = maxBytes;
      truncated = true;
      await stop();
      break;
    }
    kept.push(value);
    size += value.byteLength;
  }
  if (kept.length === 1) return { bytes: kept[0]!, truncated };
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of kept) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return { bytes, truncated };
}
