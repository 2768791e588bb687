import { shownValue, valueType } from './describeValue';

describe('valueType / shownValue', () => {
  it('names a value by its type, never its contents', () => {
    expect([null, undefined, [1], Promise.resolve(1), { id: 'u1' }, 'sk-secret', 10n, () => 1].map(valueType)).toEqual([
      'null',
      'undefined',
      'an array',
      'a Promise',
      'an object',
      'a string',
      'a bigint',
      'a function',
    ]);
  });

  it('shows numbers, booleans and short strings of options, anything else by type', () => {
    expect([-1, true, 'everyone', 'x'.repeat(21), { a: 1 }, 10n].map(shownValue)).toEqual(['-1', 'true', "'everyone'", 'a string of 21 characters', 'an object', 'a bigint']);
  });
});
