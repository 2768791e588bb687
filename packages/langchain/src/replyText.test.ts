import { AIMessage } from '@langchain/core/messages';
import { replyText } from './replyText';

describe('replyText', () => {
  it('returns strings as is and message text', () => {
    expect(replyText('{"a":1}')).toBe('{"a":1}');
    expect(replyText(new AIMessage('{"intent":"refund"}'))).toBe('{"intent":"refund"}');
    expect(replyText(new AIMessage({ content: [{ type: 'text', text: '{"a":' }, { type: 'text', text: '1}' }] }))).toBe('{"a":1}');
  });

  it('uses the first tool call arguments when a message has no text', () => {
    const m = new AIMessage({ content: '', tool_calls: [{ id: 'c', name: 'rating', args: { score: 3 } }] });
    expect(replyText(m)).toBe('{"score":3}');
    expect(replyText(new AIMessage(''))).toBe('');
  });

  it('serializes parsed objects, and the parsed part of includeRaw results', () => {
    expect(replyText({ intent: 'refund' })).toBe('{"intent":"refund"}');
    expect(replyText([1, 2])).toBe('[1,2]');
    expect(replyText({ raw: new AIMessage('{"x":1}'), parsed: { x: 1 } })).toBe('{"x":1}');
    expect(replyText({ raw: new AIMessage('oops'), parsed: null })).toBe('null');
    expect(replyText(3)).toBe('3');
    expect(replyText(undefined)).toBeUndefined();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(replyText(cyclic)).toBeUndefined();
  });
});
