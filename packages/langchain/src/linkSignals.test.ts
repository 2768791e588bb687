import { linkSignals } from './linkSignals';

describe('linkSignals', () => {
  it('returns the only signal as is, and undefined for none', () => {
    const a = new AbortController();
    expect(linkSignals(a.signal, undefined)).toBe(a.signal);
    expect(linkSignals(a.signal, a.signal)).toBe(a.signal);
    expect(linkSignals(undefined)).toBeUndefined();
  });

  it('aborts when any signal aborts, with its reason', () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkSignals(a.signal, b.signal)!;
    expect(linked.aborted).toBe(false);
    b.abort(new Error('caller gave up'));
    expect(linked.aborted).toBe(true);
    expect((linked.reason as Error).message).toBe('caller gave up');
  });
});
