import { interopSafeParseAsync, type InteropZodType } from '@langchain/core/utils/types';
import { valueType } from '@llm-resilience/core';
import { standardOf, type ToolCallSchemaParser } from './toolCallSchemaParsers';
import { isRecord } from './isRecord';

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
  /**
   * The path as it may be shown (set by {@link parserSchemaIssues}): array indexes, and the keys the
   * schema itself names (an object's fields); any other key (a `z.record`'s, made up by the reply) is
   * `<key>`.
   */
  shownPath?: ReadonlyArray<string | number>;
}

/**
 * What `parser`'s schema finds wrong with `value`, checked as the parser's `parseResult` checks it
 * (`JsonOutputKeyToolsParser._validateResult`): its `serializableSchema` (a Standard Schema, @langchain/core
 * 1.4) with `~standard.validate`, else its `zodSchema` with LangChain's `interopSafeParseAsync` (zod 3 and
 * 4). Undefined when the value passes; an empty list when it fails without saying why (zod 4 rejects also
 * when a refinement throws). A schema that throws instead of answering gives no verdict (undefined): the
 * parser's `invoke()` then fails with that error, which is not a rejected reply. Each issue comes with
 * the path it may be shown with (`shownPath`, see {@link shownPathOf}).
 *
 * @example
 * ```ts
 * await parserSchemaIssues(new JsonOutputKeyToolsParser({ keyName: 'summary', zodSchema: z.object({ title: z.string() }) }), { title: 5 });
 * // [{ code: 'invalid_type', expected: 'string', path: ['title'], message: 'Invalid input: expected string, received number' }]
 * ```
 */
export async function parserSchemaIssues(parser: ToolCallSchemaParser, value: unknown): Promise<SchemaIssue[] | undefined> {
  try {
    const standard = standardOf(parser.serializableSchema);
    if (standard !== undefined) {
      const verdict = (await standard.validate(value)) as { issues?: unknown } | undefined;
      return verdict?.issues ? issuesOf(verdict.issues, parser.serializableSchema, value) : undefined;
    }
    if (parser.zodSchema === undefined) return undefined;
    const parsed = await interopSafeParseAsync(parser.zodSchema as InteropZodType, value);
    return parsed.success ? undefined : issuesOf((parsed.error as { issues?: unknown } | undefined)?.issues, parser.zodSchema, value);
  } catch {
    return undefined;
  }
}

function issuesOf(issues: unknown, schema: unknown, value: unknown): SchemaIssue[] {
  if (!Array.isArray(issues)) return [];
  // One work budget for all the issues of the reply (each path within its own too).
  let left = MAX_REPLY_WORK;
  return issues.filter(isRecord).map((issue: SchemaIssue) => {
    const budget: Budget = { left: Math.min(MAX_PATH_WORK, left) };
    const shownPath = walkPath(Array.isArray(issue.path) ? issue.path : [], schema, value, budget);
    left -= Math.min(MAX_PATH_WORK, left) - Math.max(budget.left, 0);
    return { ...issue, shownPath };
  });
}

/** Placeholder for a key of the reply that the schema does not name. */
const UNNAMED_KEY = '<key>';

/** Unwrappings of one schema {@link shapesOf} makes at most (a lazy schema may refer to itself). */
const MAX_UNWRAPS = 200;

/**
 * Unwrappings {@link shownPathOf} makes at most for one path, all its segments together: past it, the rest
 * of the path is shown as if the schema named no key (`<key>`; indexes as numbers).
 */
const MAX_PATH_WORK = 1_000;

/** Unwrappings made at most for all the issue paths of one reply together (see {@link MAX_PATH_WORK}). */
const MAX_REPLY_WORK = 5_000;

/** What is left of a walk's work budget. */
interface Budget {
  left: number;
}

/** What a schema says of a value's structure: an object's fields, an array's items, a record's values. */
interface Shape {
  /** The keys it names, and their schemas. */
  fields?: Record<string, unknown>;
  /** The schema of keys it does not name (a record's values, JSON Schema's `additionalProperties`). */
  otherKeys?: unknown;
  /** The schemas of an array's items: by index (a tuple), and any other. */
  items?: unknown[];
  rest?: unknown;
}

function call(f: unknown, ...args: unknown[]): unknown {
  return typeof f === 'function' ? (f as (...a: unknown[]) => unknown)(...args) : undefined;
}

function isSchema(value: unknown): value is Record<string, unknown> {
  return isRecord(value) || typeof value === 'function';
}

/**
 * The structures `schema` (zod 4, zod 3, or a Standard Schema's JSON Schema) allows, through its
 * wrappers (optional, default, pipe, lazy, ...) and alternatives (unions, intersections).
 */
function shapesOf(schema: unknown, total: Budget): Shape[] {
  const shapes: Shape[] = [];
  const seen = new Set<unknown>();
  let budget = MAX_UNWRAPS;
  const visit = (s: unknown): void => {
    if (!isSchema(s) || seen.has(s) || --budget < 0 || --total.left < 0) return;
    seen.add(s);
    const s4 = s as { _zod?: { def?: Record<string, unknown> }; _def?: Record<string, unknown> };
    const def4 = s4._zod?.def;
    if (isRecord(def4)) {
      switch (def4.type) {
        case 'object':
          return void shapes.push({ fields: isRecord(def4.shape) ? def4.shape : {}, otherKeys: def4.catchall });
        case 'record':
          return void shapes.push({ otherKeys: def4.valueType });
        case 'array':
          return void shapes.push({ rest: def4.element });
        case 'tuple':
          return void shapes.push({ items: Array.isArray(def4.items) ? def4.items : [], rest: def4.rest });
        case 'union':
          return (Array.isArray(def4.options) ? def4.options : []).forEach(visit);
        case 'intersection':
          return [def4.left, def4.right].forEach(visit);
        case 'pipe':
          return [def4.in, def4.out].forEach(visit);
        case 'lazy':
          return visit(call(def4.getter));
        default:
          return visit(def4.innerType);
      }
    }
    const def3 = s4._def;
    if (isRecord(def3) && typeof def3.typeName === 'string') {
      switch (def3.typeName) {
        case 'ZodObject': {
          const shape = typeof def3.shape === 'function' ? call(def3.shape) : def3.shape;
          return void shapes.push({ fields: isRecord(shape) ? shape : {}, otherKeys: def3.catchall });
        }
        case 'ZodRecord':
          return void shapes.push({ otherKeys: def3.valueType });
        case 'ZodArray':
          return void shapes.push({ rest: def3.type });
        case 'ZodTuple':
          return void shapes.push({ items: Array.isArray(def3.items) ? def3.items : [], rest: def3.rest });
        case 'ZodUnion':
        case 'ZodDiscriminatedUnion':
          return (Array.isArray(def3.options) ? def3.options : def3.options instanceof Map ? [...def3.options.values()] : []).forEach(visit);
        case 'ZodIntersection':
          return [def3.left, def3.right].forEach(visit);
        case 'ZodPipeline':
          return [def3.in, def3.out].forEach(visit);
        case 'ZodLazy':
          return visit(call(def3.getter));
        case 'ZodEffects':
          return visit(def3.schema);
        case 'ZodBranded':
          return visit(def3.type);
        default:
          return visit(def3.innerType);
      }
    }
    const standard = (s as { '~standard'?: { jsonSchema?: { input?: unknown } } })['~standard'];
    if (isRecord(standard)) {
      // A Standard Schema that is no zod schema: the JSON Schema it describes itself with, if it does.
      return visit(call(standard.jsonSchema?.input, { target: 'draft-2020-12' }));
    }
    // A JSON Schema.
    const j = s as Record<string, unknown>;
    if (isRecord(j.properties) || j.additionalProperties !== undefined || j.type === 'object') {
      shapes.push({ fields: isRecord(j.properties) ? j.properties : {}, otherKeys: isRecord(j.additionalProperties) ? j.additionalProperties : undefined });
    }
    if (j.items !== undefined || Array.isArray(j.prefixItems)) {
      shapes.push({ items: Array.isArray(j.prefixItems) ? j.prefixItems : Array.isArray(j.items) ? j.items : [], rest: isRecord(j.items) ? j.items : undefined });
    }
    for (const k of ['anyOf', 'oneOf', 'allOf']) if (Array.isArray(j[k])) (j[k] as unknown[]).forEach(visit);
  };
  try {
    visit(schema);
  } catch {
    // A schema that throws when read further says nothing more.
  }
  return shapes;
}

/**
 * `path` as it may be shown: array indexes, and keys that `schema` itself names (an object's fields);
 * every other key, a record's (which the reply made up: an e-mail address, a sentence), as `<key>`.
 * A number in the path is an array index; a string of digits is one only where `value` (the checked
 * value, when given) has an array and the schema an array's items, else it is a key like any other. The walk does at most
 * {@link MAX_PATH_WORK} unwrappings in all (a recursive schema may offer many alternatives at each
 * level; each schema is expanded once per segment): past that, the rest of the path shows every key
 * as `<key>`.
 *
 * @example
 * ```ts
 * shownPathOf(['alice@example.com', 'score'], z.record(z.string(), z.object({ score: z.number() }))); // ['<key>', 'score']
 * ```
 */
export function shownPathOf(path: ReadonlyArray<PropertyKey | { key: PropertyKey }>, schema: unknown, value?: unknown): Array<string | number> {
  return walkPath(path, schema, value, { left: MAX_PATH_WORK });
}

function walkPath(path: ReadonlyArray<PropertyKey | { key: PropertyKey }>, schema: unknown, value: unknown, budget: Budget): Array<string | number> {
  // The schemas the value at this point of the path may have to match, each once.
  let schemas = new Set<unknown>([schema]);
  let at = value;
  return path.map((segment) => {
    const key = keyOf(segment);
    const parent = at;
    at = propertyOf(parent, key);
    if (budget.left <= 0) {
      schemas.clear();
      return typeof key === 'number' ? key : UNNAMED_KEY;
    }
    const shapes: Shape[] = [];
    for (const s of schemas) shapes.push(...shapesOf(s, budget));
    // A string of digits is an index only where both the value and the schema have an array: a key
    // of a record (a phone number) stays a key, even when a preprocess step made the record of an array.
    const index =
      typeof key === 'number'
        ? key
        : typeof key === 'string' && Array.isArray(parent) && /^(0|[1-9][0-9]*)$/.test(key) && shapes.some((sh) => sh.items !== undefined || sh.rest !== undefined)
          ? Number(key)
          : undefined;
    const next = new Set<unknown>();
    let named = false;
    for (const shape of shapes) {
      if (index !== undefined) {
        const item = shape.items?.[index] ?? shape.rest;
        if (item !== undefined) next.add(item);
      } else if (typeof key === 'string') {
        if (shape.fields !== undefined && Object.hasOwn(shape.fields, key)) {
          named = true;
          next.add(shape.fields[key]);
        } else if (shape.otherKeys !== undefined) next.add(shape.otherKeys);
      }
    }
    schemas = next;
    return index ?? (named && typeof key === 'string' ? key : UNNAMED_KEY);
  });
}

/** `parent[key]`, or undefined when `parent` is not an object or reading it throws (a getter). */
function propertyOf(parent: unknown, key: PropertyKey): unknown {
  if (!isRecord(parent)) return undefined;
  try {
    return (parent as Record<PropertyKey, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** Expectations this long are not a type's name: left out. */
const LONG_EXPECTED = 32;

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
 * The first three of `issues` in words that never quote `value` (the reply): each issue's path (its
 * `shownPath`: array indexes and keys the schema names, any other key as `<key>`; an issue without it
 * shows only indexes), what the schema expected and what type the reply had there (`title: expected string,
 * got a number`), else the issue's code (`bullets: too_small`). Schema messages are left out: some quote
 * the value they rejected (valibot's `received 5`, zod 3's enums).
 *
 * @example
 * ```ts
 * describeSchemaIssues([{ path: ['title'], shownPath: ['title'], code: 'invalid_type', expected: 'string' }], { title: 5 }); // 'title: expected string, got a number'
 * describeSchemaIssues([{ path: ['alice@example.com'], code: 'invalid_type', expected: 'number' }], {});        // '<key>: expected number, got undefined'
 * describeSchemaIssues([], { title: 5 });                                                            // 'rejected'
 * ```
 */
export function describeSchemaIssues(issues: ReadonlyArray<SchemaIssue>, value: unknown): string {
  if (issues.length === 0) return 'rejected';
  return issues
    .slice(0, 3)
    .map((issue) => {
      const path = Array.isArray(issue.path) ? issue.path : [];
      const where = (issue.shownPath ?? path.map((s) => keyOf(s)).map((k) => (typeof k === 'number' ? k : UNNAMED_KEY))).map(String);
      const what =
        typeof issue.expected === 'string' && issue.expected.length < LONG_EXPECTED
          ? `expected ${issue.expected}, got ${valueType(valueAt(value, path))}`
          : typeof issue.code === 'string'
            ? issue.code
            : 'invalid';
      return where.length > 0 ? `${where.join('.')}: ${what}` : what;
    })
    .join('; ');
}
