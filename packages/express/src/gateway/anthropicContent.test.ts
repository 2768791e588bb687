import { anthropicToolId, assistantBlocks, LegacyCallIds, textContent, userBlocks } from './anthropicContent';
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

  it('leaves out whitespace-only texts, which Anthropic refuses', () => {
    expect(userBlocks([{ type: 'text', text: ' \n\t' }, { type: 'text', text: ' x ' }], at)).toEqual([{ type: 'text', text: ' x ' }]);
    expect(userBlocks('\n', at)).toEqual([]);
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

describe('anthropicToolId', () => {
  it('keeps ids Anthropic accepts and maps others deterministically, without collisions', () => {
    expect(anthropicToolId('call_AbC-9')).toBe('call_AbC-9');
    const a = anthropicToolId('functions.get_weather:0');
    expect(a).toMatch(/^functions_get_weather_0_[0-9a-f]{8}$/);
    expect(anthropicToolId('functions.get_weather:0')).toBe(a);
    expect(anthropicToolId('functions:get_weather.0')).not.toBe(a);
    expect(anthropicToolId('functions_get_weather_0')).toBe('functions_get_weather_0');
  });
});

describe('LegacyCallIds', () => {
  it('gives each call of a function a unique id and answers the latest unanswered call of its name', () => {
    const ids = new LegacyCallIds();
    expect(ids.call('lookup')).toBe('lookup_1');
    expect(ids.call('lookup')).toBe('lookup_2');
    expect(ids.call('other')).toBe('other_1');
    expect(ids.result('lookup')).toBe('lookup_2');
    expect(ids.result('lookup')).toBe('lookup_1');
    expect(ids.result('lookup')).toBe('lookup');
    expect(ids.result('other')).toBe('other_1');
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
      { type: 'tool_use', id: 'legacy_1', name: 'legacy', input: {} },
    ]);
  });

  it('leaves out whitespace-only text and maps tool call ids Anthropic would refuse', () => {
    const blocks = assistantBlocks({ role: 'assistant', content: '\n', tool_calls: [{ id: 'functions.f:0', type: 'function', function: { name: 'f', arguments: '{}' } }] }, at);
    expect(blocks).toEqual([{ type: 'tool_use', id: anthropicToolId('functions.f:0'), name: 'f', input: {} }]);
  });

  it('numbers the legacy function calls of one conversation through the LegacyCallIds it is given', () => {
    const legacy = new LegacyCallIds();
    const call = () => assistantBlocks({ role: 'assistant', content: null, function_call: { name: 'lookup', arguments: '{}' } }, at, legacy)[0]!.id;
    expect([call(), call()]).toEqual(['lookup_1', 'lookup_2']);
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
