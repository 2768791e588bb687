import { failureFields } from './failureFields';

describe('failureFields', () => {
  it('keeps the class, a short code and the call sites, never the message', () => {
    const err = Object.assign(new Error('user db down: postgres://admin:hunter2@db'), { code: 'ECONNREFUSED' });
    const f = failureFields(err);
    expect(f.error).toBe('Error');
    expect(f.errorCode).toBe('ECONNREFUSED');
    expect(f.stack).toMatch(/^\s+at /);
    expect(JSON.stringify(f)).not.toContain('hunter2');
  });

  it('describes non-errors by type only', () => {
    expect(failureFields('postgres://admin:hunter2@db')).toEqual({ error: 'string' });
    expect(failureFields(null)).toEqual({ error: 'null' });
    expect(failureFields(new TypeError('x'))).toMatchObject({ error: 'TypeError' });
  });
});
