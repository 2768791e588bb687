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
});
