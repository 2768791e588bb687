import type { Serialized } from '@langchain/core/load/serializable';
import type { Runnable } from '@langchain/core/runnables';
import { runnablesWithin } from './runnablesWithin';
import { isRecord } from './isRecord';

/**
 * A tool-call parser that checks the arguments it returns against a schema in its `invoke()`:
 * LangChain's `JsonOutputKeyToolsParser` (or a subclass) built with a `zodSchema` (zod 3 or 4) or, in
 * @langchain/core 1.4, a `serializableSchema` (a Standard Schema), as `withStructuredOutput(schema)` builds
 * it in its default `functionCalling` mode. Its `parseResult` validates, its streaming path never does.
 *
 * @example
 * ```ts
 * const parser: ToolCallSchemaParser = new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema: Summary });
 * ```
 */
export interface ToolCallSchemaParser {
  /** The tool whose calls it returns. */
  keyName: string;
  /** Whether it returns (and checks) the first matching call only. */
  returnSingle?: boolean;
  /** Whether it returns (and checks) `{ type, args, id }` rather than the arguments. */
  returnId?: boolean;
  zodSchema?: unknown;
  serializableSchema?: unknown;
  /** Its class, as its `toJSON()` names it (`['langchain', 'output_parsers', 'openai_tools', 'JsonOutputKeyToolsParser']`). */
  lc_id?: string[];
}

/** A Standard Schema's `~standard` part, if `schema` is one: an object or a function (ArkType's `type()` is callable), as LangChain's `isStandardSchema` accepts. */
export function standardOf(schema: unknown): { validate: (value: unknown) => unknown } | undefined {
  if (!isRecord(schema) && typeof schema !== 'function') return undefined;
  const standard = (schema as { '~standard'?: unknown })['~standard'];
  return isRecord(standard) && typeof standard.validate === 'function' ? (standard as { validate: (value: unknown) => unknown }) : undefined;
}

/** Whether a runnable is a parser of {@link ToolCallSchemaParser}'s kind (of any @langchain/core copy). */
function isToolCallSchemaParser(node: Runnable): node is Runnable & ToolCallSchemaParser {
  const n = node as Partial<ToolCallSchemaParser>;
  return typeof n.keyName === 'string' && (isRecord(n.zodSchema) || standardOf(n.serializableSchema) !== undefined);
}

const within = new WeakMap<object, ReadonlyArray<ToolCallSchemaParser>>();

/**
 * The {@link ToolCallSchemaParser}s inside `runnable` (see `runnablesWithin`: sequences, bindings,
 * fallbacks, maps, branches), found once per runnable. A parser only a closure holds is not found:
 * `withStructuredOutput(schema, { includeRaw: true })` calls its parser's `invoke()` from a lambda, which
 * checks the schema itself (a failure gives `parsed: null`, streamed or not).
 *
 * @example
 * ```ts
 * toolCallSchemaParsersWithin(model.withStructuredOutput(Summary)); // [the JsonOutputKeyToolsParser]
 * toolCallSchemaParsersWithin(model.pipe(new JsonOutputParser()));  // []
 * ```
 */
export function toolCallSchemaParsersWithin(runnable: Runnable): ReadonlyArray<ToolCallSchemaParser> {
  let found = within.get(runnable);
  if (found === undefined) {
    found = runnablesWithin(runnable).filter(isToolCallSchemaParser);
    within.set(runnable, found);
  }
  return found;
}

/** A parser's identity: its class (`lc_id`, as its `toJSON()` names it), and that with the fields that say which calls it returns. */
interface Identity {
  kind: string;
  full: string;
}

function identityOf(id: unknown, keyName: unknown, returnSingle: unknown, returnId: unknown): Identity {
  const kind = JSON.stringify(Array.isArray(id) ? id.map(String) : null);
  return { kind, full: JSON.stringify([kind, typeof keyName === 'string' ? keyName : null, returnSingle === true, returnId === true]) };
}

const identities = new WeakMap<ToolCallSchemaParser, Identity>();

/** A parser's identity, read once from its fields (never its `toJSON()`, which on @langchain/core 1.4 evaluates its schema's default factories). */
function identityOfParser(parser: ToolCallSchemaParser): Identity {
  let identity = identities.get(parser);
  if (identity === undefined) {
    let id: unknown;
    try {
      id = parser.lc_id;
    } catch {
      id = undefined;
    }
    identity = identityOf(id, parser.keyName, parser.returnSingle, parser.returnId);
    identities.set(parser, identity);
  }
  return identity;
}

/** The fields of a zod 4 schema's `def` that hold the schemas inside it (never `defaultValue`, a getter that may call a factory). */
const INNER_SCHEMAS = ['shape', 'element', 'innerType', 'options', 'left', 'right', 'in', 'out', 'items', 'rest', 'keyType', 'valueType', 'catchall'];

/** Nodes {@link outlineOf} reads at most (a schema built with getters may refer to itself). */
const MAX_OUTLINE = 2_000;

/**
 * The constants a zod 4 schema's `def` names, as plain data both in the live schema and in @langchain/core
 * 1.4's serialized copy: an enum's members (`def.entries`, `z.enum(['spam', 'ham'])`) and a literal's
 * values (`def.values`, `z.literal('spam')`), each as its type and text, sorted. Undefined for other kinds.
 * Checks (`.min(1)`) are not among them: the serialized copy keeps each check as `{}`.
 */
function constantsOf(def: Record<string, unknown>): string[] | undefined {
  const held = def.type === 'enum' && isRecord(def.entries) ? Object.values(def.entries) : def.type === 'literal' && Array.isArray(def.values) ? def.values : undefined;
  return held?.map((v: unknown) => `${typeof v}:${String(v)}`).sort();
}

/**
 * The outline of a zod 4 schema, live or as @langchain/core 1.4's `toJSON()` copies it (`{ def, type }`
 * all the way down): the kind of each schema in it (`def.type`), the names of object fields and the
 * constants of enums and literals (see {@link constantsOf}: the schema's own, never a reply's), nothing
 * the schema computes (defaults, never read) and no checks. Undefined for anything else (zod 3, other
 * Standard Schemas), or a schema too large to outline.
 */
function outlineOf(schema: unknown): string | undefined {
  let budget = MAX_OUTLINE;
  const outline = (node: unknown, depth: number): unknown => {
    if (--budget < 0 || depth > 64) throw new RangeError('too large');
    if (Array.isArray(node)) return node.map((n) => outline(n, depth + 1));
    if (!isRecord(node) && typeof node !== 'function') return null;
    const def = (node as { def?: unknown }).def;
    if (isRecord(def) && typeof def.type === 'string') {
      const inner = INNER_SCHEMAS.filter((k) => Object.hasOwn(def, k)).map((k) => [k, outline(def[k], depth + 1)]);
      const constants = constantsOf(def);
      return constants === undefined ? [def.type, inner] : [def.type, inner, constants];
    }
    // An object's shape: its field names, each with its schema's outline.
    if (isRecord(node) && Object.getPrototypeOf(node) === Object.prototype) {
      return Object.keys(node)
        .sort()
        .map((k) => [k, outline(node[k], depth + 1)]);
    }
    return null;
  };
  try {
    const def = isRecord(schema) || typeof schema === 'function' ? (schema as { def?: unknown }).def : undefined;
    return isRecord(def) && typeof def.type === 'string' ? JSON.stringify(outline(schema, 0)) : undefined;
  } catch {
    return undefined;
  }
}

const outlines = new WeakMap<ToolCallSchemaParser, string | null>();

/** The outline of a parser's own schema (see {@link outlineOf}), read once. */
function outlineOfParser(parser: ToolCallSchemaParser): string | undefined {
  let outline = outlines.get(parser);
  if (outline === undefined) {
    outline = outlineOf(parser.zodSchema ?? parser.serializableSchema) ?? null;
    outlines.set(parser, outline);
  }
  return outline ?? undefined;
}

/**
 * The parsers among `parsers` that a parser run may have been started for, told by the run's
 * `serialized` (what `handleChainStart` receives: the instance's `toJSON()`). Callbacks never get the
 * instance itself, and what `toJSON()` keeps of the schema differs between versions and from one call to
 * the next (@langchain/core 1.4 copies a zod 4 schema's `def`, evaluating a `.default(() => randomUUID())`
 * factory each time), so only the fields that identify the parser are compared: its class (`id`, the
 * instance's `lc_id`) and `kwargs.key_name`, `return_single` and `return_id` (the same shape in 1.0 and
 * 1.4), against each instance's own fields, read once per instance. Several alike are told apart by their
 * schema where the form allows: on 1.0 `kwargs.zod_schema` is the schema object itself, on 1.4 a copy
 * of a zod 4 schema's `def`, whose outline (kinds, field names, enum members and literal values, see
 * `outlineOf`) is compared with the instances' own (read once, no default computed). The schema is then
 * taken from the instances found in the wrapped runnable. Usually one; several when parsers of the
 * runnable return the same tool's calls alike (on 1.4, two schemas for one tool name that differ only in
 * checks, `.min(1)`, or are not zod 4), empty when none matches.
 *
 * @example
 * ```ts
 * override handleChainStart(chain: Serialized, ...) {
 *   const candidates = toolCallSchemaParsersOf(toolCallSchemaParsersWithin(runnable), chain);
 * }
 * ```
 */
export function toolCallSchemaParsersOf(parsers: ReadonlyArray<ToolCallSchemaParser>, serialized: Serialized): ToolCallSchemaParser[] {
  const run = (serialized ?? {}) as { id?: unknown; kwargs?: Record<string, unknown> };
  const kwargs = isRecord(run.kwargs) ? run.kwargs : undefined;
  const identity = identityOf(run.id, kwargs?.key_name ?? kwargs?.keyName, kwargs?.return_single ?? kwargs?.returnSingle, kwargs?.return_id ?? kwargs?.returnId);
  // A form without kwargs (`not_implemented`) tells only the class: every parser of it may have run.
  const alike = parsers.filter((p) => (kwargs === undefined ? identityOfParser(p).kind === identity.kind : identityOfParser(p).full === identity.full));
  if (alike.length < 2) return alike;
  // @langchain/core 1.0 keeps the schema object itself (`kwargs.zod_schema`): when it is one of theirs, it tells them apart.
  const schema = kwargs?.zod_schema ?? kwargs?.zodSchema ?? kwargs?.serializable_schema ?? kwargs?.serializableSchema;
  const same = isRecord(schema) ? alike.filter((p) => (p.zodSchema ?? p.serializableSchema) === schema) : [];
  if (same.length > 0) return same;
  // 1.4 keeps a copy of a zod 4 schema's `def`: its outline (kinds, field names, enum members, literal values) tells apart schemas built differently.
  const outline = outlineOf(schema);
  const sameOutline = outline === undefined ? [] : alike.filter((p) => outlineOfParser(p) === outline);
  return sameOutline.length > 0 ? sameOutline : alike;
}
