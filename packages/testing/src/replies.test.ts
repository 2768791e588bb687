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
    expect(a.outputTokens).toBe(16);
    expect(a.finish).toBe('stop');
    expect(buildReply(input({ promptText: 'other' })).text).not.toBe(a.text);
  });

  it('makes a text reply exactly replyTokens tokens long, whatever the model, prompt and seed', () => {
    for (const model of ['m', 'fast-a', 'a-much-longer-model-name']) {
      for (let replyTokens = 12; replyTokens <= 80; replyTokens++) {
        for (let seed = 1; seed <= 8; seed++) {
          const r = buildReply(input({ model, promptText: `prompt ${replyTokens}/${seed}`, replyTokens, seed }));
          expect([model, replyTokens, seed, r.outputTokens]).toEqual([model, replyTokens, seed, replyTokens]);
          expect(r.outputTokens).toBe(estimateTokens(r.text));
          expect(r.text).toMatch(new RegExp(`^\\[${model}\\] reply to [0-9a-f]{8}:( [a-z]+)*\\.$`));
        }
      }
    }
  });

  it('keeps the whole tag when replyTokens is too small to hold it: the reply is the tag alone', () => {
    const r = buildReply(input({ replyTokens: 2 }));
    expect(r.text).toBe(`${replyTag('fast-a', 'hello')}:.`);
    expect(r.outputTokens).toBe(estimateTokens(r.text));
    // Just enough room for the tag: still exactly replyTokens.
    for (let replyTokens = 7; replyTokens <= 12; replyTokens++) expect(buildReply(input({ replyTokens })).outputTokens).toBe(replyTokens);
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
