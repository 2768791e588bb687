import { ERROR_KINDS } from './ErrorKind';
import { isErrorKind } from './isErrorKind';

describe('isErrorKind', () => {
  it('accepts every kind', () => {
    for (const kind of ERROR_KINDS) expect(isErrorKind(kind)).toBe(true);
  });

  it.each([['RATE_LIMITED'], ['rate-limited'], [''], [429], [null], [undefined], [{}], [['rate_limited']]])('rejects %j', (value) => {
    expect(isErrorKind(value)).toBe(false);
  });
});
