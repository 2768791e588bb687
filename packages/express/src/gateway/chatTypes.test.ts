import { carriesOutput, isObject, type ChatChunk } from './chatTypes';

const chunk = (delta: Record<string, unknown>, finish: string | null = null): ChatChunk => ({
  id: 'c',
  object: 'chat.completion.chunk',
  created: 0,
  model: 'm',
  choices: [{ index: 0, delta, finish_reason: finish }],
});

describe('carriesOutput', () => {
  it('is false for the role chunk and true for text, tool calls, refusals and the finish', () => {
    expect(carriesOutput(chunk({ role: 'assistant', content: '' }))).toBe(false);
    expect(carriesOutput(chunk({ content: 'hi' }))).toBe(true);
    expect(carriesOutput(chunk({ tool_calls: [{ index: 0 }] }))).toBe(true);
    expect(carriesOutput(chunk({ refusal: 'no' }))).toBe(true);
    expect(carriesOutput(chunk({}, 'stop'))).toBe(true);
    expect(carriesOutput({ ...chunk({}), choices: [], usage: { prompt_tokens: 1, completion_tokens: 0, total_tokens: 1 } })).toBe(true);
  });

  it('counts audio with data or a transcript as output, not an audio delta that carries only its id', () => {
    expect(carriesOutput(chunk({ audio: { id: 'audio_1', data: 'AAAA' } }))).toBe(true);
    expect(carriesOutput(chunk({ audio: { transcript: 'Hel' } }))).toBe(true);
    expect(carriesOutput(chunk({ audio: { id: 'audio_1' } }))).toBe(false);
    expect(carriesOutput(chunk({ audio: { data: '', transcript: '' } }))).toBe(false);
    expect(carriesOutput(chunk({ audio: null }))).toBe(false);
  });
});

describe('isObject', () => {
  it('accepts plain objects only', () => {
    expect(isObject({})).toBe(true);
    expect(isObject([])).toBe(false);
    expect(isObject(null)).toBe(false);
  });
});
