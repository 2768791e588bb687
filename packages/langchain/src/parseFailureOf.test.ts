import { AIMessage, AIMessageChunk, type ToolCallChunk } from '@langchain/core/messages';
import { JsonOutputKeyToolsParser } from '@langchain/core/output_parsers/openai_tools';
import { z } from 'zod';
import { OutputParserException } from '@langchain/core/output_parsers';
import {
  parseFailureOf,
  parseFailureOfCutJsonReply, parseFailureOfSkippedReply, parseFailureOfSkippedToolCalls, parseFailureOfStreamedToolCalls,
  parseFailureOfToolCallSchema,
} from './parseFailureOf';

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

  it("reads a reply the provider cut off as unparsable when JsonOutputParser.invoke() would reject it, blank included; without the signal, never", () => {
    const length = { field: 'response_metadata.finish_reason', value: 'length' };
    expect(parseFailureOfCutJsonReply('{"title":"Quarterly res', length)).toEqual({ reason: 'the reply is not valid JSON', text: '{"title":"Quarterly res' });
    expect(parseFailureOfCutJsonReply('  ', length)).toEqual({ reason: 'the reply is not valid JSON', text: '  ' });
    // invoke() reads JSON strictly: a raw newline inside a string is not JSON to it.
    expect(parseFailureOfCutJsonReply('{"code":"a\nb"}', length)).toMatchObject({ reason: 'the reply is not valid JSON' });
    for (const whole of ['{"title":"Q3"}', 'null', '```json\n{"a": 1}\n```']) expect(parseFailureOfCutJsonReply(whole, length)).toBeUndefined();
    expect(parseFailureOfCutJsonReply('{"title":"Quarterly res', undefined)).toBeUndefined();
    expect(parseFailureOfCutJsonReply(undefined, length)).toBeUndefined();
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

  describe("parseFailureOfStreamedToolCalls: the tool calls of a chat model's streamed reply, the chunks added up", () => {
    /** The last chunk of a reply cut off by `max_tokens`, as @langchain/openai streams it for Chat Completions. */
    const LENGTH = new AIMessageChunk({ content: '', response_metadata: { finish_reason: 'length' } });
    /** The chunks of a streamed reply (each one tool-call piece), added up as LangChain adds them, then `end`. */
    const streamedUntil = (end: AIMessageChunk | undefined, ...pieces: Array<Omit<ToolCallChunk, 'type'>>) =>
      [...pieces.map((p) => new AIMessageChunk({ content: '', tool_call_chunks: [{ ...p, type: 'tool_call_chunk' }] })), ...(end ? [end] : [])].reduce((a, c) => a.concat(c));
    /** A reply the provider says was cut off by `max_tokens`. */
    const cutOff = (...pieces: Array<Omit<ToolCallChunk, 'type'>>) => streamedUntil(LENGTH, ...pieces);
    /** Pieces not merged by chunks, in a message the provider says was cut off. */
    const unmerged = (...pieces: object[]) => ({ tool_call_chunks: pieces, response_metadata: { finish_reason: 'length' } });

    it('is the call whose arguments a reply cut off by max_tokens left incomplete, which LangChain lists among tool_calls', () => {
      const cut = cutOff({ index: 0, id: 'call_1', name: 'lookup', args: '' }, { index: 0, args: '{"q":"the wea' }, { index: 0, args: 'ther in Par' });
      expect(cut.tool_calls).toMatchObject([{ name: 'lookup', args: { q: 'the weather in Par' } }]);
      expect(parseFailureOfStreamedToolCalls(cut)).toEqual({ reason: "the reply's tool call arguments are not valid JSON", text: '{"q":"the weather in Par' });
    });

    it.each([
      ['Anthropic (stop_reason in additional_kwargs, from message_delta)', { additional_kwargs: { stop_reason: 'max_tokens', stop_sequence: null } }],
      ['the Responses API (status, incomplete_details)', { response_metadata: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } } }],
      ['Bedrock Converse (messageStop)', { response_metadata: { messageStop: { stopReason: 'max_tokens' } } }],
      ['Gemini (finishReason)', { response_metadata: { finishReason: 'MAX_TOKENS' } }],
    ])('counts the cut whoever says it: %s', (_, said) => {
      const cut = streamedUntil(new AIMessageChunk({ content: '', ...said }), { index: 0, id: 'call_1', name: 'lookup', args: '{"q":"the wea' });
      expect(parseFailureOfStreamedToolCalls(cut)).toMatchObject({ text: '{"q":"the wea' });
    });

    it('is nothing when the provider does not say the reply was cut off (as LangChain judges nothing): another reason, or none', () => {
      const pieces = [{ index: 0, id: 'call_1', name: 'lookup', args: '{"q":"the wea' }];
      expect(parseFailureOfStreamedToolCalls(streamedUntil(undefined, ...pieces))).toBeUndefined();
      expect(parseFailureOfStreamedToolCalls(streamedUntil(new AIMessageChunk({ content: '', response_metadata: { finish_reason: 'tool_calls' } }), ...pieces))).toBeUndefined();
      expect(parseFailureOfStreamedToolCalls(streamedUntil(new AIMessageChunk({ content: '', response_metadata: { status: 'completed' } }), ...pieces))).toBeUndefined();
    });

    it('is any cut call among parallel ones: the caller would run it with the arguments it had', () => {
      const calls = cutOff({ index: 0, id: 'call_1', name: 'a', args: '{"x":1}' }, { index: 1, id: 'call_2', name: 'b', args: '{"y":' });
      expect(parseFailureOfStreamedToolCalls(calls)).toMatchObject({ text: '{"y":' });
    });

    it('judges completeness as LangChain reads arguments: a raw newline inside a string is whole, beside a call that is cut', () => {
      const lenient = '{"code":"print(1)\nprint(2)"}';
      expect(parseFailureOfStreamedToolCalls(cutOff({ index: 0, id: 'call_1', name: 'run_code', args: lenient }))).toBeUndefined();
      expect(parseFailureOfStreamedToolCalls(cutOff({ index: 0, id: 'call_1', name: 'run_code', args: lenient }, { index: 1, id: 'call_2', name: 'run_code', args: '{"code":"print(3)\npri' }))).toMatchObject({
        text: '{"code":"print(3)\npri',
      });
    });

    it('groups pieces as LangChain does, also pieces the chunks did not merge (by id, by index)', () => {
      expect(parseFailureOfStreamedToolCalls(unmerged({ id: 'call_1', name: 'a', args: '{"x":' }, { id: 'call_1', args: '1}' }))).toBeUndefined();
      expect(parseFailureOfStreamedToolCalls(unmerged({ index: 3, id: 'call_1', name: 'a', args: '{"x":' }, { index: 3, args: '1}' }))).toBeUndefined();
      expect(parseFailureOfStreamedToolCalls(unmerged({ index: 3, id: 'call_1', name: 'a', args: '{"x":' }, { index: 3, args: '1' }))).toMatchObject({ text: '{"x":1' });
    });

    it('counts only calls opened by a piece that names the tool: pieces without one are no call to run (a custom tool streamed by @langchain/openai before 1.4.7)', () => {
      expect(parseFailureOfStreamedToolCalls(unmerged({ index: 0, args: 'SELECT name ' }, { index: 0, args: 'FROM users WHERE' }))).toBeUndefined();
      expect(parseFailureOfStreamedToolCalls(unmerged({ index: 0, id: 'call_1', name: '', args: '{"x":' }))).toBeUndefined();
    });

    it("is nothing for whole calls, calls without arguments (`{}`), a custom tool's raw input, a reply without tool calls, and values that are not messages", () => {
      expect(parseFailureOfStreamedToolCalls(cutOff({ index: 0, id: 'call_1', name: 'a', args: '{"x":' }, { index: 0, args: ' 1}' }))).toBeUndefined();
      expect(parseFailureOfStreamedToolCalls(cutOff({ index: 0, id: 'call_1', name: 'now', args: '' }))).toBeUndefined();
      expect(parseFailureOfStreamedToolCalls(unmerged({ index: 0, id: 'call_1', name: 'sql', args: 'SELECT 1', isCustomTool: true }))).toBeUndefined();
      expect(parseFailureOfStreamedToolCalls(new AIMessageChunk({ content: '{"x": 1', response_metadata: { finish_reason: 'length' } }))).toBeUndefined();
      for (const none of [undefined, null, 'text', { parsed: { x: 1 } }, { tool_call_chunks: 'garbage' }]) expect(parseFailureOfStreamedToolCalls(none)).toBeUndefined();
    });
  });

  describe("parseFailureOfToolCallSchema: tool-call arguments checked with the parser's schema, as its invoke() checks them", () => {
    const Summary = z.object({ title: z.string() });
    const parser = (fields: { returnSingle?: boolean; returnId?: boolean; schema?: z.ZodType<Record<string, unknown>, Record<string, unknown>> } = {}) =>
      new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: fields.returnSingle ?? true, returnId: fields.returnId ?? false, zodSchema: fields.schema ?? Summary });
    const raw = (args: string, name = 'summary', id = 'c1') => ({ id, type: 'function' as const, function: { name, arguments: args } });
    /** A whole reply as ChatOpenAI builds it: the raw calls, and LangChain's reading of them. */
    const reply = (...calls: Array<ReturnType<typeof raw>>) => {
      const read = (c: ReturnType<typeof raw>) => {
        try {
          return { name: c.function.name, args: JSON.parse(c.function.arguments) as Record<string, unknown>, id: c.id };
        } catch {
          return undefined;
        }
      };
      return new AIMessage({ content: '', additional_kwargs: { tool_calls: calls }, tool_calls: calls.flatMap((c) => read(c) ?? []) });
    };
    const WRONG = "the reply does not match the output parser's schema: title: expected string, got a number";

    it('is the first call of the tool its schema rejects; nothing when it passes or the tool was not called', async () => {
      expect(await parseFailureOfToolCallSchema(reply(raw('{"title":5}')), [parser()])).toEqual({ reason: WRONG, text: '{"title":5}' });
      expect(await parseFailureOfToolCallSchema(reply(raw('{"title":"Q3"}')), [parser()])).toBeUndefined();
      expect(await parseFailureOfToolCallSchema(reply(raw('{"title":5}', 'other')), [parser()])).toBeUndefined();
      expect(await parseFailureOfToolCallSchema(new AIMessage('prose'), [parser()])).toBeUndefined();
      expect(await parseFailureOfToolCallSchema(reply(raw('{"title":5}')), [])).toBeUndefined();
    });

    it('checks the first call only with returnSingle, else each, as invoke() does', async () => {
      const two = reply(raw('{"title":"Q3"}'), raw('{"title":5}', 'summary', 'c2'));
      expect(await parseFailureOfToolCallSchema(two, [parser()])).toBeUndefined();
      await expect(parser().invoke(two)).resolves.toEqual({ title: 'Q3' });
      expect(await parseFailureOfToolCallSchema(two, [parser({ returnSingle: false })])).toEqual({ reason: WRONG, text: '{"title":5}' });
      await expect(parser({ returnSingle: false }).invoke(two)).rejects.toThrow('Failed to parse');
    });

    it("reads `returnId` as the parser has it (JsonOutputKeyToolsParser's own field resets it: it returns, and checks, the arguments)", async () => {
      const withId = z.object({ type: z.literal('summary'), args: Summary, id: z.string() });
      const p = parser({ returnId: true, schema: withId });
      const one = reply(raw('{"title":"Q3"}'));
      const rejects = await p.invoke(one).then(
        () => false,
        () => true,
      );
      expect((await parseFailureOfToolCallSchema(one, [p])) !== undefined).toBe(rejects);
    });

    it("reads the raw calls whose arguments are JSON (a whole reply's tool_calls), not a streamed message's partial tool_calls", async () => {
      const streamed = new AIMessageChunk({
        content: '',
        additional_kwargs: { tool_calls: [raw('{"title":"Quarterly res') as never] },
        tool_call_chunks: [{ name: 'summary', args: '{"title":"Quarterly res', id: 'c1', index: 0, type: 'tool_call_chunk' }],
      });
      expect(streamed.tool_calls).toMatchObject([{ args: { title: 'Quarterly res' } }]);
      expect(await parseFailureOfToolCallSchema(streamed, [parser({ schema: z.object({ title: z.string(), bullets: z.array(z.string()) }) })])).toBeUndefined();
      // Without raw calls (another provider's message), its tool_calls.
      expect(await parseFailureOfToolCallSchema(new AIMessage({ content: '', tool_calls: [{ name: 'summary', args: { title: 5 }, id: 'c1' }] }), [parser()])).toMatchObject({ reason: WRONG });
    });

    it('fails only when every parser the run may be rejects the arguments', async () => {
      const lenient = parser({ schema: z.object({ title: z.union([z.string(), z.number()]) }) });
      expect(await parseFailureOfToolCallSchema(reply(raw('{"title":5}')), [parser(), lenient])).toBeUndefined();
      expect(await parseFailureOfToolCallSchema(reply(raw('{"title":5}')), [parser(), parser()])).toEqual({ reason: WRONG, text: '{"title":5}' });
    });
  });
});
