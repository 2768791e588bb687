import { JsonOutputParser } from '@langchain/core/output_parsers';
import { JsonOutputKeyToolsParser, JsonOutputToolsParser } from '@langchain/core/output_parsers/openai_tools';
import { ChatOpenAI } from '@langchain/openai';
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

  it('finds a parser includeRaw keeps in a closure: none (its invoke() checks the schema itself)', () => {
    expect(toolCallSchemaParsersWithin(model().withStructuredOutput(Summary, { method: 'functionCalling', includeRaw: true }))).toEqual([]);
  });
});

describe('toolCallSchemaParsersOf', () => {
  const a = new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema: Summary });
  const b = new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema: Other });
  const c = new JsonOutputKeyToolsParser({ keyName: 'other', returnSingle: true, zodSchema: Summary });

  it("tells a run's parser by its serialized form (what handleChainStart gets), on @langchain/core 1.0 and 1.4 alike", () => {
    expect(toolCallSchemaParsersOf([a, b, c], a.toJSON())).toEqual([a]);
    expect(toolCallSchemaParsersOf([a, b, c], b.toJSON())).toEqual([b]);
    expect(toolCallSchemaParsersOf([a, b, c], c.toJSON())).toEqual([c]);
    expect(toolCallSchemaParsersOf([a, c], b.toJSON())).toEqual([]);
  });

  it('gives every parser that serializes alike', () => {
    const twin = new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema: Summary });
    expect(toolCallSchemaParsersOf([a, twin, b], a.toJSON())).toEqual([a, twin]);
  });
});
