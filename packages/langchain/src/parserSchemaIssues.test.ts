import { AIMessage } from '@langchain/core/messages';
import { JsonOutputKeyToolsParser } from '@langchain/core/output_parsers/openai_tools';
import { z } from 'zod';
import { describeSchemaIssues, parserSchemaIssues } from './parserSchemaIssues';

const Summary = z.object({ title: z.string(), bullets: z.array(z.string()).min(1) });
const parser = (zodSchema: z.ZodType<Record<string, unknown>, Record<string, unknown>>) => new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema });

/** The parser's own verdict: whether its invoke() rejects a reply calling the tool with `args`. */
async function invokeRejects(p: JsonOutputKeyToolsParser, args: unknown): Promise<boolean> {
  const reply = new AIMessage({ content: '', tool_calls: [{ id: 'c1', name: 'summary', args: args as Record<string, unknown> }] });
  return p.invoke(reply).then(
    () => false,
    () => true,
  );
}

describe('parserSchemaIssues', () => {
  it.each([
    [{ title: 5, bullets: ['a'] }],
    [{}],
    [{ title: 'ok', bullets: [] }],
    [{ title: 'ok', bullets: ['a'] }],
  ])("gives the verdict of the parser's invoke() for %j", async (args) => {
    const p = parser(Summary);
    expect((await parserSchemaIssues(p, args)) !== undefined).toBe(await invokeRejects(p, args));
  });

  it('lists what the zod schema found', async () => {
    expect(await parserSchemaIssues(parser(Summary), { title: 5, bullets: ['a'] })).toEqual([expect.objectContaining({ code: 'invalid_type', expected: 'string', path: ['title'] })]);
  });

  it("checks a Standard Schema when the parser has one (@langchain/core 1.4's serializableSchema); 1.0's parser has none and checks nothing", async () => {
    const validate = (v: unknown) => (typeof (v as { title?: unknown }).title === 'string' ? { value: v } : { issues: [{ message: 'title must be text', path: ['title'] }] });
    const standard = { '~standard': { version: 1, vendor: 'test', validate, jsonSchema: { input: () => ({}), output: () => ({}) } } };
    const p = new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, serializableSchema: standard } as never);
    const checks = 'serializableSchema' in p;
    expect(await invokeRejects(p, { title: 5 })).toBe(checks);
    expect(await parserSchemaIssues(p, { title: 5 })).toEqual(checks ? [{ message: 'title must be text', path: ['title'] }] : undefined);
    expect(await parserSchemaIssues(p, { title: 'ok' })).toBeUndefined();
  });

  it('gives no verdict when the schema throws instead of answering (then invoke() fails with that error, not a rejected reply)', async () => {
    const throwing = { '~standard': { version: 1, vendor: 'test', validate: () => { throw new Error('boom'); } } };
    expect(await parserSchemaIssues({ keyName: 'summary', serializableSchema: throwing, toJSON: () => ({}) as never }, { title: 5 })).toBeUndefined();
  });
});

describe('describeSchemaIssues', () => {
  it('says where and what was expected, with the type the reply had there, never its value', () => {
    expect(describeSchemaIssues([{ path: ['title'], code: 'invalid_type', expected: 'string', message: 'Invalid input' }], { title: 5 })).toBe('title: expected string, got a number');
    expect(describeSchemaIssues([{ path: ['author', 'name'], code: 'invalid_type', expected: 'string' }], { author: {} })).toBe('author.name: expected string, got undefined');
    expect(describeSchemaIssues([{ path: ['bullets'], code: 'too_small', message: 'Too small: expected array to have >=1 items' }], { bullets: [] })).toBe('bullets: too_small');
  });

  it("leaves out messages, which may quote the value (valibot's `received \"Secret plan\"`), and long keys", () => {
    const text = describeSchemaIssues([{ path: [{ key: 'k'.repeat(40) }], message: 'Invalid type: expected number but received "Secret plan"' }], {});
    expect(text).toBe('[40 chars]: invalid');
    expect(text).not.toContain('Secret');
  });

  it('lists three issues at most, and says "rejected" when the schema gave none', () => {
    const issues = ['a', 'b', 'c', 'd'].map((k) => ({ path: [k], code: 'invalid_type', expected: 'string' }));
    expect(describeSchemaIssues(issues, {})).toBe('a: expected string, got undefined; b: expected string, got undefined; c: expected string, got undefined');
    expect(describeSchemaIssues([], {})).toBe('rejected');
  });
});
