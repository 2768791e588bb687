import { jsonCandidates, parseJsonReply } from './parseJsonReply';

describe('parseJsonReply', () => {
  it('reads the whole text, a fenced block, or a span inside prose', () => {
    expect(parseJsonReply('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonReply('Sure! ```json\n{"intent":"refund"}\n```')).toEqual({ ok: true, value: { intent: 'refund' } });
    expect(parseJsonReply('Here it is: {"a":[1,2]} hope it helps')).toEqual({ ok: true, value: { a: [1, 2] } });
  });

  it('skips a span that does not parse and reads the next one', () => {
    expect(parseJsonReply('Here is {the} answer: {"a":1}')).toEqual({ ok: true, value: { a: 1 } });
  });

  it('says why when nothing parses', () => {
    expect(parseJsonReply('')).toEqual({ ok: false, reason: 'empty reply' });
    expect(parseJsonReply('no json here {oops')).toEqual({ ok: false, reason: 'the reply is not valid JSON' });
  });
});

describe('jsonCandidates', () => {
  it('yields every parseable value in order, not the inner brackets of one already read', () => {
    expect([...jsonCandidates('Note [1] below. {"intent":"refund","tags":["a"]}')]).toEqual([[1], { intent: 'refund', tags: ['a'] }]);
    expect([...jsonCandidates('```json\n{"a":1}\n``` and ```\n{"b":2}\n```')]).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it('stays bounded on long replies full of brackets', () => {
    // 64 bracket positions are tried at most: the object after 20 000 unclosed ones is not reached.
    expect([...jsonCandidates('[x '.repeat(20_000) + '{"a":1}')]).toEqual([]);
    expect([...jsonCandidates('[x '.repeat(10) + '{"a":1}')]).toEqual([{ a: 1 }]);
    expect([...jsonCandidates('[1] '.repeat(100))]).toHaveLength(16);
  });
});
