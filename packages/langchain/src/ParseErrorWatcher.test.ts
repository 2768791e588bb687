import { JsonOutputParser } from '@langchain/core/output_parsers';
import { RunnableLambda } from '@langchain/core/runnables';
import { ScriptedChatModel } from '../test/support';
import { ParseErrorWatcher } from './ParseErrorWatcher';

async function thrown(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
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

  it('keeps the text of the last model reply of a chain with an output parser: a stream the parser turned into nothing', async () => {
    const parsing = new ParseErrorWatcher();
    const chain = new ScriptedChatModel([{ text: 'Sure! The intent is refund.' }]).pipe(new JsonOutputParser());
    const chunks: unknown[] = [];
    for await (const c of await chain.stream('x', { callbacks: [parsing] })) chunks.push(c);
    // Streaming, JsonOutputParser skips what it cannot parse instead of throwing.
    expect(chunks).toEqual([]);
    expect(parsing.parsedReplyText()).toBe('Sure! The intent is refund.');
  });

  it('keeps no reply text without an output parser', async () => {
    const parsing = new ParseErrorWatcher();
    const model = new ScriptedChatModel([{ text: 'Sure! The intent is refund.' }]);
    for await (const _ of await model.stream('x', { callbacks: [parsing] }));
    expect(parsing.parsedReplyText()).toBeUndefined();
    expect(parsing.copy().parsedReplyText()).toBeUndefined();
  });
});
