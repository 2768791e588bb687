type Schema = Record<string, unknown>;

const MAX_DEPTH = 12;

function isObj(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function resolveRef(root: Schema, ref: string): Schema | undefined {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').filter(Boolean)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = isObj(node) ? node[key] : undefined;
  }
  return isObj(node) ? node : undefined;
}

function stringFor(s: Schema, text: string): string {
  switch (s.format) {
    case 'date-time':
      return '2024-01-01T00:00:00Z';
    case 'date':
      return '2024-01-01';
    case 'time':
      return '00:00:00Z';
    case 'email':
      return 'user@example.com';
    case 'uri':
    case 'url':
      return 'https://example.com/';
    case 'uuid':
      return '00000000-0000-4000-8000-000000000000';
  }
  let out = text;
  const min = typeof s.minLength === 'number' ? s.minLength : 0;
  const max = typeof s.maxLength === 'number' ? s.maxLength : Infinity;
  while (out.length < min) out += 'x';
  return out.slice(0, max);
}

function numberFor(s: Schema, integer: boolean): number {
  let n = 0;
  if (typeof s.minimum === 'number') n = Math.max(n, s.minimum);
  if (typeof s.exclusiveMinimum === 'number') n = Math.max(n, s.exclusiveMinimum + (integer ? 1 : 0.5));
  if (typeof s.maximum === 'number' && n > s.maximum) n = s.maximum;
  if (typeof s.exclusiveMaximum === 'number' && n >= s.exclusiveMaximum) n = s.exclusiveMaximum - (integer ? 1 : 0.5);
  if (typeof s.minimum === 'number' && typeof s.maximum === 'number' && n < s.minimum) n = s.minimum;
  if (typeof s.multipleOf === 'number' && s.multipleOf > 0) n = Math.ceil(n / s.multipleOf) * s.multipleOf;
  return integer ? Math.ceil(n) : n;
}

function merge(root: Schema, parts: unknown[], depth: number): Schema {
  const out: Schema = { type: 'object', properties: {}, required: [] };
  for (const p of parts) {
    const s = isObj(p) && typeof p.$ref === 'string' ? resolveRef(root, p.$ref) : p;
    if (!isObj(s)) continue;
    if (depth < MAX_DEPTH && Array.isArray(s.allOf)) Object.assign(out, merge(root, s.allOf, depth + 1));
    for (const [k, v] of Object.entries(s)) {
      if (k === 'properties' && isObj(v)) Object.assign(out.properties as Schema, v);
      else if (k === 'required' && Array.isArray(v)) (out.required as unknown[]).push(...v);
      else if (k !== 'allOf') out[k] = v;
    }
  }
  return out;
}

function generate(root: Schema, schema: unknown, text: string, depth: number): unknown {
  if (!isObj(schema) || depth > MAX_DEPTH) return null;
  let s = schema;
  if (typeof s.$ref === 'string') {
    const target = resolveRef(root, s.$ref);
    return target ? generate(root, target, text, depth + 1) : null;
  }
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  if (Array.isArray(s.allOf)) s = merge(root, [s, ...s.allOf], depth);
  const options = Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : undefined;
  if (options) {
    const pick = options.find((o) => !(isObj(o) && o.type === 'null')) ?? options[0];
    return generate(root, pick, text, depth + 1);
  }
  let type = s.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? type[0];
  if (type === undefined) type = isObj(s.properties) ? 'object' : s.items !== undefined ? 'array' : 'string';
  switch (type) {
    case 'object': {
      const props = isObj(s.properties) ? s.properties : {};
      const out: Record<string, unknown> = {};
      for (const [key, sub] of Object.entries(props)) out[key] = generate(root, sub, text, depth + 1);
      return out;
    }
    case 'array': {
      const min = typeof s.minItems === 'number' ? s.minItems : 1;
      const max = typeof s.maxItems === 'number' ? s.maxItems : Infinity;
      const n = Math.min(Math.max(min, 1), max);
      const items = Array.isArray(s.prefixItems) ? s.prefixItems : undefined;
      return Array.from({ length: n }, (_, i) => generate(root, items?.[i] ?? s.items, text, depth + 1));
    }
    case 'integer':
      return numberFor(s, true);
    case 'number':
      return numberFor(s, false);
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return stringFor(s, text);
  }
}

/**
 * The smallest useful value that matches a JSON Schema: every declared property, one array item
 * (or `minItems`), the first `enum`/`anyOf`/`oneOf` option, numbers at their lower bound, strings set
 * to `text` (padded/clipped to `minLength`/`maxLength`, or a sample for known `format`s). Resolves
 * local `$ref`s (`#/$defs/...`, `#/definitions/...`). `pattern` is not honoured.
 *
 * @example
 * ```ts
 * valueFromSchema({ type: 'object', properties: { intent: { enum: ['refund', 'other'] }, n: { type: 'integer', minimum: 1 } } }, 'x');
 * // { intent: 'refund', n: 1 }
 * ```
 */
export function valueFromSchema(schema: unknown, text: string): unknown {
  return generate(isObj(schema) ? schema : {}, schema, text, 0);
}
