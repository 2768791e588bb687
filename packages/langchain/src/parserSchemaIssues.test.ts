import { AIMessage } from '@langchain/core/messages';
import { JsonOutputKeyToolsParser } from '@langchain/core/output_parsers/openai_tools';
import { z } from 'zod';
import { describeSchemaIssues, parserSchemaIssues, shownPathOf } from './parserSchemaIssues';

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
    expect(await parserSchemaIssues(p, { title: 5 })).toEqual(checks ? [{ message: 'title must be text', path: ['title'], shownPath: ['<key>'] }] : undefined);
    expect(await parserSchemaIssues(p, { title: 'ok' })).toBeUndefined();
  });

  it('gives no verdict when the schema throws instead of answering (then invoke() fails with that error, not a rejected reply)', async () => {
    const throwing = { '~standard': { version: 1, vendor: 'test', validate: () => { throw new Error('boom'); } } };
    expect(await parserSchemaIssues({ keyName: 'summary', serializableSchema: throwing }, { title: 5 })).toBeUndefined();
  });
});

describe('parserSchemaIssues: the path as it may be shown', () => {
  it('keeps the keys the schema names and array indexes; any other key (a record\'s, made up by the reply) is <key>', async () => {
    const Scores = z.object({ team: z.record(z.string(), z.object({ score: z.number() })), tags: z.array(z.string()).optional() });
    const issues = await parserSchemaIssues(parser(Scores as never), { team: { 'alice.smith@example.com': { score: 'forty' } }, tags: ['a', 7] });
    expect(issues?.map((i) => i.shownPath)).toEqual([['team', '<key>', 'score'], ['tags', 1]]);
    expect(describeSchemaIssues(issues!, {})).not.toContain('alice');
  });

  it('reads the shape through wrappers and unions (zod 4), and a Standard Schema\'s JSON Schema', async () => {
    const Inner = z.object({ title: z.string() });
    const Outer = z.object({ meta: z.lazy(() => Inner).optional().default({ title: 'x' }), list: z.array(z.union([Inner, z.string()]).nullable()) });
    const found = await parserSchemaIssues(parser(Outer as never), { meta: { title: 5 }, list: [{ title: 5 }] });
    expect(found?.map((i) => i.shownPath)).toEqual([['meta', 'title'], ['list', 0]]);
    const validate = () => ({ issues: [{ message: 'no', path: ['title'] }, { message: 'no', path: ['secret@example.com'] }] });
    const jsonSchema = { type: 'object', properties: { title: { type: 'string' } } };
    const standard = Object.assign(() => undefined, { '~standard': { version: 1, vendor: 'test', validate, jsonSchema: { input: () => jsonSchema, output: () => jsonSchema } } });
    const issues = await parserSchemaIssues({ keyName: 'summary', serializableSchema: standard }, {});
    expect(issues?.map((i) => i.shownPath)).toEqual([['title'], ['<key>']]);
  });
});

describe('shownPathOf: recursive schemas and numeric keys', () => {
  /** `{ type, children: [ ... ] }` nested `depth` levels, the deepest node's `children` a number (the schema wants an array). */
  function deepTree(depth: number): unknown {
    let node: unknown = { type: 'a', children: 5 };
    for (let i = 0; i < depth; i++) node = { type: 'b', children: [node] };
    return node;
  }
  const treePath = (depth: number) => [...Array.from({ length: depth }, () => ['children', 0]).flat(), 'children'];

  it('a recursive tree (z.lazy of a discriminated union of 3 node kinds) and a failure 30 levels deep: the path is walked promptly, every key named', async () => {
    type Node = { type: 'a' | 'b' | 'c'; children: Node[] };
    const Tree: z.ZodType<Node> = z.lazy(() =>
      z.discriminatedUnion('type', [
        z.object({ type: z.literal('a'), children: z.array(Tree) }),
        z.object({ type: z.literal('b'), children: z.array(Tree) }),
        z.object({ type: z.literal('c'), children: z.array(Tree) }),
      ]),
    );
    // An exponential walk (3^30 alternatives) would not end before the test's timeout.
    const issues = await parserSchemaIssues(parser(Tree as never), deepTree(30));
    expect(issues?.map((i) => i.shownPath)).toEqual([treePath(30)]);
  });

  it('a recursive schema that makes new alternatives at each level (nothing to deduplicate): the walk stops within its budget and shows the rest of the path as <key> and indexes', () => {
    const kind = (): z.ZodType => z.object({ type: z.string(), children: z.array(z.lazy(node)) });
    const node = (): z.ZodType => z.union([kind(), kind(), kind()]);
    const shown = shownPathOf(treePath(30), node(), deepTree(30));
    expect(shown).toHaveLength(61);
    expect(shown.slice(0, 4)).toEqual(['children', 0, 'children', 0]);
    expect(shown.slice(-3)).toEqual(['<key>', 0, '<key>']);
    expect(shown.filter((s) => typeof s === 'number')).toEqual(Array(30).fill(0));
  });

  it('a string of digits is an index only where the value has an array; a record key of digits is <key>, whatever the schema', () => {
    const Either = z.union([z.array(z.object({ n: z.number() })), z.record(z.string(), z.object({ n: z.number() }))]);
    expect(shownPathOf(['123456789', 'n'], Either, { 123456789: { n: 'x' } })).toEqual(['<key>', 'n']);
    expect(shownPathOf(['1', 'n'], Either, [{ n: 1 }, { n: 'x' }])).toEqual([1, 'n']);
    expect(shownPathOf([1, 'n'], Either, [{ n: 1 }, { n: 'x' }])).toEqual([1, 'n']);
    // Without the value, a string of digits is a key like any other.
    expect(shownPathOf(['1', 'n'], Either)).toEqual(['<key>', 'n']);
    // A field whose name is digits is still named.
    expect(shownPathOf(['2024', 'n'], z.object({ 2024: z.object({ n: z.number() }) }), { 2024: { n: 'x' } })).toEqual(['2024', 'n']);
  });
});

describe('describeSchemaIssues', () => {
  it('says where and what was expected, with the type the reply had there, never its value', () => {
    expect(describeSchemaIssues([{ path: ['title'], shownPath: ['title'], code: 'invalid_type', expected: 'string', message: 'Invalid input' }], { title: 5 })).toBe('title: expected string, got a number');
    expect(describeSchemaIssues([{ path: ['author', 'name'], shownPath: ['author', 'name'], code: 'invalid_type', expected: 'string' }], { author: {} })).toBe('author.name: expected string, got undefined');
    expect(describeSchemaIssues([{ path: ['bullets'], shownPath: ['bullets'], code: 'too_small', message: 'Too small: expected array to have >=1 items' }], { bullets: [] })).toBe('bullets: too_small');
  });

  it("leaves out messages, which may quote the value (valibot's `received \"Secret plan\"`), and keys the schema does not name", () => {
    const text = describeSchemaIssues([{ path: [{ key: 'Secret plan' }], message: 'Invalid type: expected number but received "Secret plan"' }], {});
    expect(text).toBe('<key>: invalid');
    expect(text).not.toContain('Secret');
    // Without the path as it may be shown, only array indexes are.
    expect(describeSchemaIssues([{ path: ['alice@example.com', 0], code: 'invalid_type', expected: 'number' }], {})).toBe('<key>.0: expected number, got undefined');
  });

  it('lists three issues at most, and says "rejected" when the schema gave none', () => {
    const issues = ['a', 'b', 'c', 'd'].map((k) => ({ path: [k], shownPath: [k], code: 'invalid_type', expected: 'string' }));
    expect(describeSchemaIssues(issues, {})).toBe('a: expected string, got undefined; b: expected string, got undefined; c: expected string, got undefined');
    expect(describeSchemaIssues([], {})).toBe('rejected');
  });
});

describe('shownPathOf on odd values', () => {
  it('a getter that throws on the value: the path is still shown, no throw', () => {
    const value = {
      get a(): unknown {
        throw new Error('boom');
      },
    };
    expect(shownPathOf(['a', 'b'], z.object({ a: z.object({ b: z.number() }) }), value)).toEqual(['a', 'b']);
  });

  it('a path longer than the value and a cyclic value: keys the schema does not name are <key>', () => {
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(shownPathOf(['self', 'self', 'x', 'y', '0'], z.any(), cyc)).toEqual(['<key>', '<key>', '<key>', '<key>', '<key>']);
  });

  it('a record key of digits, of a record a preprocess step made of an array, is <key>, never an index', async () => {
    const Schema = z.preprocess((v) => (Array.isArray(v) ? Object.fromEntries(v as never) : v), z.record(z.string(), z.number()));
    const issues = await parserSchemaIssues(parser(Schema as never), [['5551234567', 'x']]);
    expect(issues?.[0]?.shownPath).toEqual(['<key>']);
  });
});
