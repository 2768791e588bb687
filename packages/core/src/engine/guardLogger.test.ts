import { guardLogger } from './guardLogger';

describe('guardLogger', () => {
  it('passes messages through with the logger as `this`, and swallows what a level throws', () => {
    const seen: string[] = [];
    const logger = {
      prefix: 'app',
      info(this: { prefix: string }, m: string) {
        seen.push(`${this.prefix}:${m}`);
      },
      error() {
        throw new Error('transport down');
      },
    };
    const g = guardLogger(logger);
    g.info?.('started', { port: 1 });
    expect(() => g.error?.('provider needs attention')).not.toThrow();
    expect(seen).toEqual(['app:started']);
  });

  it('keeps absent levels absent', () => {
    const g = guardLogger({ warn: () => undefined });
    expect(g.warn).toBeDefined();
    expect(g.debug).toBeUndefined();
    expect(g.error).toBeUndefined();
  });

  it('passes the string fields through `redact`, never the message, and leaves the caller\'s fields object as it was', () => {
    const seen: Array<[string, Record<string, unknown> | undefined]> = [];
    const g = guardLogger({ error: (m: string, f?: Record<string, unknown>) => seen.push([m, f]) }, (t) => t.replace('k-0123456789', '[redacted]'));
    const fields = { requestId: 'req_1', status: 401, error: 'Error: bad key k-0123456789', nested: { text: 'k-0123456789' } };
    g.error?.('provider k-0123456789 needs attention', fields);
    g.error?.('no fields');
    expect(seen).toEqual([
      ['provider k-0123456789 needs attention', { requestId: 'req_1', status: 401, error: 'Error: bad key [redacted]', nested: { text: 'k-0123456789' } }],
      ['no fields', undefined],
    ]);
    expect(fields.error).toBe('Error: bad key k-0123456789');
  });
});
