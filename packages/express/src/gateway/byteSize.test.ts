import { BYTE_SIZE, parseByteSize } from './byteSize';

describe('parseByteSize', () => {
  it('reads bytes and sizes with units of 1024, dropping a fraction of a byte', () => {
    expect(['64mb', '512KB', '1.5kb', ' 2 gb ', '10b', '10', 4096, 0].map(parseByteSize)).toEqual([
      64 * 1024 * 1024,
      512 * 1024,
      1536,
      2 * 1024 ** 3,
      10,
      10,
      4096,
      0,
    ]);
    expect(parseByteSize('0.5b')).toBe(0);
  });

  it('refuses what is not a size', () => {
    for (const v of ['lots', '32 MiB', '-1mb', '', 1.5, -1, Number.NaN, Infinity, '99999999pb', null, undefined, {}, ['1mb']]) {
      expect(parseByteSize(v)).toBeUndefined();
    }
  });

  it('matches what express.json() reads', () => {
    expect([BYTE_SIZE.test('4mb'), BYTE_SIZE.test('100kb'), BYTE_SIZE.test('4 megabytes')]).toEqual([true, true, false]);
  });
});
