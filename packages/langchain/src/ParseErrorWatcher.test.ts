import type { BaseMessageChunk } from '@langchain/core/messages';
import { BaseTransformOutputParser, JsonOutputParser, StringOutputParser } from '@langchain/core/output_parsers';
import { JsonOutputFunctionsParser } from '@langchain/core/output_parsers/openai_functions';
import { JsonOutputKeyToolsParser, JsonOutputToolsParser } from '@langchain/core/output_parsers/openai_tools';
import { RunnableLambda, RunnableMap, RunnableSequence, type Runnable, type RunnableConfig } from '@langchain/core/runnables';
import { z } from 'zod';
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

  /** A model run asked for structured output the way `withStructuredOutput` asks (`ls_structured_output_format`). */
  const structured = (model: ScriptedChatModel, method: string) => model.withConfig({ ls_structured_output_format: { kwargs: { method }, schema: {} } } as never);

  it('remembers an error of a model run asked for json_schema output that did not stream (the provider SDK parses the reply itself)', async () => {
    const parsing = new ParseErrorWatcher();
    const sdkParse = new SyntaxError('Error reading response: invalid structured output JSON.');
    const err = await thrown(structured(new ScriptedChatModel([{ error: sdkParse }]), 'json_schema').invoke('x', { callbacks: [parsing] }));
    expect(err).toBe(sdkParse);
    expect(parsing.raised(err)).toBe(true);
    expect(parsing.raised(new SyntaxError('another'))).toBe(false);
    expect(parsing.raised('a string')).toBe(false);
  });

  it.each(['json_mode', 'function_calling'])(
    "does not remember an error of a model run asked for %s output: an output parser of the chain parses there, the run's error (a truncated HTTP body) is the model's",
    async (method) => {
      const parsing = new ParseErrorWatcher();
      const truncated = new SyntaxError('Unexpected end of JSON input');
      const err = await thrown(structured(new ScriptedChatModel([{ error: truncated }]), method).invoke('x', { callbacks: [parsing] }));
      expect(err).toBe(truncated);
      expect(parsing.raised(err)).toBe(false);
    },
  );

  it('does not remember an error of a json_schema model run once it streamed a token (the SDK parses whole replies only)', async () => {
    const parsing = new ParseErrorWatcher();
    const brokenEvent = new SyntaxError('Error reading response: malformed server-sent event JSON.');
    const model = structured(new ScriptedChatModel([{ text: '{"reply": "a b c"}', breakAfter: 1, error: brokenEvent }]), 'json_schema');
    const err = await thrown(readAll(model.stream('x', { callbacks: [parsing] })));
    expect(err).toBe(brokenEvent);
    expect(parsing.raised(err)).toBe(false);
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

    it.each([
      ['JsonOutputKeyToolsParser (withStructuredOutput functionCalling)', () => new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true }), undefined],
      ['JsonOutputToolsParser', () => new JsonOutputToolsParser(), []],
    ] as const)('is nothing for a reply without tool calls given to %s: its invoke() returns an empty result, no error', async (_, parser, empty) => {
      const model = () => new ScriptedChatModel([{ text: 'No lookup is needed: the answer is 4.' }]);
      expect(await model().pipe(parser()).invoke('x')).toEqual(empty);
      const parsing = new ParseErrorWatcher();
      await readAll(model().pipe(parser()).stream('x', { callbacks: [parsing] }));
      expect(parsing.skippedReply()).toBeUndefined();
    });

    it('is the tool call a tool-call parser could not read because its arguments are not JSON (cut off): its invoke() throws', async () => {
      const cut = { toolCall: { name: 'summary', arguments: '{"ti' } };
      const parser = () => new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true });
      await expect(new ScriptedChatModel([cut]).pipe(parser()).invoke('x')).rejects.toThrow('are not valid JSON');
      const parsing = new ParseErrorWatcher();
      // Streaming, the parser yields `{}` on the header and nothing more: it skips what it cannot parse.
      expect(await readAll(new ScriptedChatModel([cut]).pipe(parser()).stream('x', { callbacks: [parsing] }))).toEqual([{}]);
      expect(parsing.skippedReply()).toEqual({ reason: "the reply's tool call arguments are not valid JSON", text: '{"ti' });
    });

    it('is the tool call a tool-call parser let through part-way, yielding its partial arguments: cut off later, where its invoke() throws', async () => {
      const cut = { toolCall: { name: 'summary', arguments: '{"title":"Quarterly res' } };
      const parser = () => new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true });
      await expect(new ScriptedChatModel([cut]).pipe(parser()).invoke('x')).rejects.toThrow('are not valid JSON');
      const parsing = new ParseErrorWatcher();
      const yielded = await readAll(new ScriptedChatModel([cut]).pipe(parser()).stream('x', { callbacks: [parsing] }));
      expect(yielded.at(-1)).toEqual({ title: 'Quarterly res' });
      expect(parsing.skippedReply()).toEqual({ reason: "the reply's tool call arguments are not valid JSON", text: '{"title":"Quarterly res' });
    });

    it('is nothing for a whole tool call whose arguments arrived in many pieces', async () => {
      const parsing = new ParseErrorWatcher();
      const chain = new ScriptedChatModel([{ toolCall: { name: 'summary', arguments: '{"title":"Quarterly results","bullets":["up"]}' }, pieceChars: 3 }]).pipe(
        new JsonOutputToolsParser(),
      );
      expect((await readAll(chain.stream('x', { callbacks: [parsing] }))).at(-1)).toEqual([{ type: 'summary', args: { title: 'Quarterly results', bullets: ['up'] } }]);
      expect(parsing.skippedReply()).toBeUndefined();
    });

    it('is nothing for a whole tool call, also one whose arguments are an empty object', async () => {
      const parsing = new ParseErrorWatcher();
      const chain = new ScriptedChatModel([{ toolCall: { name: 'summary', arguments: '{}' } }]).pipe(new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true }));
      expect(await readAll(chain.stream('x', { callbacks: [parsing] }))).toEqual([{}]);
      expect(parsing.skippedReply()).toBeUndefined();
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

  describe("skippedPartialReply: the part of skippedReply judged whatever the parser yielded, the only part a stream with content can have", () => {
    const cut = { toolCall: { name: 'summary', arguments: '{"title":"Quarterly res' } };
    const keyParser = () => new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true });

    it('is the tool call a tool-call parser let through part-way (its partial arguments yielded), as skippedReply is', async () => {
      const parsing = new ParseErrorWatcher();
      await readAll(new ScriptedChatModel([cut]).pipe(keyParser()).stream('x', { callbacks: [parsing] }));
      expect(parsing.skippedPartialReply()).toEqual({ reason: "the reply's tool call arguments are not valid JSON", text: '{"title":"Quarterly res' });
      expect(parsing.copy().skippedPartialReply()).toEqual(parsing.skippedPartialReply());
    });

    it("is never the JSON parsers' rule, which judges the last model reply rather than what the parser was given", async () => {
      const parsing = new ParseErrorWatcher();
      // The parser gets the tag the chain extracted (`[]`, valid JSON) but the rule reads the whole reply (prose).
      const chain = new ScriptedChatModel([{ text: 'No open tickets. <data>[]</data>' }])
        .pipe(RunnableLambda.from((m: BaseMessageChunk) => /<data>(.*)<\/data>/s.exec(String(m.content))?.[1] ?? ''))
        .pipe(new JsonOutputParser());
      expect(await readAll(chain.stream('x', { callbacks: [parsing] }))).toEqual([[]]);
      expect(parsing.skippedReply()).toMatchObject({ reason: 'the reply is not valid JSON' });
      expect(parsing.skippedPartialReply()).toBeUndefined();
    });

    it('is remembered also after a JSON parser of the same attempt skipped a reply first', async () => {
      const parsing = new ParseErrorWatcher();
      await readAll(new ScriptedChatModel([{ text: 'Sure!' }]).pipe(new JsonOutputParser()).stream('x', { callbacks: [parsing] }));
      await readAll(new ScriptedChatModel([cut]).pipe(keyParser()).stream('x', { callbacks: [parsing] }));
      expect(parsing.skippedReply()).toMatchObject({ reason: 'the reply is not valid JSON', text: 'Sure!' });
      expect(parsing.skippedPartialReply()).toMatchObject({ text: '{"title":"Quarterly res' });
    });

    describe("a reply the provider cut off (finish_reason 'length') given to JsonOutputParser as the model's message", () => {
      const CUT = '{"title": "Quarterly res';

      it('is the reply whose partial object the parser yielded, where its invoke() throws', async () => {
        const chain = () => new ScriptedChatModel([{ text: CUT, finishReason: 'length' }]).pipe(new JsonOutputParser());
        await expect(chain().invoke('x')).rejects.toThrow(SyntaxError);
        const parsing = new ParseErrorWatcher();
        expect((await readAll(chain().stream('x', { callbacks: [parsing] }))).at(-1)).toEqual({ title: 'Quarterly res' });
        expect(parsing.skippedPartialReply()).toEqual({ reason: 'the reply is not valid JSON', text: CUT });
        expect(parsing.skippedReply()).toEqual(parsing.skippedPartialReply());
        expect(parsing.copy().skippedPartialReply()).toEqual(parsing.skippedPartialReply());
      });

      it('is a cut reply without any text (the output budget spent before the answer), which the stream turned into nothing', async () => {
        const parsing = new ParseErrorWatcher();
        const chain = new ScriptedChatModel([{ text: '', finishReason: 'length' }]).pipe(new JsonOutputParser());
        expect(await readAll(chain.stream('x', { callbacks: [parsing] }))).toEqual([]);
        expect(parsing.skippedPartialReply()).toEqual({ reason: 'the reply is not valid JSON', text: '' });
      });

      it.each([
        ['a whole object that the provider still said was cut', [{ text: '{"title": "Q3"}', finishReason: 'length' }]],
        ['an incomplete object nobody said was cut (finish_reason stop)', [{ text: CUT, finishReason: 'stop' }]],
        ['an incomplete object without any finish reason', [{ text: CUT }]],
      ])('is nothing for %s', async (_, steps) => {
        const parsing = new ParseErrorWatcher();
        await readAll(new ScriptedChatModel(steps).pipe(new JsonOutputParser()).stream('x', { callbacks: [parsing] }));
        expect(parsing.skippedPartialReply()).toBeUndefined();
        expect(parsing.skippedReply()).toBeUndefined();
      });

      it("is not JsonOutputFunctionsParser's rule: it parses the reply's function call, not its text", async () => {
        const parsing = new ParseErrorWatcher();
        await readAll(new ScriptedChatModel([{ text: '', finishReason: 'length' }]).pipe(new JsonOutputFunctionsParser()).stream('x', { callbacks: [parsing] }));
        expect(parsing.skippedPartialReply()).toBeUndefined();
      });

      it('is nothing when the parser was given text a step made of the reply (a tag cut out of it), not the model message', async () => {
        const parsing = new ParseErrorWatcher();
        // The JSON in the tag is whole; the reply was cut after it.
        const chain = new ScriptedChatModel([{ text: '<data>{"open": 0}</data> No open tick', finishReason: 'length' }])
          .pipe(RunnableLambda.from((m: BaseMessageChunk) => /<data>(.*)<\/data>/s.exec(String(m.content))?.[1] ?? ''))
          .pipe(new JsonOutputParser());
        expect(await readAll(chain.stream('x', { callbacks: [parsing] }))).toEqual([{ open: 0 }]);
        expect(parsing.skippedPartialReply()).toBeUndefined();
      });

      /** A step that asks another model about the message (a guard), then hands the message on unchanged. */
      const guardedBy = (guard: ScriptedChatModel) =>
        RunnableLambda.from(async (m: BaseMessageChunk, config?: RunnableConfig) => {
          await guard.invoke('safe?', config);
          return m;
        });

      it("is nothing for a whole reply when a model run after it (a guard) was cut: the parser's own message is judged", async () => {
        const parsing = new ParseErrorWatcher();
        const chain = new ScriptedChatModel([{ text: '{"title": "Q3"}', finishReason: 'stop' }])
          .pipe(guardedBy(new ScriptedChatModel([{ text: 'safe', finishReason: 'length' }])))
          .pipe(new JsonOutputParser());
        expect(await readAll(chain.stream('x', { callbacks: [parsing] }))).toEqual([{ title: 'Q3' }]);
        expect(parsing.skippedPartialReply()).toBeUndefined();
      });

      it('is the cut reply the parser was given, also when a model run after it (a guard) ended with stop', async () => {
        const parsing = new ParseErrorWatcher();
        const chain = new ScriptedChatModel([{ text: CUT, finishReason: 'length' }])
          .pipe(guardedBy(new ScriptedChatModel([{ text: 'safe', finishReason: 'stop' }])))
          .pipe(new JsonOutputParser());
        expect((await readAll(chain.stream('x', { callbacks: [parsing] }))).at(-1)).toEqual({ title: 'Quarterly res' });
        expect(parsing.skippedPartialReply()).toEqual({ reason: 'the reply is not valid JSON', text: CUT });
      });

      it("is the cut reply of the model run within the step before the parser when that step reports no message (model.withFallbacks([...]): streamed, its run ends with `{ output: undefined }`)", async () => {
        const parsing = new ParseErrorWatcher();
        const chain = new ScriptedChatModel([{ text: CUT, finishReason: 'length' }])
          .withFallbacks([new ScriptedChatModel([{ text: '{"title": "Q3"}', finishReason: 'stop' }])])
          .pipe(new JsonOutputParser());
        expect((await readAll(chain.stream('x', { callbacks: [parsing] }))).at(-1)).toEqual({ title: 'Quarterly res' });
        expect(parsing.skippedPartialReply()).toEqual({ reason: 'the reply is not valid JSON', text: CUT });
      });

      it('is the cut reply of a model run directly below such a step through withConfig (a RunnableBinding adds no run)', async () => {
        const parsing = new ParseErrorWatcher();
        const chain = new ScriptedChatModel([{ text: CUT, finishReason: 'length' }])
          .withConfig({ runName: 'primary', tags: ['json'] })
          .withFallbacks([new ScriptedChatModel([{ text: '{"title": "Q3"}', finishReason: 'stop' }])])
          .pipe(new JsonOutputParser());
        expect((await readAll(chain.stream('x', { callbacks: [parsing] }))).at(-1)).toEqual({ title: 'Quarterly res' });
        expect(parsing.skippedPartialReply()).toEqual({ reason: 'the reply is not valid JSON', text: CUT });
      });

      it('is nothing when such a step wraps more than a bare model (the cut model ran below a sequence inside it): what the step handed on is unknown, not judged', async () => {
        const parsing = new ParseErrorWatcher();
        // The step hands on the identity lambda's output, the cut reply, but nothing reports it: not judged.
        const chain = new ScriptedChatModel([{ text: CUT, finishReason: 'length' }])
          .pipe(RunnableLambda.from((m: BaseMessageChunk) => m))
          .withFallbacks([new ScriptedChatModel([{ text: '{"title": "Q3"}', finishReason: 'stop' }])])
          .pipe(new JsonOutputParser());
        expect((await readAll(chain.stream('x', { callbacks: [parsing] }))).at(-1)).toEqual({ title: 'Quarterly res' });
        expect(parsing.skippedPartialReply()).toBeUndefined();
      });

      it('is nothing for a whole reply of the model run within such a step, when a model run outside it (a later guard step) was cut', async () => {
        const parsing = new ParseErrorWatcher();
        const chain = new ScriptedChatModel([{ text: '{"title": "Q3"}', finishReason: 'stop' }])
          .withFallbacks([new ScriptedChatModel([{ text: '{"title": "Q3"}', finishReason: 'stop' }])])
          .pipe(new JsonOutputParser())
          .pipe(
            RunnableLambda.from(async (o: unknown, config?: RunnableConfig) => {
              await new ScriptedChatModel([{ text: 'safe', finishReason: 'length' }]).invoke('safe?', config);
              return o;
            }),
          );
        expect((await readAll(chain.stream('x', { callbacks: [parsing] }))).at(-1)).toEqual({ title: 'Q3' });
        expect(parsing.skippedPartialReply()).toBeUndefined();
      });

      it('is nothing for a parser that is not a step after another in a sequence (its own input is only the last chunk): not judged', async () => {
        const parsing = new ParseErrorWatcher();
        // omitSequenceTags: the steps carry no `seq:step:N` tag, so what fed the parser is unknown.
        const chain = new RunnableSequence({ first: new ScriptedChatModel([{ text: CUT, finishReason: 'length' }]), last: new JsonOutputParser(), omitSequenceTags: true });
        expect((await readAll(chain.stream('x', { callbacks: [parsing] }))).at(-1)).toEqual({ title: 'Quarterly res' });
        expect(parsing.skippedPartialReply()).toBeUndefined();
      });
    });

    it('is nothing for whole tool calls', async () => {
      const parsing = new ParseErrorWatcher();
      await readAll(new ScriptedChatModel([{ toolCall: { name: 'summary', arguments: '{"title":"Q3"}' } }]).pipe(keyParser()).stream('x', { callbacks: [parsing] }));
      expect(parsing.skippedPartialReply()).toBeUndefined();
    });
  });

  describe("skippedPartialReply: complete tool-call arguments the parser's schema rejects, given the runnable the parser is in", () => {
    const Summary = z.object({ title: z.string() });
    const keyParser = (schema: z.ZodType<Record<string, unknown>, Record<string, unknown>> = Summary) => new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema: schema });
    const model = (args: string) => new ScriptedChatModel([{ toolCall: { name: 'summary', arguments: args }, pieceChars: 4 }]);
    const WRONG = { reason: "the reply does not match the output parser's schema: title: expected string, got a number", text: '{"title":5}' };

    it.each([
      ['{"title":5}', WRONG],
      ['{}', { reason: "the reply does not match the output parser's schema: title: expected string, got undefined", text: '{}' }],
      ['{"title":"Q3"}', undefined],
    ])("is invoke()'s verdict on %s, whatever the parser yielded (it yields the arguments unchecked)", async (args, expected) => {
      const chain = model(args).pipe(keyParser());
      const rejects = await chain.invoke('x').then(
        () => false,
        () => true,
      );
      expect(rejects).toBe(expected !== undefined);
      const parsing = new ParseErrorWatcher({ runnable: chain });
      const yielded = await readAll(chain.stream('x', { callbacks: [parsing] }));
      expect(yielded.at(-1)).toEqual(JSON.parse(args));
      expect(parsing.skippedPartialReply()).toEqual(expected);
      expect(parsing.skippedReply()).toEqual(expected);
    });

    it('is nothing without the runnable (the parser, and so its schema, is unknown), and for a parser without a schema', async () => {
      const chain = model('{"title":5}').pipe(keyParser());
      const blind = new ParseErrorWatcher();
      await readAll(chain.stream('x', { callbacks: [blind] }));
      expect(blind.skippedPartialReply()).toBeUndefined();
      const unchecked = model('{"title":5}').pipe(new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true }));
      const parsing = new ParseErrorWatcher({ runnable: unchecked });
      await readAll(unchecked.stream('x', { callbacks: [parsing] }));
      expect(parsing.skippedPartialReply()).toBeUndefined();
    });

    it("checks each parser run with that parser's own schema", async () => {
      const lenient = keyParser(z.object({ title: z.union([z.string(), z.number()]) }));
      const strict = keyParser();
      const chain = model('{"title":5}').pipe(RunnableMap.from({ lenient, strict }));
      const parsing = new ParseErrorWatcher({ runnable: chain });
      expect((await readAll(chain.stream('x', { callbacks: [parsing] }))).length).toBeGreaterThan(0);
      expect(parsing.skippedPartialReply()).toEqual(WRONG);
      const onlyLenient = model('{"title":5}').pipe(RunnableMap.from({ lenient }));
      const lenientParsing = new ParseErrorWatcher({ runnable: onlyLenient });
      await readAll(onlyLenient.stream('x', { callbacks: [lenientParsing] }));
      expect(lenientParsing.skippedPartialReply()).toBeUndefined();
    });

    it('leaves arguments that are not JSON to the JSON rule (a call cut off part-way)', async () => {
      const chain = model('{"title":"Quarterly res').pipe(keyParser());
      const parsing = new ParseErrorWatcher({ runnable: chain });
      await readAll(chain.stream('x', { callbacks: [parsing] }));
      expect(parsing.skippedPartialReply()).toEqual({ reason: "the reply's tool call arguments are not valid JSON", text: '{"title":"Quarterly res' });
    });

    it('is nothing for a reply without a call of the tool (invoke() returns undefined) or in prose', async () => {
      const other = new ScriptedChatModel([{ toolCall: { name: 'other', arguments: '{"title":5}' } }]).pipe(keyParser());
      const parsing = new ParseErrorWatcher({ runnable: other });
      await readAll(other.stream('x', { callbacks: [parsing] }));
      expect(parsing.skippedReply()).toBeUndefined();
      const prose = new ScriptedChatModel([{ text: 'No tool needed.' }]).pipe(keyParser());
      const proseParsing = new ParseErrorWatcher({ runnable: prose });
      await readAll(prose.stream('x', { callbacks: [proseParsing] }));
      expect(proseParsing.skippedReply()).toBeUndefined();
    });
  });

  describe("runs of a nested attempt (a ResilientRunnable inside the watched runnable): that attempt's own watcher judges them", () => {
    /** Streams `inner` as a nested ResilientRunnable's attempt does: below a run tagged `llmr:attempt` (startAttemptRun's tag). */
    const asNestedAttempt = (inner: Runnable<string, unknown>, tags = ['llmr:attempt']) =>
      RunnableLambda.from(async (input: string, config?: RunnableConfig) => {
        let last: unknown;
        for await (const c of await inner.stream(input, { callbacks: config?.callbacks, tags })) last = c;
        return last;
      });
    const CUT = '{"title": "Quarterly res';

    it('ignores a cut JSON reply and a reply a JSON parser skipped inside it; the same runs outside one count', async () => {
      for (const reply of [{ text: CUT, finishReason: 'length' as const }, { text: 'Sure!' }]) {
        const nested = new ParseErrorWatcher();
        await asNestedAttempt(new ScriptedChatModel([reply]).pipe(new JsonOutputParser())).invoke('x', { callbacks: [nested] });
        expect(nested.skippedReply()).toBeUndefined();
        expect(nested.skippedPartialReply()).toBeUndefined();
        const own = new ParseErrorWatcher();
        await asNestedAttempt(new ScriptedChatModel([reply]).pipe(new JsonOutputParser()), ['a-tag-of-yours']).invoke('x', { callbacks: [own] });
        expect(own.skippedReply()).toBeDefined();
      }
    });

    it("ignores tool calls cut off part-way inside it, and does not take a parser's error inside it for one of its own", async () => {
      const nested = new ParseErrorWatcher();
      await asNestedAttempt(new ScriptedChatModel([{ toolCall: { name: 'summary', arguments: '{"title":"Q' } }]).pipe(new JsonOutputToolsParser())).invoke('x', { callbacks: [nested] });
      expect(nested.skippedPartialReply()).toBeUndefined();
      const err = await thrown(
        RunnableLambda.from((input: string, config?: RunnableConfig) =>
          new ScriptedChatModel([{ text: 'Sure!' }]).pipe(new JsonOutputParser()).invoke(input, { callbacks: config?.callbacks, tags: ['llmr:attempt'] }),
        ).invoke('x', { callbacks: [nested] }),
      );
      expect(err).toBeInstanceOf(SyntaxError);
      expect(nested.raised(err)).toBe(false);
    });
  });
});
