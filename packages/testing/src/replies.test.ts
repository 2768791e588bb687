import { buildReply, chunkText, estimateTokens, replyTag, type ReplyInput } from './replies';

const input = (over: Partial<ReplyInput> = {}): ReplyInput => ({
  model: 'fast-a',
  promptText: 'hello',
  format: { type: 'text' },
  maxTokens: undefined,
  replyTokens: 16,
  seed: 1,
  invalidJson: false,
  ...over,
});

describe('estimateTokens', () => {
  it('is ceil(chars / 4)', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('abcd')).toBe(1);
    expect(estimateTokens('abcde')).toBe(2);
  });
});

describe('buildReply', () => {
  it('tags text with the model and the prompt hash, deterministically', () => {
    const a = buildReply(input());
    expect(a.text.startsWith(`${replyTag('fast-a', 'hello')}: `)).toBe(true);
    expect(a).toEqual(buildReply(input()));
    expect(a.outputTokens).toBe(estimateTokens(a.text));
    expect(a.outputTokens).toBeGreaterThanOrEqual(16);
    expect(a.finish).toBe('stop');
    expect(buildReply(input({ promptText: 'other' })).text).not.toBe(a.text);
  });

  it('cuts at max_tokens and finishes with length', () => {
    const r = buildReply(input({ maxTokens: 3 }));
    expect(r.outputTokens).toBe(3);
    expect(r.text).toHaveLength(12);
    expect(r.finish).toBe('length');
  });

  it('answers JSON for json_object and json_schema', () => {
    expect(JSON.parse(buildReply(input({ format: { type: 'json_object' } })).text)).toEqual({ reply: replyTag('fast-a', 'hello') });
    const schema = { type: 'object', properties: { intent: { enum: ['a', 'b'] } }, required: ['intent'] };
    expect(JSON.parse(buildReply(input({ format: { type: 'json_schema', schema } })).text)).toEqual({ intent: 'a' });
  });

  it('answers text that is not JSON under invalid_json_reply', () => {
    const r = buildReply(input({ format: { type: 'json_object' }, invalidJson: true }));
    expect(() => JSON.parse(r.text)).toThrow(SyntaxError);
    const t = buildReply(input({ format: { type: 'tool', name: 'f', schema: {} }, invalidJson: true }));
    expect(t.toolCall).toBeUndefined();
    expect(() => JSON.parse(t.text)).toThrow(SyntaxError);
  });

  it('cuts forced tool-call arguments at max_tokens like text, finishing with length', () => {
    const schema = { type: 'object', properties: { label: { type: 'string' }, reason: { type: 'string' } }, required: ['label', 'reason'] };
    const full = buildReply(input({ format: { type: 'tool', name: 'classify', schema } }));
    const r = buildReply(input({ format: { type: 'tool', name: 'classify', schema }, maxTokens: 3 }));
    expect(r.finish).toBe('length');
    expect(r.outputTokens).toBe(3);
    expect(r.toolCall).toMatchObject({ id: full.toolCall!.id, name: 'classify', arguments: full.toolCall!.arguments.slice(0, 12), input: {} });
    expect(() => JSON.parse(r.toolCall!.arguments)).toThrow(SyntaxError);
    expect(buildReply(input({ format: { type: 'tool', name: 'classify', schema }, maxTokens: full.outputTokens }))).toEqual(full);
  });

  it('builds a tool call from the tool schema', () => {
    const r = buildReply(input({ format: { type: 'tool', name: 'classify', schema: { type: 'object', properties: { n: { type: 'integer' } } } } }));
    expect(r.finish).toBe('tool');
    expect(r.toolCall).toMatchObject({ name: 'classify', arguments: '{"n":0}', input: { n: 0 } });
    expect(r.outputTokens).toBe(estimateTokens('{"n":0}'));
  });
});

describe('chunkText', () => {
  it('splits into words that join back to the text', () => {
    expect(chunkText('a bc  d')).toEqual(['a ', 'bc  ', 'd']);
    expect(chunkText('')).toEqual(['']);
  });
});
