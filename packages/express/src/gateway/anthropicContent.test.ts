import { assistantBlocks, textContent, userBlocks } from './anthropicContent';
import type { ChatRequestError } from './ChatRequestError';
import { refusalOf } from './refusalOf';

const at = { path: 'messages[0]', model: 'support' };

const refusal = (run: () => unknown): ChatRequestError => refusalOf(run);

describe('userBlocks', () => {
  it('translates text, images and base64 PDF files, leaving out empty texts', () => {
    expect(
      userBlocks(
        [
          { type: 'text', text: 'Summarise the attached contract.' },
          { type: 'text', text: '' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBO', detail: 'high' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          { type: 'file', file: { filename: 'contract.pdf', file_data: 'data:application/pdf;base64,JVBERi0xLjQK' } },
          { type: 'file', file: { filename: 'raw.PDF', file_data: 'JVBERi0xLjQK' } },
        ],
        at,
      ),
    ).toEqual([
      { type: 'text', text: 'Summarise the attached contract.' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBO' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQK' }, title: 'contract.pdf' },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQK' }, title: 'raw.PDF' },
    ]);
    expect(userBlocks('', at)).toEqual([]);
  });

  it('refuses parts with no faithful Anthropic form, naming their path', () => {
    const audio = refusal(() => userBlocks([{ type: 'text', text: 'hi' }, { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } }], at));
    expect(audio).toMatchObject({ param: 'messages[0].content[1]', openAICode: 'unsupported_value' });
    expect(audio.message).toBe(`Unsupported value: a content part of type "input_audio" in 'messages[0].content[1]' is not supported with model \`support\`.`);
    expect(refusal(() => userBlocks([{ type: 'file', file: { file_id: 'file-abc' } }], at))).toMatchObject({ param: 'messages[0].content[0]', message: expect.stringContaining('file_data') });
    expect(refusal(() => userBlocks([{ type: 'file', file: { file_data: 'data:text/csv;base64,YSxi' } }], at)).message).toContain("'text/csv'");
    expect(refusal(() => userBlocks([{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } }], at)).message).toContain("'image/bmp'");
    expect(refusal(() => userBlocks([{ type: 'image_url', image_url: { url: 'data:image/svg+xml,<svg/>' } }], at)).param).toBe('messages[0].content[0]');
    expect(refusal(() => userBlocks([{ type: 'image_url', image_url: { url: 'ftp://x/cat.png' } }], at)).param).toBe('messages[0].content[0]');
    expect(refusal(() => userBlocks([{ type: 'text', text: 5 }], at))).toMatchObject({ param: 'messages[0].content[0].text', openAICode: 'invalid_type' });
    expect(refusal(() => userBlocks(42, at))).toMatchObject({ param: 'messages[0].content' });
  });
});

describe('textContent', () => {
  it('joins text parts and refuses any other part', () => {
    expect(textContent([{ type: 'text', text: 'Be ' }, { type: 'text', text: 'brief.' }], at)).toBe('Be brief.');
    expect(refusal(() => textContent([{ type: 'image_url', image_url: { url: 'https://x/y.png' } }], at))).toMatchObject({
      param: 'messages[0].content[0]',
      message: expect.stringContaining('This message can only hold text.'),
    });
  });
});

describe('assistantBlocks', () => {
  it('keeps text, refusals, tool calls and legacy function calls', () => {
    expect(
      assistantBlocks(
        {
          role: 'assistant',
          content: [{ type: 'text', text: 'Let me check. ' }, { type: 'refusal', refusal: 'Not that, though.' }],
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
          function_call: { name: 'legacy', arguments: '' },
        },
        at,
      ),
    ).toEqual([
      { type: 'text', text: 'Let me check. Not that, though.' },
      { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'legacy', name: 'legacy', input: {} },
    ]);
  });

  it('refuses audio replies, custom tool calls and arguments that are not a JSON object', () => {
    expect(refusal(() => assistantBlocks({ role: 'assistant', audio: { id: 'audio_1' } }, at))).toMatchObject({ param: 'messages[0].audio' });
    expect(refusal(() => assistantBlocks({ role: 'assistant', tool_calls: [{ id: 'c', type: 'custom', custom: { name: 'x', input: 'y' } }] }, at))).toMatchObject({
      param: 'messages[0].tool_calls[0]',
    });
    expect(refusal(() => assistantBlocks({ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{bad' } }] }, at))).toMatchObject({
      param: 'messages[0].tool_calls[0].function.arguments',
      openAICode: 'invalid_value',
    });
    expect(refusal(() => assistantBlocks({ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1]' } }] }, at)).message).toContain('an array');
  });
});
