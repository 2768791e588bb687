import type { Serialized } from '@langchain/core/load/serializable';
import type { Runnable } from '@langchain/core/runnables';
import { runnablesWithin } from './runnablesWithin';

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
  toJSON(): Serialized;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Whether a runnable is a parser of {@link ToolCallSchemaParser}'s kind (of any @langchain/core copy). */
function isToolCallSchemaParser(node: Runnable): node is Runnable & ToolCallSchemaParser {
  const n = node as Partial<ToolCallSchemaParser>;
  const standard = isRecord(n.serializableSchema) ? n.serializableSchema['~standard'] : undefined;
  return typeof n.keyName === 'string' && (isRecord(n.zodSchema) || (isRecord(standard) && typeof standard.validate === 'function'));
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

/** Comparisons {@link sameSerialized} makes at most: a schema is a few hundred values, never this many. */
const MAX_COMPARISONS = 20_000;

/**
 * Whether two serialized forms are the same: the same structure of plain values, anything else (a class
 * instance, a function) the same object. Gives up (false) on structures larger than anything a parser's
 * `toJSON()` holds.
 */
function sameSerialized(a: unknown, b: unknown): boolean {
  let budget = MAX_COMPARISONS;
  const compared = new Map<object, Set<object>>();
  const same = (x: unknown, y: unknown): boolean => {
    if (x === y) return true;
    if (--budget < 0 || !isRecord(x) || !isRecord(y)) return false;
    const plain = (v: object) => Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null;
    if (!plain(x) || !plain(y) || Array.isArray(x) !== Array.isArray(y)) return false;
    // A pair met again (a structure shared twice) is as equal as it was the first time: only unequal pairs stop the walk.
    const pairs = compared.get(x) ?? new Set<object>();
    if (pairs.has(y)) return true;
    pairs.add(y);
    compared.set(x, pairs);
    const keys = Object.keys(x);
    return keys.length === Object.keys(y).length && keys.every((k) => Object.hasOwn(y, k) && same(x[k], y[k]));
  };
  return same(a, b);
}

/**
 * The parsers among `parsers` that a parser run may have been started for, told by the run's
 * `serialized` (what `handleChainStart` receives: the instance's `toJSON()`). Callbacks never get the
 * instance itself, and what `toJSON()` keeps of the schema differs between versions: @langchain/core 1.0
 * keeps the schema object (`kwargs.zod_schema`), 1.4 a copy of its enumerable fields (a zod 4 schema's
 * `def`, without `safeParse` or `~standard`), so the schema is taken from the instances found in the
 * wrapped runnable whose `toJSON()` is the same as the run's. Usually one; several when parsers of the
 * runnable serialize alike (on 1.4, two schemas built alike), empty when none matches.
 *
 * @example
 * ```ts
 * override handleChainStart(chain: Serialized, ...) {
 *   const candidates = toolCallSchemaParsersOf(toolCallSchemaParsersWithin(runnable), chain);
 * }
 * ```
 */
export function toolCallSchemaParsersOf(parsers: ReadonlyArray<ToolCallSchemaParser>, serialized: Serialized): ToolCallSchemaParser[] {
  return parsers.filter((p) => sameSerialized(p.toJSON(), serialized));
}
