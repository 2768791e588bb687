import { interopSafeParseAsync, type InteropZodType } from '@langchain/core/utils/types';
import { valueType } from '@llm-resilience/core';
import type { ToolCallSchemaParser } from './toolCallSchemaParsers';

/**
 * One problem a schema found in a value: where (`path`), and, when the schema says, what it expected
 * (zod's `invalid_type`, valibot) and its code (zod's `too_small`, `invalid_value`, ...).
 *
 * @example
 * ```ts
 * const issue: SchemaIssue = { path: ['title'], code: 'invalid_type', expected: 'string', message: 'Invalid input: expected string, received number' };
 * ```
 */
export interface SchemaIssue {
  path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>;
  code?: unknown;
  expected?: unknown;
  message?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * What `parser`'s schema finds wrong with `value`, checked as the parser's `parseResult` checks it
 * (`JsonOutputKeyToolsParser._validateResult`): its `serializableSchema` (a Standard Schema, @langchain/core
 * 1.4) with `~standard.validate`, else its `zodSchema` with LangChain's `interopSafeParseAsync` (zod 3 and
 * 4). Undefined when the value passes; an empty list when it fails without saying why (zod 4 rejects also
 * when a refinement throws). A schema that throws instead of answering gives no verdict (undefined): the
 * parser's `invoke()` then fails with that error, which is not a rejected reply.
 *
 * @example
 * ```ts
 * await parserSchemaIssues(new JsonOutputKeyToolsParser({ keyName: 'summary', zodSchema: z.object({ title: z.string() }) }), { title: 5 });
 * // [{ code: 'invalid_type', expected: 'string', path: ['title'], message: 'Invalid input: expected string, received number' }]
 * ```
 */
export async function parserSchemaIssues(parser: ToolCallSchemaParser, value: unknown): Promise<SchemaIssue[] | undefined> {
  try {
    const standard = isRecord(parser.serializableSchema) ? parser.serializableSchema['~standard'] : undefined;
    if (isRecord(standard) && typeof standard.validate === 'function') {
      const verdict = (await (standard.validate as (v: unknown) => unknown)(value)) as { issues?: unknown } | undefined;
      return verdict?.issues ? issuesOf(verdict.issues) : undefined;
    }
    if (parser.zodSchema === undefined) return undefined;
    const parsed = await interopSafeParseAsync(parser.zodSchema as InteropZodType, value);
    return parsed.success ? undefined : issuesOf((parsed.error as { issues?: unknown } | undefined)?.issues);
  } catch {
    return undefined;
  }
}

function issuesOf(issues: unknown): SchemaIssue[] {
  return Array.isArray(issues) ? issues.filter(isRecord) : [];
}

/** Keys this long may be text of the reply (a `z.record`'s keys can be sentences): shown by their length, as core's validation reasons do. */
const LONG_KEY = 32;

function keyOf(segment: PropertyKey | { key: PropertyKey }): PropertyKey {
  return isRecord(segment) ? (segment as { key: PropertyKey }).key : segment;
}

/** The part of `value` at `path`, if there is one. */
function valueAt(value: unknown, path: ReadonlyArray<PropertyKey | { key: PropertyKey }>): unknown {
  let at = value;
  for (const segment of path) {
    if (!isRecord(at)) return undefined;
    at = at[keyOf(segment) as string];
  }
  return at;
}

/**
 * The first three of `issues` in words that never quote `value` (the reply): each issue's path (long keys
 * by their length), what the schema expected and what type the reply had there (`title: expected string,
 * got a number`), else the issue's code (`bullets: too_small`). Schema messages are left out: some quote
 * the value they rejected (valibot's `received 5`, zod 3's enums).
 *
 * @example
 * ```ts
 * describeSchemaIssues([{ path: ['title'], code: 'invalid_type', expected: 'string' }], { title: 5 }); // 'title: expected string, got a number'
 * describeSchemaIssues([], { title: 5 });                                                            // 'rejected'
 * ```
 */
export function describeSchemaIssues(issues: ReadonlyArray<SchemaIssue>, value: unknown): string {
  if (issues.length === 0) return 'rejected';
  return issues
    .slice(0, 3)
    .map((issue) => {
      const path = Array.isArray(issue.path) ? issue.path : [];
      const where = path.map((s) => String(keyOf(s))).map((k) => (k.length >= LONG_KEY ? `[${k.length} chars]` : k));
      const what =
        typeof issue.expected === 'string' && issue.expected.length < LONG_KEY
          ? `expected ${issue.expected}, got ${valueType(valueAt(value, path))}`
          : typeof issue.code === 'string'
            ? issue.code
            : 'invalid';
      return where.length > 0 ? `${where.join('.')}: ${what}` : what;
    })
    .join('; ');
}
