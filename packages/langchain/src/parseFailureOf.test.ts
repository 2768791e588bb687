import { AIMessageChunk, type ToolCallChunk } from '@langchain/core/messages';
import { OutputParserException } from '@langchain/core/output_parsers';
import { parseFailureOf, parseFailureOfSkippedReply, parseFailureOfSkippedToolCalls, parseFailureOfStreamedToolCalls } from './parseFailureOf';

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

  describe('parseFailureOfStreamedToolCalls: the tool calls of a chat model\'s streamed reply, the chunks added up', () => {
    /** The chunks of a streamed reply (each one tool-call piece), added up as LangChain adds them. */
    const streamed = (...pieces: Array<Omit<ToolCallChunk, 'type'>>) =>
      pieces.map((p) => new AIMessageChunk({ content: '', tool_call_chunks: [{ ...p, type: 'tool_call_chunk' }] })).reduce((a, c) => a.concat(c));

    it('is the call whose arguments the stream left incomplete (cut off by max_tokens), which LangChain lists among tool_calls', () => {
      const cut = streamed({ index: 0, id: 'call_1', name: 'lookup', args: '' }, { index: 0, args: '{"q":"the wea' }, { index: 0, args: 'ther in Par' });
      expect(cut.tool_calls).toMatchObject([{ name: 'lookup', args: { q: 'the weather in Par' } }]);
      expect(parseFailureOfStreamedToolCalls(cut)).toEqual({ reason: "the reply's tool call arguments are not valid JSON", text: '{"q":"the weather in Par' });
    });

    it('is any cut call among parallel ones: the caller would run it with the arguments it had', () => {
      const calls = streamed({ index: 0, id: 'call_1', name: 'a', args: '{"x":1}' }, { index: 1, id: 'call_2', name: 'b', args: '{"y":' });
      expect(parseFailureOfStreamedToolCalls(calls)).toMatchObject({ text: '{"y":' });
    });

    it('groups pieces as LangChain does, also pieces the chunks did not merge (by id, by index)', () => {
      const byId = { tool_call_chunks: [{ id: 'call_1', name: 'a', args: '{"x":' }, { id: 'call_1', args: '1}' }] };
      expect(parseFailureOfStreamedToolCalls(byId)).toBeUndefined();
      const byIndex = { tool_call_chunks: [{ index: 3, id: 'call_1', name: 'a', args: '{"x":' }, { index: 3, args: '1}' }] };
      expect(parseFailureOfStreamedToolCalls(byIndex)).toBeUndefined();
    });

    it('is nothing for whole calls, calls without arguments (`{}`), a custom tool\'s raw input, a reply without tool calls, and values that are not messages', () => {
      expect(parseFailureOfStreamedToolCalls(streamed({ index: 0, id: 'call_1', name: 'a', args: '{"x":' }, { index: 0, args: ' 1}' }))).toBeUndefined();
      expect(parseFailureOfStreamedToolCalls(streamed({ index: 0, id: 'call_1', name: 'now', args: '' }))).toBeUndefined();
      expect(parseFailureOfStreamedToolCalls({ tool_call_chunks: [{ index: 0, id: 'call_1', name: 'sql', args: 'SELECT 1', isCustomTool: true }] })).toBeUndefined();
      expect(parseFailureOfStreamedToolCalls(new AIMessageChunk('{"x": 1'))).toBeUndefined();
      for (const none of [undefined, null, 'text', { parsed: { x: 1 } }, { tool_call_chunks: 'garbage' }]) expect(parseFailureOfStreamedToolCalls(none)).toBeUndefined();
    });
  });
});
