import { JsonOutputParser } from '@langchain/core/output_parsers';
import { JsonOutputKeyToolsParser, JsonOutputToolsParser } from '@langchain/core/output_parsers/openai_tools';
import { ChatOpenAI } from '@langchain/openai';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { toolCallSchemaParsersOf, toolCallSchemaParsersWithin } from './toolCallSchemaParsers';

const Summary = z.object({ title: z.string() });
const Other = z.object({ title: z.string(), bullets: z.array(z.string()) });
const model = () => new ChatOpenAI({ model: 'gpt-4-0613', apiKey: 'test-key', maxRetries: 0 });

describe('toolCallSchemaParsersWithin', () => {
  it("finds withStructuredOutput(zodSchema)'s tool-call parser, with the schema it was given", () => {
    const found = toolCallSchemaParsersWithin(model().withStructuredOutput(Summary, { name: 'summary', method: 'functionCalling' }));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ keyName: 'summary', returnSingle: true });
    expect(found[0]!.zodSchema).toBe(Summary);
  });

  it('finds nothing for parsers without a schema (a JSON schema, JsonOutputToolsParser, JsonOutputParser)', () => {
    const jsonSchema = { title: 'summary', type: 'object', properties: { title: { type: 'string' } }, required: ['title'] };
    expect(toolCallSchemaParsersWithin(model().withStructuredOutput(jsonSchema, { method: 'functionCalling' }))).toEqual([]);
    expect(toolCallSchemaParsersWithin(model().pipe(new JsonOutputToolsParser()))).toEqual([]);
    expect(toolCallSchemaParsersWithin(model().pipe(new JsonOutputParser()))).toEqual([]);
  });

  it('finds a parser whose Standard Schema is a function (ArkType `type()` objects are callable)', () => {
    const callable = Object.assign(() => undefined, { '~standard': { version: 1, vendor: 'test', validate: (v: unknown) => ({ value: v }) } });
    const p = new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, serializableSchema: callable } as never);
    expect(toolCallSchemaParsersWithin(model().pipe(p))).toEqual('serializableSchema' in p ? [p] : []);
  });

  it('finds a parser includeRaw keeps in a closure: none (its invoke() checks the schema itself)', () => {
    expect(toolCallSchemaParsersWithin(model().withStructuredOutput(Summary, { method: 'functionCalling', includeRaw: true }))).toEqual([]);
  });
});

describe('toolCallSchemaParsersOf', () => {
  const a = new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema: Summary });
  const b = new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema: Other });
  const c = new JsonOutputKeyToolsParser({ keyName: 'other', returnSingle: true, zodSchema: Summary });

  it("tells a run's parser by its class, tool name, returnSingle and returnId in its serialized form (what handleChainStart gets), on @langchain/core 1.0 and 1.4 alike", () => {
    expect(toolCallSchemaParsersOf([a, c], a.toJSON())).toEqual([a]);
    expect(toolCallSchemaParsersOf([a, c], c.toJSON())).toEqual([c]);
    expect(toolCallSchemaParsersOf([c], b.toJSON())).toEqual([]);
  });

  it('gives every parser of the same class returning the same calls alike whose schema is built alike', () => {
    const twin = new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema: Summary });
    expect(toolCallSchemaParsersOf([a, twin, c], a.toJSON())).toEqual([a, twin]);
    // Schemas built differently tell them apart: the schema object itself (1.0), or its outline (1.4's copy of a zod 4 def).
    expect(toolCallSchemaParsersOf([a, b], a.toJSON())).toEqual([a]);
    expect(toolCallSchemaParsersOf([a, b], b.toJSON())).toEqual([b]);
    // A serialized schema that matches none of theirs tells nothing: every parser alike may have run.
    const lone = new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema: z.object({ heading: z.number() }) });
    expect(toolCallSchemaParsersOf([a, b], lone.toJSON())).toEqual([a, b]);
    const all = new JsonOutputKeyToolsParser({ keyName: 'summary', zodSchema: Summary });
    expect(toolCallSchemaParsersOf([a, all], all.toJSON())).toEqual([all]);
  });

  it("matches a schema whose serialized form differs each time (a zod 4 default factory), without calling the parsers' toJSON()", () => {
    const factory = jest.fn(() => randomUUID());
    const p = new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema: z.object({ id: z.string().default(factory), title: z.string() }) });
    const serialized = p.toJSON();
    const calls = factory.mock.calls.length;
    expect(toolCallSchemaParsersOf([p, c], serialized)).toEqual([p]);
    expect(toolCallSchemaParsersOf([p, c], serialized)).toEqual([p]);
    expect(factory.mock.calls.length).toBe(calls);
  });

  it('matches by class alone a serialized form without kwargs', () => {
    expect(toolCallSchemaParsersOf([a, c], { lc: 1, type: 'not_implemented', id: a.lc_id })).toEqual([a, c]);
    expect(toolCallSchemaParsersOf([a, c], { lc: 1, type: 'not_implemented', id: ['other', 'Parser'] })).toEqual([]);
  });
});
