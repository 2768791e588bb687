import type { BaseMessageChunk } from '@langchain/core/messages';
import { BaseTransformOutputParser, JsonOutputParser, StringOutputParser } from '@langchain/core/output_parsers';
import { JsonOutputKeyToolsParser } from '@langchain/core/output_parsers/openai_tools';
import { RunnableLambda } from '@langchain/core/runnables';
import { dropsEverything, ScriptedChatModel } from '../test/support';
import { ParseErrorWatcher } from './ParseErrorWatcher';

async function thrown(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

async function readAll(stream: Promise<AsyncIterable<unknown>>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const c of await stream) out.push(c);
  return out;
}

describe('ParseErrorWatcher', () => {
  it("remembers the SyntaxError an output parser raised (JsonOutputParser's JSON.parse)", async () => {
    const parsing = new ParseErrorWatcher();
    const chain = new ScriptedChatModel([{ text: 'Sure! The intent is refund.' }]).pipe(new JsonOutputParser());
    const err = await thrown(chain.invoke('x', { callbacks: [parsing] }));
    expect(err).toBeInstanceOf(SyntaxError);
    expect(parsing.raised(err)).toBe(true);
  });

  it('does not remember a SyntaxError thrown by other code of the chain, nor errors of a plain model call', async () => {
    const parsing = new ParseErrorWatcher();
    const own = RunnableLambda.from((text: string) => JSON.parse(text) as unknown);
    const ownErr = await thrown(own.invoke('not json', { callbacks: [parsing] }));
    expect(ownErr).toBeInstanceOf(SyntaxError);
    expect(parsing.raised(ownErr)).toBe(false);

    const failing = new ScriptedChatModel([{ error: new SyntaxError('Unexpected token < in JSON (an HTML error page)') }]);
    const modelErr = await thrown(failing.invoke('x', { callbacks: [parsing] }));
    expect(modelErr).toBeInstanceOf(SyntaxError);
    expect(parsing.raised(modelErr)).toBe(false);
  });

  it('remembers an error of a model run asked for structured output (the provider SDK parses the reply itself)', async () => {
    const parsing = new ParseErrorWatcher();
    const sdkParse = new SyntaxError('Error reading response: invalid structured output JSON.');
    const model = new ScriptedChatModel([{ error: sdkParse }]).withConfig({ ls_structured_output_format: { kwargs: { method: 'json_schema' } } } as never);
    const err = await thrown(model.invoke('x', { callbacks: [parsing] }));
    expect(err).toBe(sdkParse);
    expect(parsing.raised(err)).toBe(true);
    expect(parsing.raised(new SyntaxError('another'))).toBe(false);
    expect(parsing.raised('a string')).toBe(false);
  });

  it("does not take a model's own error for the parser's when it passes through a parser run (a malformed event of the provider's stream)", async () => {
    const parsing = new ParseErrorWatcher();
    const sdkError = new SyntaxError('Unexpected token } in JSON at position 12 (a broken SSE event)');
    const chain = new ScriptedChatModel([{ text: '{"a": 1, "b": 2}', breakAfter: 1, error: sdkError }]).pipe(new JsonOutputParser());
    const err = await thrown(readAll(chain.stream('x', { callbacks: [parsing] })));
    expect(err).toBe(sdkError);
    expect(parsing.raised(err)).toBe(false);
  });

  describe('skippedReply: a reply a JSON or tool-call parser turned into nothing while streaming', () => {
    it('is the reply JsonOutputParser skipped because it is not JSON (invoke() would have thrown)', async () => {
      const parsing = new ParseErrorWatcher();
      const chain = new ScriptedChatModel([{ text: 'Sure! The intent is refund.' }]).pipe(new JsonOutputParser());
      // Streaming, JsonOutputParser skips what it cannot parse instead of throwing.
      expect(await readAll(chain.stream('x', { callbacks: [parsing] }))).toEqual([]);
      expect(parsing.skippedReply()).toEqual({ reason: 'the reply is not valid JSON', text: 'Sure! The intent is refund.' });
      expect(parsing.copy().skippedReply()).toEqual(parsing.skippedReply());
    });

    it('is the text reply a tool-call parser found no tool call in (withStructuredOutput functionCalling)', async () => {
      const parsing = new ParseErrorWatcher();
      const chain = new ScriptedChatModel([{ text: 'I cannot call tools today.' }]).pipe(new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true }));
      expect(await readAll(chain.stream('x', { callbacks: [parsing] }))).toEqual([]);
      expect(parsing.skippedReply()).toEqual({ reason: 'the reply is not valid JSON', text: 'I cannot call tools today.' });
    });

    it('also for a subclass of JsonOutputParser (it runs under its parent\'s name)', async () => {
      class LenientJsonParser extends JsonOutputParser {}
      const parsing = new ParseErrorWatcher();
      const chain = new ScriptedChatModel([{ text: 'Sure! The intent is refund.' }]).pipe(new LenientJsonParser());
      await readAll(chain.stream('x', { callbacks: [parsing] }));
      expect(parsing.skippedReply()).toMatchObject({ reason: 'the reply is not valid JSON' });
    });

    it.each(['null', '""', '```json\nnull\n```', '   '])('is nothing for a reply invoke() accepts or that is blank: %j', async (reply) => {
      const parsing = new ParseErrorWatcher();
      const chain = new ScriptedChatModel([{ text: reply }]).pipe(new JsonOutputParser());
      await readAll(chain.stream('x', { callbacks: [parsing] }));
      expect(parsing.skippedReply()).toBeUndefined();
    });

    it('is nothing when the parser yielded something, even if a later step yields nothing', async () => {
      const parsing = new ParseErrorWatcher();
      const chain = new ScriptedChatModel([{ text: '{"intent": "refund"}' }])
        .pipe(new JsonOutputParser())
        .pipe(RunnableLambda.from(() => null));
      await readAll(chain.stream('x', { callbacks: [parsing] }));
      expect(parsing.skippedReply()).toBeUndefined();
    });

    it('is nothing when an earlier step gave the parser nothing to parse', async () => {
      const parsing = new ParseErrorWatcher();
      const chain = new ScriptedChatModel([{ text: 'Sure! The intent is refund.' }])
        .pipe(dropsEverything<BaseMessageChunk, string>())
        .pipe(new JsonOutputParser());
      expect(await readAll(chain.stream('x', { callbacks: [parsing] }))).toEqual([]);
      expect(parsing.skippedReply()).toBeUndefined();
    });

    it('is nothing for parsers that do not skip (StringOutputParser, a parser of your own) and without a parser', async () => {
      class FirstLineParser extends BaseTransformOutputParser<string> {
        lc_namespace = ['llm_resilience', 'test'];
        async parse(): Promise<string> {
          return '';
        }
        getFormatInstructions(): string {
          return '';
        }
      }
      for (const chain of [
        new ScriptedChatModel([{ text: 'Sure! The intent is refund.' }]).pipe(new StringOutputParser()).pipe(RunnableLambda.from(() => null)),
        new ScriptedChatModel([{ text: 'Sure! The intent is refund.' }]).pipe(new FirstLineParser()),
        new ScriptedChatModel([{ text: 'Sure! The intent is refund.' }]),
      ]) {
        const parsing = new ParseErrorWatcher();
        await readAll(chain.stream('x', { callbacks: [parsing] }));
        expect(parsing.skippedReply()).toBeUndefined();
      }
    });
  });
});
