/**
 * Generates docs/configuration.md from the zod schema of the policy (`policySchema` of
 * `@llm-resilience/core`): every path, its type, its default and its description.
 *
 * Run it after changing `packages/core/src/policy/schema.ts` or the defaults in `definePolicy.ts`:
 *
 * ```sh
 * npx tsx scripts/gen-config-docs.ts          # writes docs/configuration.md when it changed
 * npx tsx scripts/gen-config-docs.ts --check  # exits 1 when docs/configuration.md is stale
 * ```
 *
 * Types and descriptions come from `policySchema.toJSONSchema({ io: 'input' })`; defaults come from
 * the schema and from what `definePolicy` really fills in (a probe policy is resolved and read back),
 * so the page cannot drift from the code: `packages/core/src/policy/configDocs.test.ts` regenerates
 * it in memory and fails when the file differs. The output is deterministic (no dates, no paths).
 * The engine options of `createResilience` (objects and functions, not policy) are the hand-written
 * `ENGINE_OPTIONS`; the same test fails when the engine knows an option they do not list.
 *
 * @example
 * ```ts
 * import { renderConfigDocs } from './gen-config-docs';
 * const markdown = renderConfigDocs();
 * ```
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MESSAGES, definePolicy, ERROR_KINDS, policySchema, type Policy, type StandardSchemaLike } from '@llm-resilience/core';

/** Where the generated page lives, relative to the repository root. */
export const CONFIG_DOCS_PATH = 'docs/configuration.md';

/** A JSON Schema node as `toJSONSchema` produces it (only the keys we read). */
interface Node {
  type?: string | string[];
  description?: string;
  properties?: Record<string, Node>;
  required?: string[];
  additionalProperties?: Node | boolean;
  propertyNames?: Node;
  items?: Node;
  anyOf?: Node[];
  oneOf?: Node[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  minItems?: number;
}

/** One row of a reference table. */
export interface ConfigRow {
  path: string;
  type: string;
  default: string;
  description: string;
}

// ------------------------------------------------------------------------------------------------
// Effective defaults: resolved from a probe policy, never typed in by hand where the code knows them.
// ------------------------------------------------------------------------------------------------

const anySchema: StandardSchemaLike = { '~standard': { version: 1, vendor: 'docs', validate: (value) => ({ value }) } };

function probe(): Policy {
  return definePolicy(
    {
      targets: {
        p1: { provider: 'openai', model: 'probe-1' },
        p2: { provider: 'azure', model: 'probe-2' },
        p3: { provider: 'anthropic', model: 'probe-3' },
        p4: { provider: 'google', model: 'probe-4' },
      },
      routes: {
        live: { chain: ['p1', 'p3'] },
        batch: { chain: ['p1'], priority: 'batch' },
        structured: { chain: ['p1'], output: anySchema },
      },
      limits: [
        { scope: ['user'], metric: 'requests', limit: 20, window: '1m' },
        { scope: ['model'], metric: 'concurrency', limit: 5 },
      ],
      budgets: [{ scope: ['tenant'], limitUsd: 50, window: '1d' }],
      trafficClasses: { custom: { priority: 50 } },
    },
    { onWarning: () => undefined },
  );
}

/** `120000` -> `2 min`; exact units only. */
export function formatMs(ms: number): string {
  const units: Array<[number, string]> = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1000, 's'],
  ];
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`;
  return `${ms} ms`;
}

const code = (v: unknown): string => `\`${typeof v === 'string' ? `'${v}'` : JSON.stringify(v)}\``;
const list = (vs: readonly unknown[]): string => vs.map(code).join(', ');

function effectiveDefaults(): Record<string, string> {
  const p = probe();
  const live = p.routes.live!;
  const batch = p.routes.batch!;
  const structured = p.routes.structured!;
  const openaiTokenizer = Object.values(p.targets)
    .filter((t) => t.tokenizer === 'openai')
    .map((t) => `\`${t.provider}\``);
  const offset = live.retry.maxAttempts - live.chain.length;
  const attempts =
    batch.retry.maxAttempts - batch.chain.length === offset ? `chain length + ${offset}` : `${live.retry.maxAttempts}`;
  const perKind = ERROR_KINDS.filter((k) => live.retry.perKind[k] > 0)
    .map((k) => `${k}: ${live.retry.perKind[k]}`)
    .join(', ');
  const custom = p.trafficClasses.custom!;
  const builtIn = p.trafficClasses.batch!;
  const fromBase = (value: unknown, batchValue: unknown): string =>
    value === batchValue ? "built-in classes: see below; new classes: `batch`'s" : String(value);
  const br = p.breaker;
  return {
    'targets.<name>.tokenizer': `${code('openai')} for provider ${openaiTokenizer.join(' or ')}, else ${code('heuristic')}`,
    'targets.<name>.meta': '`{}`',
    'targets.<name>.dataClasses': 'none: only requests without a `dataClass`',
    'targets.<name>.price': 'none: costs 0',
    'targets.<name>.timeout': 'route `timeout`, else policy `timeout`',
    'routes.<name>.priority': code(live.priority),
    'routes.<name>.fallbackOn': list([...live.fallbackOn]),
    'routes.<name>.timeout': 'policy `timeout`',
    'routes.<name>.onInvalidOutput': code(structured.onInvalidOutput),
    'routes.<name>.onExhausted': code(live.onExhausted),
    'routes.<name>.audience': code(live.audience),
    'routes.<name>.messages': 'policy `messages`',
    'routes.<name>.retry': 'policy `retry`, field by field',
    'retry.maxAttempts': attempts,
    'retry.perKind': `${perKind}; every other kind 0`,
    'retry.backoff': `\`{ strategy: '${live.retry.backoff.strategy}' }\``,
    'retry.backoff.base': '500 ms',
    'retry.backoff.max': '30 s',
    'retry.backoff.delay': '1 s',
    'retry.maxHint': `${formatMs(live.retry.maxHintMs)} (\`live\` routes), ${formatMs(batch.retry.maxHintMs)} (others)`,
    'retry.maxLimiterWait': `${formatMs(live.retry.maxLimiterWaitMs)} (\`live\` routes), ${formatMs(batch.retry.maxLimiterWaitMs)} (others)`,
    'limits[].id': `\`<scope>:<metric>:<window ms>\`, e.g. ${code(p.limits[0]!.id)}, ${code(p.limits[1]!.id)}`,
    'limits[].burst': '`limit` (one window\'s worth at once)',
    'limits[].onFailure': code('requests'),
    'limits[].match': 'none: every request',
    'budgets[].id': `\`budget:<scope>:<window ms>\`, e.g. ${code(p.budgets[0]!.id)}`,
    'budgets[].match': 'none: every request',
    'breaker.window': formatMs(br.windowMs),
    'breaker.errorRate': String(br.errorRate),
    'breaker.minimumCalls': String(br.minimumCalls),
    'breaker.consecutiveFailures': String(br.consecutiveFailures),
    'breaker.slowCall': formatMs(br.slowCallMs),
    'breaker.slowCallRate': String(br.slowCallRate),
    'breaker.openFor': formatMs(br.openForMs),
    'breaker.halfOpenProbes': String(br.halfOpenProbes),
    'breaker.rampUp': formatMs(br.rampUpMs),
    'breaker.rateLimitPauseAfter': String(br.rateLimitPauseAfter),
    'breaker.failOn': list([...br.failOn]),
    'trafficClasses.<name>.reserve': fromBase(custom.reserve, builtIn.reserve),
    'trafficClasses.<name>.whenLimited': fromBase(custom.whenLimited, builtIn.whenLimited),
    'trafficClasses.<name>.maxWait': fromBase(custom.maxWaitMs, builtIn.maxWaitMs),
    'trafficClasses.<name>.maxQueue': fromBase(custom.maxQueue, builtIn.maxQueue),
    timeout: formatMs(p.defaultTimeoutMs),
    recordContent: String(p.recordContent),
    targets: '`{}`',
    limits: '`[]`',
    budgets: '`[]`',
    'messages.internal': `"${DEFAULT_MESSAGES.internal}"`,
    'messages.customer': `"${DEFAULT_MESSAGES.customer}"`,
    'messages.queued': `"${DEFAULT_MESSAGES.queued}"`,
  };
}

// ------------------------------------------------------------------------------------------------
// Walking the JSON Schema.
// ------------------------------------------------------------------------------------------------

function isDuration(n: Node): boolean {
  return Array.isArray(n.type) && n.type.length === 2 && n.type.includes('number') && n.type.includes('string');
}

function numberType(n: Node, name: string): string {
  const parts: string[] = [];
  if (n.exclusiveMinimum !== undefined) parts.push(`> ${n.exclusiveMinimum}`);
  else if (n.minimum !== undefined && n.minimum > -Number.MAX_SAFE_INTEGER) parts.push(`≥ ${n.minimum}`);
  if (n.maximum !== undefined && n.maximum < Number.MAX_SAFE_INTEGER) parts.push(`≤ ${n.maximum}`);
  return parts.length > 0 ? `${name} ${parts.join(', ')}` : name;
}

const SCOPE_DIMENSIONS = ['user', 'team', 'tenant', 'environment', 'route', 'provider', 'model'];

function sameSet(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v) => b.includes(v));
}

/** Names for the enums that recur, defined once in the page's introduction. */
function enumName(values: readonly unknown[]): string | undefined {
  if (sameSet(values, ERROR_KINDS)) return 'error kind';
  if (sameSet(values, SCOPE_DIMENSIONS)) return 'dimension';
  return undefined;
}

/** A short type for a node: `duration`, `'a' \| 'b'`, `dimension[]`, `record (name → object)`... */
export function typeOf(n: Node): string {
  if (n.const !== undefined) return code(n.const);
  if (n.enum) return enumName(n.enum) ?? n.enum.map(code).join(' \\| ');
  if (isDuration(n)) return 'duration';
  if (n.oneOf?.every((b) => b.type === 'object' && b.properties?.strategy)) return 'object (by `strategy`)';
  const union = n.anyOf ?? n.oneOf;
  if (union) return union.map((u) => (u.type === 'object' ? 'object' : typeOf(u))).join(' \\| ');
  switch (n.type) {
    case 'string':
      return 'string';
    case 'number':
      return numberType(n, 'number');
    case 'integer':
      return numberType(n, 'integer');
    case 'boolean':
      return 'boolean';
    case 'array': {
      const item = n.items ? typeOf(n.items) : 'unknown';
      const t = /[ |]/.test(item) ? `(${item})[]` : `${item}[]`;
      return n.minItems ? `${t}, at least ${n.minItems}` : t;
    }
    case 'object': {
      if (n.properties) return 'object';
      const keys = n.propertyNames?.enum ? (enumName(n.propertyNames.enum) ?? 'key') : 'name';
      const value = typeof n.additionalProperties === 'object' ? typeOf(n.additionalProperties) : 'unknown';
      return `record (${keys} → ${value})`;
    }
    default:
      // `z.custom` (the Standard Schema of `output`) and `z.unknown()` have no JSON Schema type.
      return 'unknown';
  }
}

/** Where a sub-object is documented in its own section instead of inline. */
const LINKED: Record<string, { section: string; anchor: string }> = {
  'routes.<name>.retry': { section: '`retry`', anchor: 'retry' },
  'routes.<name>.messages': { section: '`messages`', anchor: 'messages' },
  'routes.<name>.chain[]': { section: '`targets.<name>`', anchor: 'targets' },
};

function oneLine(s: string | undefined): string {
  return (s ?? '').replace(/\s+/g, ' ').replace(/\|/g, '\\|').trim();
}

/**
 * Rows for `node` and everything under it, `path` being its own path. Records add `.<name>`, arrays
 * `[]`; the branches of a discriminated union (backoff) are merged, each field saying which branch
 * it belongs to.
 */
export function rowsOf(node: Node, path: string, required: boolean, defaults: Record<string, string>): ConfigRow[] {
  const rows: ConfigRow[] = [];
  const generic = path.replace(/^routes\.<name>\.retry/, 'retry').replace(/^routes\.<name>\.messages/, 'messages');
  const dflt = defaults[generic] ?? defaults[path] ?? (node.default !== undefined ? code(node.default) : required ? '**required**' : '');
  const link = LINKED[path];
  const type = typeOf(node);
  rows.push({
    path,
    type: type === 'unknown' && path.endsWith('.output') ? 'Standard Schema' : type,
    default: dflt,
    description: oneLine(node.description) + (link ? ` Fields: see [${link.section}](#${link.anchor}).` : ''),
  });
  if (link) return rows;
  if (node.type === 'object' && node.properties) {
    for (const [key, child] of Object.entries(node.properties)) {
      rows.push(...rowsOf(child, `${path}.${key}`, node.required?.includes(key) ?? false, defaults));
    }
  } else if (node.type === 'object' && typeof node.additionalProperties === 'object' && node.additionalProperties.properties) {
    const child = node.additionalProperties;
    for (const [key, grand] of Object.entries(child.properties ?? {})) {
      rows.push(...rowsOf(grand, `${path}.<name>.${key}`, child.required?.includes(key) ?? false, defaults));
    }
  } else if (node.type === 'array' && node.items) {
    const items = node.items;
    if (items.type === 'object' && items.properties) {
      for (const [key, child] of Object.entries(items.properties)) {
        rows.push(...rowsOf(child, `${path}[].${key}`, items.required?.includes(key) ?? false, defaults));
      }
    } else if (items.anyOf?.some((b) => b.type === 'object')) {
      const link2 = LINKED[`${path}[]`];
      if (link2) rows[0]!.description += ` Inline targets take the fields of [${link2.section}](#${link2.anchor}).`;
    }
  } else if (node.oneOf?.every((b) => b.type === 'object' && b.properties)) {
    const fields = new Map<string, { node: Node; branches: string[] }>();
    for (const branch of node.oneOf) {
      const tag = String(branch.properties?.strategy?.const ?? '');
      for (const [key, child] of Object.entries(branch.properties ?? {})) {
        const f = fields.get(key) ?? { node: child, branches: [] };
        f.branches.push(tag);
        fields.set(key, f);
      }
    }
    for (const [key, f] of fields) {
      if (key === 'strategy') {
        rows.push({
          path: `${path}.strategy`,
          type: node.oneOf.map((b) => code(b.properties?.strategy?.const)).join(' \\| '),
          default: '**required**',
          description: node.oneOf.map((b) => `${code(b.properties?.strategy?.const)}: ${oneLine(b.properties?.strategy?.description)}`).join(' '),
        });
        continue;
      }
      const sub = rowsOf(f.node, `${path}.${key}`, false, defaults);
      sub[0]!.description = `(${f.branches.map((b) => `\`${b}\``).join(', ')}) ${sub[0]!.description}`;
      rows.push(...sub);
    }
  }
  return rows;
}

// ------------------------------------------------------------------------------------------------
// The page.
// ------------------------------------------------------------------------------------------------

interface Section {
  key: string;
  title: string;
  intro: string;
}

const SECTIONS: Section[] = [
  {
    key: 'targets',
    title: '`targets`',
    intro:
      'A target is one provider + model. Routes name targets in their `chain` (or write them inline). See [fallbacks](concepts/fallbacks.md), [data classes](concepts/data-classes.md) and [budgets and cost](concepts/budgets-and-cost.md).',
  },
  {
    key: 'routes',
    title: '`routes`',
    intro:
      'A route is a task type (`support_reply`, `classification`, ...): its ordered fallback chain and how it behaves under pressure. See [fallbacks](concepts/fallbacks.md), [validation](concepts/validation.md) and [observability](concepts/observability.md).',
  },
  {
    key: 'limits',
    title: '`limits`',
    intro:
      'Limit rules, enforced together with reserve-then-settle on GCRA buckets. Rules whose scope names `provider` or `model` are reserved per attempt, the others once per request. See [limits](concepts/limits.md).',
  },
  {
    key: 'budgets',
    title: '`budgets`',
    intro: 'Spend caps in USD on fixed windows, enforced by reserving the worst-case cost before each call. See [budgets and cost](concepts/budgets-and-cost.md).',
  },
  {
    key: 'retry',
    title: '`retry`',
    intro:
      'Policy-wide retry rules. `routes.<name>.retry` takes the same fields and overrides these field by field. See [retries](concepts/retries.md).',
  },
  {
    key: 'breaker',
    title: '`breaker`',
    intro: 'Thresholds of every circuit breaker (one per target and one per provider). See [circuit breakers](concepts/circuit-breakers.md).',
  },
  {
    key: 'trafficClasses',
    title: '`trafficClasses`',
    intro: 'Traffic classes for the priority scheduler. See [scheduling](concepts/scheduling.md).',
  },
  {
    key: 'messages',
    title: '`messages`',
    intro:
      "Messages for people, per audience (the seed's step 10). `routes.<name>.messages` takes the same fields. See [observability](concepts/observability.md#user-facing-messages).",
  },
];

/**
 * The options of `createResilience(policy, options)`: not part of the policy (they are objects and
 * functions, checked by `checkResilienceOptions`, not by the schema), so written here by hand.
 * `configDocs.test.ts` fails when an option the engine knows is missing from this list.
 */
export const ENGINE_OPTIONS: readonly ConfigRow[] = [
  { path: 'clock', type: '`Clock` (`now()`, `sleep()`)', default: '`systemClock`', description: 'Time for everything time-based: windows, backoff, timeouts, breakers, records. Tests pass a `ManualClock`.' },
  { path: 'store', type: '`LimiterStore`', default: 'a `MemoryLimiterStore` on `clock`', description: 'Where limit and budget buckets live; `RedisLimiterStore` (`@llm-resilience/redis`) shares them across processes.' },
  { path: 'tokenizer', type: '`Tokenizer` (`count(text, model)`)', default: 'per target (`targets.<name>.tokenizer`)', description: 'Counts every prompt, for every target, instead of the built-in tokenizers. A throw or an invalid count falls back to the heuristic (logged once).' },
  { path: 'logger', type: '`Logger` (`debug`, `info`, `warn`, `error`, each optional)', default: '', description: 'Engine diagnostics, never prompt text (see [observability](concepts/observability.md#privacy)). Guarded: a level that throws is ignored. Its string fields are redacted like provider text (the built-in key formats, and `redact`).' },
  { path: 'random', type: '`() => number`', default: '`Math.random`', description: 'Random source for backoff jitter, the spread of a retry after a quota reset and breaker ramp-up admission; a draw outside [0, 1) or a throw is replaced by `Math.random()`.' },
  { path: 'usage', type: '`UsageExtractor`', default: '`extractUsage`', description: "Reads token usage from what your call returns (OpenAI, Anthropic, LangChain shapes built in)." },
  { path: 'text', type: '`TextExtractor`', default: '`extractText`', description: "Reads the reply's text out of what your call returns, for output validation." },
  { path: 'retryBudget', type: '`{ maxTokens?, tokenRatio? }` \\| `false`', default: '`{ maxTokens: 20, tokenRatio: 0.2 }`', description: 'Retry budget per provider (see [retries](concepts/retries.md)); `false` disables it. Each field is a finite number > 0; an unknown key (a misspelt `maxToken`) is an error.' },
  { path: 'metrics', type: '`Metrics`', default: '`noopMetrics`', description: 'Metrics sink: `PrometheusMetrics`, `OpenTelemetryMetrics`, `combineMetrics(...)`, or your own object with at least one of `request`, `attempt`, `breaker`, `queue`, `lateUsage` (a missing one is a no-op; a sink with none, e.g. a misspelt `requests`, or one of them that is not a function, is an error; other members are allowed). Guarded: a method that throws never fails a request.' },
  { path: 'defaultMaxOutputTokens', type: 'number > 0', default: '1024', description: 'Output-token estimate when neither the request nor the target gives one.' },
  { path: 'breakerSync', type: '`BreakerStateSync` (`publish()`)', default: '', description: 'Shares breaker state with other processes (`@llm-resilience/redis`).' },
  { path: 'pacingSync', type: '`PacingStateSync` (`publish()`)', default: '', description: "Shares providers' remaining-quota state with other processes, for proactive pacing." },
  {
    path: 'redact',
    type: 'object',
    default: '',
    description:
      "Your own credentials and patterns, cut out of provider and error text before it reaches `alert` events, error messages, records and log fields, besides the key formats always cut (`sk-...`, `Bearer ...`, ...; see [errors](concepts/errors.md)). For keys the engine cannot recognise: an Azure key, a gateway token. Once set, the `cause` of the errors the engine throws (and `last.cause` / `classified.cause`) is a redacted stand-in for the error your call threw (same `name`, redacted message and stack, `status` / `code` / `type` / request id; no headers, bodies or request options). See [your own keys](concepts/observability.md#your-own-keys-redact).",
  },
  {
    path: 'redact.secrets',
    type: 'string[] (each at least 8 characters) \\| `() => string \\| Iterable<string>`',
    default: '',
    description:
      'Strings replaced by `[redacted]` wherever they occur, exactly (case-sensitive). An array is checked at start-up (a shorter string, or `undefined` from an unset variable, fails `createResilience`) and read once; a function is called each time text is redacted (rotating or per-tenant keys) and returns one key (a string, cut whole) or an iterable of them; what it returns under 8 characters is skipped, and if it throws the whole text becomes `[redacted: redact.secrets() threw]`.',
  },
  { path: 'redact.patterns', type: 'RegExp[]', default: '', description: 'Regular expressions whose matches are replaced by `[redacted]` (every match: `g` is implied), after the secrets and the built-in key formats.' },
];

function table(rows: readonly ConfigRow[]): string {
  const out = ['| Path | Type | Default | Description |', '|---|---|---|---|'];
  for (const r of rows) out.push(`| \`${r.path}\` | ${r.type} | ${r.default} | ${r.description} |`);
  return out.join('\n');
}

function builtInClasses(p: Policy): string {
  const out = ['| Class | `priority` | `reserve` | `whenLimited` | `maxWait` | `maxQueue` |', '|---|---|---|---|---|---|'];
  for (const name of ['live', 'batch', 'experiment']) {
    const c = p.trafficClasses[name]!;
    out.push(`| \`${name}\` | ${c.priority} | ${c.reserve} | ${code(c.whenLimited)} | ${formatMs(c.maxWaitMs)} | ${c.maxQueue} |`);
  }
  return out.join('\n');
}

/**
 * The whole of docs/configuration.md, deterministic.
 *
 * @example
 * ```ts
 * writeFileSync('docs/configuration.md', renderConfigDocs());
 * ```
 */
export function renderConfigDocs(): string {
  const schema = policySchema.toJSONSchema({ io: 'input', unrepresentable: 'any' }) as unknown as Node;
  const defaults = effectiveDefaults();
  const props = schema.properties ?? {};
  const top: ConfigRow[] = Object.entries(props).map(([key, node]) => ({
    path: key,
    type: typeOf(node),
    default: defaults[key] ?? (schema.required?.includes(key) ? '**required**' : ''),
    description:
      oneLine(node.description) +
      (SECTIONS.some((s) => s.key === key) ? ` See [below](#${key.toLowerCase()}).` : ''),
  }));
  const parts: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated by scripts/gen-config-docs.ts from policySchema (packages/core/src/policy/schema.ts) and the',
    '     defaults of definePolicy. Do not edit by hand: run `npx tsx scripts/gen-config-docs.ts`.',
    '     packages/core/src/policy/configDocs.test.ts fails when this file is out of date. -->',
    '',
    'Everything `definePolicy` (and `createResilience`, which calls it for raw config) accepts. Invalid',
    'configuration throws a `PolicyConfigError` (`ERR_LLMR_INVALID_POLICY`) at start-up listing every bad',
    "path and what was expected, e.g. `routes.support_reply.chain[1].model: expected string, got undefined`.",
    "Every object is strict: an unknown key is an error, e.g. `limits[0]: unexpected key(s) 'foo'`.",
    '',
    'How to read the tables:',
    '',
    '- `<name>` stands for a key you choose (a target, route or traffic class name); `[]` for any item of a list.',
    '- **duration**: milliseconds as a number, or a string `<number><unit>` with unit `ms`, `s`, `m`, `h` or `d`',
    "  (`250`, `'500ms'`, `'1.5s'`, `'1m'`, `'1h'`, `'1d'`). Each field states its own bounds when it has some.",
    '- **dimension**: one of `user`, `team`, `tenant`, `environment`, `route`, `provider`, `model` (the values come',
    '  from `request.identity`, the route, and the target being tried).',
    '- **Default** is what `definePolicy` fills in when the field is omitted (read from the code when this',
    '  page was generated). Empty means "absent": the feature is off.',
    '- **error kind**: a kind of the [taxonomy](concepts/errors.md):',
    `  ${ERROR_KINDS.map((k) => `\`${k}\``).join(', ')}.`,
    '',
    '## Top level',
    '',
    table(top),
    '',
  ];
  for (const s of SECTIONS) {
    const node = props[s.key];
    if (!node) continue;
    parts.push(`## ${s.title}`, '', s.intro, '');
    const rows = rowsOf(node, s.key, schema.required?.includes(s.key) ?? false, defaults).slice(1);
    parts.push(table(rows), '');
    if (s.key === 'trafficClasses') {
      parts.push(
        'Built-in classes (always present; an entry with the same name in `trafficClasses` replaces the fields it sets,',
        'and a new class takes the fields it omits from `batch`):',
        '',
        builtInClasses(probe()),
        '',
      );
    }
  }
  parts.push(
    '## Engine options',
    '',
    'The second argument of `createResilience(policy, options)`, for what is not policy: clock, stores, sinks,',
    'extractors, redaction. A wrong one fails at start-up with a `ResilienceError` (`ERR_LLMR_INVALID_OPTIONS`)',
    'listing every bad path and what was expected (never the value), e.g.',
    '`options.redact.secrets[1]: expected a string of at least 8 characters (shorter ones would shred ordinary text), got a string of 5 characters`;',
    'an unknown option is an error too, and so is an unknown key of `retryBudget` or `redact` (e.g. `options.retryBudget.maxToken: unknown option`).',
    '',
    '```ts',
    'const engine = createResilience(policy, {',
    '  store: new RedisLimiterStore({ redis }),',
    '  logger,',
    '  metrics: new PrometheusMetrics(),',
    '  redact: { secrets: [process.env.AZURE_OPENAI_KEY!, process.env.GATEWAY_TOKEN!] },',
    '});',
    '```',
    '',
    table(ENGINE_OPTIONS),
    '',
  );
  return parts.join('\n');
}

function main(): void {
  const root = join(__dirname, '..');
  const file = join(root, CONFIG_DOCS_PATH);
  const next = renderConfigDocs();
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (process.argv.includes('--check')) {
    if (current !== next) {
      console.error(`${CONFIG_DOCS_PATH} is out of date: run npx tsx scripts/gen-config-docs.ts`);
      process.exit(1);
    }
    console.log(`${CONFIG_DOCS_PATH} is up to date`);
    return;
  }
  if (current === next) {
    console.log(`${CONFIG_DOCS_PATH} is up to date`);
    return;
  }
  writeFileSync(file, next);
  console.log(`wrote ${CONFIG_DOCS_PATH}`);
}

if (process.argv[1] !== undefined && /gen-config-docs\.ts$/.test(process.argv[1])) main();
