import { isCompleteJson } from './isCompleteJson';

describe('isCompleteJson', () => {
  it.each(['{}', '{"q":"Paris"}', ' [1, {"a": null}] ', '"text"', '0', 'null', '{"a":"say \\"hi\\"\\n"}'])('is true for JSON: %j', (text) => {
    expect(isCompleteJson(text)).toBe(true);
  });

  it.each(['{"code":"print(1)\nprint(2)"}', '{"cells":["a\tb","c\r\nd"]}', '{"a":"\\\\\n"}'])(
    'is true for a whole value with raw control characters inside a string, as LangChain reads it: %j',
    (text) => {
      expect(() => JSON.parse(text)).toThrow();
      expect(isCompleteJson(text)).toBe(true);
    },
  );

  it.each(['', '{', '{"q":"Par', '{"q":', '{"code":"print(1)\nprint(', '[1, 2', '{"a":1}}', '{\n"a"\n:\n1', 'Sure! {"a":1}'])('is false for a value cut off or not JSON: %j', (text) => {
    expect(isCompleteJson(text)).toBe(false);
  });

  it('does not take a raw control character outside a string for whitespace it is not', () => {
    expect(isCompleteJson('{"a":1,\u0001"b":2}')).toBe(false);
  });
});
