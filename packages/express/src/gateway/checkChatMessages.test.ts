import type { ChatRequestError } from './ChatRequestError';
import { refusalOf } from './refusalOf';
import { assertChatMessages } from './checkChatMessages';

const refusal = (messages: unknown[]): ChatRequestError => refusalOf(() => assertChatMessages(messages), 'assertChatMessages()');

describe('assertChatMessages', () => {
  it('accepts strings, arrays of typed parts, null and absent content', () => {
    expect(() =>
      assertChatMessages([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'input_audio', input_audio: { data: 'UklG', format: 'wav' } }] },
        { role: 'assistant', content: null, tool_calls: [] },
        { role: 'assistant' },
      ]),
    ).not.toThrow();
  });

  it('names the path and the type of the first malformed message, content or part', () => {
    expect(refusal([null])).toMatchObject({ param: 'messages[0]', openAICode: 'invalid_type', message: "Invalid type for 'messages[0]': expected an object, but got null instead." });
    expect(refusal([{ role: 'user', content: 'ok' }, 'hi'])).toMatchObject({ param: 'messages[1]', message: expect.stringContaining('but got a string instead') });
    expect(refusal([{ content: 'x' }])).toMatchObject({ param: 'messages[0].role', openAICode: 'missing_required_parameter' });
    expect(refusal([{ role: 'user', content: 42 }])).toMatchObject({ param: 'messages[0].content', message: expect.stringContaining('but got an integer instead') });
    expect(refusal([{ role: 'user', content: [{ type: 'text', text: 'a' }, null] }])).toMatchObject({ param: 'messages[0].content[1]' });
    expect(refusal([{ role: 'user', content: [{ text: 'a' }] }])).toMatchObject({ param: 'messages[0].content[0].type', openAICode: 'missing_required_parameter' });
  });

  it('is an invalid_request error of the gateway with a stable code', () => {
    expect(refusal([null])).toMatchObject({ kind: 'invalid_request', code: 'ERR_LLMR_EXPRESS_GATEWAY_INVALID_REQUEST' });
  });
});
