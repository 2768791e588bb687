import { OutputParserException } from '@langchain/core/output_parsers';
import { parseFailureOf, parseFailureOfSkippedReply, parseFailureOfSkippedToolCalls } from './parseFailureOf';

describe('parseFailureOf', () => {
  it("reads LangChain's OutputParserException, with the reply's text; JSON it still rejected failed the parser's schema", () => {
    expect(parseFailureOf(new OutputParserException('Failed to parse. Text: "Sure!"', 'Sure!'), () => false)).toEqual({
      reason: 'the reply is not valid JSON',
      text: 'Sure!',
    });
    expect(parseFailureOf(new OutputParserException('Failed to parse', '{"intent":"complaint"}'), () => false)).toEqual({
      reason: "the reply does not match the output parser's schema",
      text: '{"intent":"complaint"}',
    });
    expect(parseFailureOf(new OutputParserException('Failed to parse'), () => false)).toEqual({ reason: 'the reply is not valid JSON' });
  });

  it('counts a SyntaxError only when a parsing run raised it', () => {
    const e = new SyntaxError('Unexpected token');
    expect(parseFailureOf(e, (x) => x === e)).toEqual({ reason: 'the reply is not valid JSON' });
    expect(parseFailureOf(e, () => false)).toBeUndefined();
  });

  it('leaves every other error alone', () => {
    expect(parseFailureOf(new Error('HTTP 503'), () => true)).toBeUndefined();
    expect(parseFailureOf('boom', () => true)).toBeUndefined();
  });

  it('reads a reply a skipping parser turned into nothing as unparsable only when invoke() would have rejected it', () => {
    expect(parseFailureOfSkippedReply('Sure! Here is')).toEqual({ reason: 'the reply is not valid JSON', text: 'Sure! Here is' });
    expect(parseFailureOfSkippedReply('{"reply": "cut of')).toEqual({ reason: 'the reply is not valid JSON', text: '{"reply": "cut of' });
    // Valid JSON (the parser's output is null or empty) and JSON in a Markdown fence, as LangChain reads it.
    for (const json of ['null', '""', '0', '{}', '```json\n{"a": 1}\n```']) expect(parseFailureOfSkippedReply(json)).toBeUndefined();
    expect(parseFailureOfSkippedReply('  ')).toBeUndefined();
    expect(parseFailureOfSkippedReply(undefined)).toBeUndefined();
  });

  it('reads tool calls a tool-call parser turned into nothing as unparsable only when invoke() would have thrown: none has complete JSON arguments', () => {
    const call = (args: unknown, name = 'summary') => ({ id: 'call_1', type: 'function', function: { name, arguments: args } });
    expect(parseFailureOfSkippedToolCalls([call('{"ti')])).toEqual({ reason: "the reply's tool call arguments are not valid JSON", text: '{"ti' });
    expect(parseFailureOfSkippedToolCalls([call(undefined)])).toEqual({ reason: "the reply's tool call arguments are not valid JSON" });
    // One complete call is a parsed tool call: invoke() reads it and does not throw.
    expect(parseFailureOfSkippedToolCalls([call('{"ti'), call('{}', 'other')])).toBeUndefined();
    expect(parseFailureOfSkippedToolCalls([call('{}')])).toBeUndefined();
    // No tool call at all (a reply in prose): invoke() returns an empty result.
    for (const none of [undefined, [], [{ id: 'call_1' }], 'garbage']) expect(parseFailureOfSkippedToolCalls(none)).toBeUndefined();
  });
});
