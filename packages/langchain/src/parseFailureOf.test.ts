import { OutputParserException } from '@langchain/core/output_parsers';
import { parseFailureOf, parseFailureOfEmptyStream } from './parseFailureOf';

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

  it('reads a stream its parser turned into nothing from the reply the parser was given; an empty reply is no failure', () => {
    expect(parseFailureOfEmptyStream('Sure! Here is')).toEqual({ reason: 'the reply is not valid JSON', text: 'Sure! Here is' });
    expect(parseFailureOfEmptyStream('null')).toEqual({ reason: 'the output parser produced no output from the reply', text: 'null' });
    expect(parseFailureOfEmptyStream('  ')).toBeUndefined();
    expect(parseFailureOfEmptyStream(undefined)).toBeUndefined();
  });
});
