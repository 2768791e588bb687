import { IterableReadableStream } from '@langchain/core/utils/stream';
import { eventStreamBytes } from './eventStreamBytes';

const text = (chunks: Uint8Array[]) => chunks.map((c) => new TextDecoder().decode(c)).join('');

describe('eventStreamBytes', () => {
  it("encodes each event as LangChain's text/event-stream does, then the end", async () => {
    async function* events(): AsyncGenerator<object> {
      yield { event: 'on_chain_start', name: 'a' };
      yield { event: 'on_chain_end', name: 'a' };
    }
    const chunks: Uint8Array[] = [];
    for await (const c of eventStreamBytes(IterableReadableStream.fromAsyncGenerator(events()))) chunks.push(c);
    expect(chunks.every((c) => c instanceof Uint8Array)).toBe(true);
    expect(text(chunks)).toBe(
      'event: data\ndata: {"event":"on_chain_start","name":"a"}\n\n' + 'event: data\ndata: {"event":"on_chain_end","name":"a"}\n\n' + 'event: end\n\n',
    );
  });

  it('left early, closes the events at once (their pending read ends) and reads nothing more from them', async () => {
    const log: string[] = [];
    let release!: () => void;
    const never = new Promise<void>((r) => (release = r));
    async function* events(): AsyncGenerator<object> {
      try {
        yield { event: 'first' };
        log.push('waiting');
        await never; // the next event is far away
        yield { event: 'second' };
      } finally {
        log.push('closed');
      }
    }
    const source = IterableReadableStream.fromAsyncGenerator(events());
    const counted = new IterableReadableStream<object>({
      async pull(controller) {
        const next = await source.next();
        if (next.done === true) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        release(); // what the stop does to the stream (see stopOnCancel)
        await source.return();
      },
    });
    // Never returns unless the bytes' cancel reaches the events while their read is pending.
    for await (const _ of eventStreamBytes(counted)) break; // eslint-disable-line
    expect(log).toEqual(['waiting', 'closed']);
  });

  it("passes the events' error on to the reader", async () => {
    async function* events(): AsyncGenerator<object> {
      yield { event: 'first' };
      throw new Error('provider failed');
    }
    const read = (async () => {
      for await (const _ of eventStreamBytes(IterableReadableStream.fromAsyncGenerator(events()))); // eslint-disable-line
    })();
    await expect(read).rejects.toThrow('provider failed');
  });
});
