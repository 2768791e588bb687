import type { StandardSchemaLike } from '../policy/schema';
import { parseJsonReply } from './parseJsonReply';

/**
 * Result of {@link validateOutput}.
 *
 * @example
 * ```ts
 * const r: OutputValidation = await validateOutput(text, schema);
 * if (!r.ok) console.log(r.reason);
 * ```
 */
export type OutputValidation<O = unknown> = { ok: true; value: O } | { ok: false; reason: string };

/**
 * Parses JSON out of a reply and validates it with a Standard Schema (zod 4, valibot, arktype...).
 * Never throws: a validator that throws counts as a failed validation.
 *
 * @example
 * ```ts
 * const r = await validateOutput('{"urgency":"high"}', z.object({ urgency: z.enum(['low', 'high']) }));
 * ```
 */
export async function validateOutput<O>(
  text: string | undefined,
  schema: StandardSchemaLike<O>,
): Promise<OutputValidation<O>> {
  if (text === undefined) return { ok: false, reason: 'the reply has no text to validate' };
  const parsed = parseJsonReply(text);
  if (!parsed.ok) return parsed;
  try {
    const result = await schema['~standard'].validate(parsed.value);
    if (result.issues) {
      const first = result.issues
        .slice(0, 3)
        .map((i) => `${formatPath(i.path)}${i.message}`)
        .join('; ');
      return { ok: false, reason: `the reply does not match the schema: ${first}` };
    }
    return { ok: true, value: result.value };
  } catch (e) {
    return { ok: false, reason: `the output validator threw: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function formatPath(path: ReadonlyArray<PropertyKey | { key: PropertyKey }> | undefined): string {
  if (!path || path.length === 0) return '';
  return path.map((p) => String(typeof p === 'object' ? p.key : p)).join('.') + ': ';
}
