import { TypedEmitter } from './TypedEmitter';

type Events = { change: { from: string; to: string }; count: number };
interface InterfaceEvents {
  ping: { at: number };
}

describe('TypedEmitter', () => {
  it('calls listeners in subscription order with the payload', () => {
    const emitter = new TypedEmitter<Events>();
    const seen: string[] = [];
    emitter.on('change', (e) => seen.push(`a:${e.from}->${e.to}`));
    emitter.on('change', (e) => seen.push(`b:${e.from}->${e.to}`));
    emitter.on('count', (n) => seen.push(`count:${n}`));
    emitter.emit('change', { from: 'closed', to: 'open' });
    emitter.emit('count', 3);
    expect(seen).toEqual(['a:closed->open', 'b:closed->open', 'count:3']);
  });

  it('accepts an interface as the event map', () => {
    const emitter = new TypedEmitter<InterfaceEvents>();
    const at: number[] = [];
    emitter.on('ping', (e) => at.push(e.at));
    emitter.emit('ping', { at: 7 });
    expect(at).toEqual([7]);
  });

  it('dispose unsubscribes, once, without touching other listeners', () => {
    const emitter = new TypedEmitter<Events>();
    const seen: number[] = [];
    const a = emitter.on('count', (n) => seen.push(n));
    emitter.on('count', (n) => seen.push(n * 10));
    a.dispose();
    a.dispose();
    emitter.emit('count', 1);
    expect(seen).toEqual([10]);
    expect(emitter.listenerCount('count')).toBe(1);
  });

  it('hasListeners is false before any and after the last dispose', () => {
    const emitter = new TypedEmitter<Events>();
    expect(emitter.hasListeners('count')).toBe(false);
    const sub = emitter.on('count', () => {});
    expect(emitter.hasListeners('count')).toBe(true);
    sub.dispose();
    expect(emitter.hasListeners('count')).toBe(false);
    expect(emitter.listenerCount('count')).toBe(0);
  });

  it('a throwing listener is reported and never breaks the caller or later listeners', () => {
    const errors: Array<[unknown, string]> = [];
    const emitter = new TypedEmitter<Events>({ onListenerError: (e, name) => errors.push([e, name]) });
    const seen: number[] = [];
    const boom = new Error('listener bug');
    emitter.on('count', () => {
      throw boom;
    });
    emitter.on('count', (n) => seen.push(n));
    expect(() => emitter.emit('count', 5)).not.toThrow();
    expect(seen).toEqual([5]);
    expect(errors).toEqual([[boom, 'count']]);
  });

  it('a rejected async listener is reported', async () => {
    const errors: unknown[] = [];
    const emitter = new TypedEmitter<Events>({ onListenerError: (e) => errors.push(e) });
    emitter.on('count', async () => {
      throw new Error('async bug');
    });
    emitter.emit('count', 1);
    await Promise.resolve();
    await Promise.resolve();
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('async bug');
  });

  it('an error reporter that throws is swallowed too', () => {
    const emitter = new TypedEmitter<Events>({
      onListenerError: () => {
        throw new Error('reporter bug');
      },
    });
    emitter.on('count', () => {
      throw new Error('listener bug');
    });
    expect(() => emitter.emit('count', 1)).not.toThrow();
  });

  it('reports to console.error by default', () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const emitter = new TypedEmitter<Events>();
      emitter.on('count', () => {
        throw new Error('x');
      });
      emitter.emit('count', 1);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(String(spy.mock.calls[0]?.[0])).toContain('"count"');
    } finally {
      spy.mockRestore();
    }
  });

  it('subscribing or disposing during emit takes effect from the next emit', () => {
    const emitter = new TypedEmitter<Events>();
    const seen: string[] = [];
    const sub = emitter.on('count', (n) => {
      seen.push(`first:${n}`);
      sub.dispose();
      emitter.on('count', (m) => seen.push(`late:${m}`));
    });
    emitter.on('count', (n) => seen.push(`second:${n}`));
    emitter.emit('count', 1);
    emitter.emit('count', 2);
    expect(seen).toEqual(['first:1', 'second:1', 'second:2', 'late:2']);
  });

  it('emitting with no listeners is a no-op', () => {
    const emitter = new TypedEmitter<Events>();
    expect(() => emitter.emit('change', { from: 'a', to: 'b' })).not.toThrow();
  });
});
