import { LogWriter } from './LogWriter';

describe('LogWriter', () => {
  it('writes through until the log is closed, then drops what is written', async () => {
    const { readable, writable } = new TransformStream<string, string>();
    const writer = new LogWriter(writable.getWriter());
    const read = (async () => {
      const out: string[] = [];
      for await (const s of readable as unknown as AsyncIterable<string>) out.push(s);
      return out;
    })();
    await writer.write('a');
    await writer.close();
    // Node's own writer would fail an internal assertion here (a write after close); this one drops it.
    await expect(writer.write('late')).resolves.toBeUndefined();
    expect(await read).toEqual(['a']);
    await expect(writer.closed).resolves.toBeUndefined();
  });

  it('drops writes after an abort too', async () => {
    const { writable } = new TransformStream<string, string>();
    const writer = new LogWriter(writable.getWriter());
    await writer.abort(new Error('left'));
    await expect(writer.write('late')).resolves.toBeUndefined();
  });
});
