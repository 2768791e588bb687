import { scrubRedisError } from './scrubRedisError';

describe('scrubRedisError', () => {
  it("drops an ioredis error's command arguments (the AUTH password) and keeps the rest", () => {
    const err = Object.assign(new Error('WRONGPASS invalid username-password pair'), { command: { name: 'hello', args: ['3', 'AUTH', 'default', 's3cret-pass'] } });
    expect(scrubRedisError(err)).toBe(err);
    expect(err.command).toEqual({ name: 'hello' });
    expect(err.message).toBe('WRONGPASS invalid username-password pair');
    expect(JSON.stringify({ ...err, message: err.message })).not.toContain('s3cret');
  });

  it('returns anything else unchanged', () => {
    const plain = new Error('ECONNREFUSED');
    expect(scrubRedisError(plain)).toBe(plain);
    expect(scrubRedisError('down')).toBe('down');
    expect(scrubRedisError(undefined)).toBeUndefined();
    const frozen = Object.freeze({ command: { name: 'evalsha', args: ['k'] } });
    expect(scrubRedisError(frozen)).toBe(frozen);
  });
});
