import { AIMessageChunk } from '@langchain/core/messages';
import { isEmptyOutput } from './isEmptyOutput';

describe('isEmptyOutput', () => {
  it.each([undefined, null, '', {}, [], [{}, []], Object.create(null) as object, [{ type: 'summary', args: {} }], [{ type: 'summary', args: {}, id: 'call_1' }]])('is true for a value without any of an answer: %p', (v) => {
    expect(isEmptyOutput(v)).toBe(true);
  });

  it.each([{ title: '' }, [{ type: 'summary', args: { title: '' } }], [{ type: 'summary', args: {}, extra: 1 }], 0, false, 'a', new Date(0), new AIMessageChunk({ content: '' })])(
    'is false for a value with something in it, or an instance of a class: %p',
    (v) => {
      expect(isEmptyOutput(v)).toBe(false);
    },
  );
});
