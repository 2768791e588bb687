import { extractText, extractUsage } from './extract';

describe('extractUsage', () => {
  it('reads OpenAI chat completions usage', () => {
    expect(extractUsage({ usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 } })).toEqual({ inputTokens: 12, outputTokens: 30 });
  });

  it('reads the OpenAI Responses API and Anthropic usage (input_tokens / output_tokens)', () => {
    expect(extractUsage({ usage: { input_tokens: 7, output_tokens: 9 } })).toEqual({ inputTokens: 7, outputTokens: 9 });
  });

  it('reads LangChain usage_metadata and response_metadata.tokenUsage', () => {
    expect(extractUsage({ usage_metadata: { input_tokens: 5, output_tokens: 6, total_tokens: 11 } })).toEqual({ inputTokens: 5, outputTokens: 6 });
    expect(extractUsage({ response_metadata: { tokenUsage: { promptTokens: 3, completionTokens: 4 } } })).toEqual({ inputTokens: 3, outputTokens: 4 });
  });

  it('counts a missing side as 0 when the other is there', () => {
    expect(extractUsage({ usage: { prompt_tokens: 12 } })).toEqual({ inputTokens: 12, outputTokens: 0 });
  });

  it('falls through to response_metadata when usage holds no usable count', () => {
    const reply = { usage: { prompt_tokens: -1, completion_tokens: Number.NaN }, response_metadata: { tokenUsage: { promptTokens: 8, completionTokens: 2 } } };
    expect(extractUsage(reply)).toEqual({ inputTokens: 8, outputTokens: 2 });
    expect(extractUsage({ usage: 5, response_metadata: { tokenUsage: { promptTokens: 1, completionTokens: 1 } } })).toEqual({ inputTokens: 1, outputTokens: 1 });
  });

  it('returns undefined for anything without usage, never throws', () => {
    const throwing = Object.defineProperty({}, 'usage', {
      get() {
        throw new Error('boom');
      },
    });
    for (const v of [undefined, null, 'text', 42, () => 1, {}, { usage: null }, { usage: { prompt_tokens: '12' } }, { response_metadata: null }, throwing]) {
      expect(extractUsage(v)).toBeUndefined();
    }
  });
});

describe('extractText', () => {
  it('reads a string, OpenAI chat, OpenAI Responses, Anthropic and LangChain content', () => {
    expect(extractText('hi')).toBe('hi');
    expect(extractText({ choices: [{ message: { content: '{"a":1}' } }] })).toBe('{"a":1}');
    expect(extractText({ output_text: 'out' })).toBe('out');
    expect(extractText({ content: [{ type: 'text', text: 'a' }, { type: 'tool_use' }, { type: 'text', text: 'b' }] })).toBe('ab');
    expect(extractText({ content: 'lc' })).toBe('lc');
  });

  it('returns undefined when no text is found', () => {
    expect(extractText(null)).toBeUndefined();
    expect(extractText({ choices: [] })).toBeUndefined();
    expect(extractText({ content: [{ type: 'image' }] })).toBeUndefined();
  });
});
