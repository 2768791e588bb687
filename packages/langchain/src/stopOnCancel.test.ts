import { IterableReadableStream } from '@langchain/core/utils/stream';
import { stopOnCancel } from './stopOnCancel';

/** A generator that yields `first`, then waits until `signal` aborts (work that makes no progress until stopped). */
async function* waitsForStop(first: string, signal: AbortSignal, log: string[]): AsyncGenerator<string> {
  try {
    yield first;
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    log.push('stopped');
    throw new Error('aborted');
  } finally {
    log.push('finally');
  }
}

describe('stopOnCancel', () => {
  it('leaving early aborts the stop at once, then closes the stream (whose read-ahead was waiting)', async () => {
    const stop = new AbortController();
    const log: string[] = [];
    const stream = stopOnCancel(IterableReadableStream.fromAsyncGenerator(waitsForStop('a', stop.signal, log)), stop);
    const seen: string[] = [];
    for await (const item of stream) {
      seen.push(item);
      break;
    }
    expect(seen).toEqual(['a']);
    expect(stop.signal.aborted).toBe(true);
    expect(log).toEqual(['stopped', 'finally']);
  });

  it('passes every item and the end through; reading to the end never aborts the stop', async () => {
    const stop = new AbortController();
    async function* three(): AsyncGenerator<number> {
      yield 1;
      yield 2;
      yield 3;
    }
    const seen: number[] = [];
    for await (const n of stopOnCancel(IterableReadableStream.fromAsyncGenerator(three()), stop)) seen.push(n);
    expect(seen).toEqual([1, 2, 3]);
    expect(stop.signal.aborted).toBe(false);
  });

  it("passes the stream's error on to the reader", async () => {
    const stop = new AbortController();
    async function* failing(): AsyncGenerator<number> {
      yield 1;
      throw new Error('provider failed');
    }
    const seen: number[] = [];
    const read = (async () => {
      for await (const n of stopOnCancel(IterableReadableStream.fromAsyncGenerator(failing()), stop)) seen.push(n);
    })();
    await expect(read).rejects.toThrow('provider failed');
    expect(seen).toEqual([1]);
  });
});
