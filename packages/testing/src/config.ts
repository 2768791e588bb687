import { FAULT_KINDS, STREAM_ERROR_TYPES } from './faults';
import { MAX_SLEEP_MS } from './sse';
import type { FakeModelConfig, FakeProviderConfig, FaultRule } from './types';

/**
 * One problem in a scenario: where (`models["fast-a"].limits.rpm`) and what was expected.
 *
 * @example
 * ```ts
 * const issue: ConfigIssue = { path: 'faults[0].kind', message: 'expected one of rate_limit, ...' };
 * ```
 */
export interface ConfigIssue {
  path: string;
  message: string;
}

/**
 * Thrown when a fake-provider scenario is invalid; lists every problem with its path.
 *
 * @example
 * ```ts
 * try { validateConfig(json); } catch (e) { if (e instanceof FakeProviderConfigError) console.error(e.issues); }
 * ```
 */
export class FakeProviderConfigError extends Error {
  readonly kind = 'invalid_request' as const;
  readonly code = 'ERR_LLMR_FAKE_PROVIDER_CONFIG';
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super(
      `Invalid fake-provider scenario (${issues.length} problem${issues.length === 1 ? '' : 's'}); fix these and start again:\n` +
        issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n'),
    );
    this.name = 'FakeProviderConfigError';
    this.issues = issues;
  }
}

type Obj = Record<string, unknown>;

class Checker {
  readonly issues: ConfigIssue[] = [];

  fail(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  object(v: unknown, path: string, allowed: readonly string[]): Obj | undefined {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.fail(path, `expected an object, got ${describe(v)}`);
      return undefined;
    }
    for (const key of Object.keys(v)) {
      if (!allowed.includes(key)) this.fail(`${path}.${key}`, `unknown key; allowed keys: ${allowed.join(', ')}`);
    }
    return v as Obj;
  }

  number(o: Obj, key: string, path: string, opts: { required?: boolean; int?: boolean; min?: number; max?: number; positive?: boolean } = {}): void {
    const v = o[key];
    const p = `${path}.${key}`;
    if (v === undefined) {
      if (opts.required) this.fail(p, 'required');
      return;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fail(p, `expected a number, got ${describe(v)}`);
    if (opts.int && !Number.isInteger(v)) return this.fail(p, `expected an integer, got ${v}`);
    if (opts.positive && v <= 0) return this.fail(p, `expected a number > 0, got ${v}`);
    if (opts.min !== undefined && v < opts.min) return this.fail(p, `expected a number >= ${opts.min}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) return this.fail(p, `expected a number <= ${opts.max}, got ${v}`);
  }

  /** A delay of one `setTimeout`: a number of ms from 0 to 2^31 - 1 (Node fires a longer timer after 1 ms). */
  timerMs(o: Obj, key: string, path: string, opts: { required?: boolean; positive?: boolean } = {}): void {
    const before = this.issues.length;
    this.number(o, key, path, opts.positive ? opts : { ...opts, min: 0 });
    const v = o[key];
    if (this.issues.length === before && typeof v === 'number' && v > MAX_SLEEP_MS) {
      this.fail(`${path}.${key}`, `expected a number of ms <= ${MAX_SLEEP_MS} (the longest timer Node keeps; a longer one fires after 1 ms), got ${v}`);
    }
  }

  oneOf(o: Obj, key: string, path: string, values: readonly string[], required = false): void {
    const v = o[key];
    if (v === undefined) {
      if (required) this.fail(`${path}.${key}`, `required; one of ${values.join(', ')}`);
      return;
    }
    if (typeof v !== 'string' || !values.includes(v)) {
      this.fail(`${path}.${key}`, `expected one of ${values.join(', ')}, got ${describe(v)}`);
    }
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

const MODEL_KEYS = ['provider', 'contextWindow', 'maxOutputTokens', 'replyTokens', 'limits', 'latency'] as const;
const LIMIT_KEYS = ['rpm', 'tpm', 'itpm', 'otpm', 'rpd', 'concurrency', 'algorithm'] as const;
const LATENCY_KEYS = ['firstTokenMs', 'perTokenMs', 'jitterMs', 'distribution'] as const;
const FAULT_KEYS = ['kind', 'model', 'from', 'to', 'probability', 'every', 'count', 'retryAfterSeconds', 'delayMs', 'perTokenMs', 'afterChunks', 'variant', 'errorType'] as const;
const ROOT_KEYS = ['seed', 'apiKey', 'models', 'defaultModel', 'faults'] as const;

function checkModel(c: Checker, v: unknown, path: string): void {
  const m = c.object(v, path, MODEL_KEYS);
  if (!m) return;
  c.oneOf(m, 'provider', path, ['openai', 'anthropic']);
  c.number(m, 'contextWindow', path, { required: true, int: true, positive: true });
  c.number(m, 'maxOutputTokens', path, { int: true, positive: true });
  c.number(m, 'replyTokens', path, { int: true, positive: true });
  if (m.limits !== undefined) {
    const lp = `${path}.limits`;
    const l = c.object(m.limits, lp, LIMIT_KEYS);
    if (l) {
      for (const k of ['rpm', 'tpm', 'itpm', 'otpm', 'rpd', 'concurrency']) c.number(l, k, lp, { int: true, positive: true });
      c.oneOf(l, 'algorithm', lp, ['window', 'bucket']);
    }
  }
  if (m.latency !== undefined) {
    const lp = `${path}.latency`;
    const l = c.object(m.latency, lp, LATENCY_KEYS);
    if (l) {
      for (const k of ['firstTokenMs', 'perTokenMs', 'jitterMs']) c.timerMs(l, k, lp);
      // Time to first token is firstTokenMs plus up to jitterMs, waited in one timer.
      const first = l.firstTokenMs;
      const jitter = l.jitterMs;
      if (typeof first === 'number' && typeof jitter === 'number' && first <= MAX_SLEEP_MS && jitter <= MAX_SLEEP_MS && first + jitter > MAX_SLEEP_MS) {
        c.fail(`${lp}.jitterMs`, `expected firstTokenMs + jitterMs <= ${MAX_SLEEP_MS} (one timer; a longer one fires after 1 ms), got ${first} + ${jitter}`);
      }
      if (l.distribution !== undefined) {
        const dp = `${lp}.distribution`;
        const d = c.object(l.distribution, dp, ['p50', 'p95']);
        if (d) {
          c.timerMs(d, 'p50', dp, { required: true, positive: true });
          c.timerMs(d, 'p95', dp, { required: true, positive: true });
          if (typeof d.p50 === 'number' && typeof d.p95 === 'number' && d.p95 < d.p50) c.fail(`${dp}.p95`, `expected p95 >= p50 (${d.p50}), got ${d.p95}`);
        }
        if (l.firstTokenMs !== undefined) c.fail(`${lp}.firstTokenMs`, 'use either firstTokenMs (+ jitterMs) or distribution, not both');
      }
    }
  }
}

function checkFault(c: Checker, v: unknown, path: string, models: Set<string> | undefined): void {
  const f = c.object(v, path, FAULT_KEYS);
  if (!f) return;
  c.oneOf(f, 'kind', path, FAULT_KINDS, true);
  if (f.model !== undefined) {
    if (typeof f.model !== 'string') c.fail(`${path}.model`, `expected a model name or "*", got ${describe(f.model)}`);
    else if (models && f.model !== '*' && !models.has(f.model)) {
      c.fail(`${path}.model`, `unknown model ${JSON.stringify(f.model)}; configured: ${[...models].join(', ') || '(none)'} (or "*")`);
    }
  }
  c.number(f, 'from', path, { min: 0 });
  c.number(f, 'to', path, { min: 0 });
  if (typeof f.from === 'number' && typeof f.to === 'number' && f.to <= f.from) c.fail(`${path}.to`, `expected to > from (${f.from}), got ${f.to}`);
  c.number(f, 'probability', path, { min: 0, max: 1 });
  c.number(f, 'every', path, { int: true, positive: true });
  c.number(f, 'count', path, { int: true, positive: true });
  c.number(f, 'retryAfterSeconds', path, { min: 0 });
  c.timerMs(f, 'delayMs', path);
  c.timerMs(f, 'perTokenMs', path);
  c.number(f, 'afterChunks', path, { int: true, min: 0 });
  c.oneOf(f, 'variant', path, ['openai', 'azure']);
  c.oneOf(f, 'errorType', path, STREAM_ERROR_TYPES);
}

/**
 * Checks a fault list against a configuration's models; throws {@link FakeProviderConfigError}.
 *
 * @example
 * ```ts
 * const rules = validateFaults([{ kind: 'hang', model: 'fast-a' }], config);
 * ```
 */
export function validateFaults(faults: unknown, config: FakeProviderConfig, path = 'faults'): FaultRule[] {
  const c = new Checker();
  const models = config.defaultModel ? undefined : new Set(Object.keys(config.models));
  if (!Array.isArray(faults)) c.fail(path, `expected an array, got ${describe(faults)}`);
  else faults.forEach((f, i) => checkFault(c, f, `${path}[${i}]`, models));
  if (c.issues.length) throw new FakeProviderConfigError(c.issues);
  return structuredClone(faults as FaultRule[]);
}

/**
 * Validates a scenario (e.g. parsed from JSON) and returns a typed copy. Every problem is reported
 * at once, each with its path; throws {@link FakeProviderConfigError}.
 *
 * @example
 * ```ts
 * const config = validateConfig(JSON.parse(fs.readFileSync('scenario.json', 'utf8')));
 * ```
 */
export function validateConfig(input: unknown): FakeProviderConfig {
  const c = new Checker();
  const root = c.object(input, 'config', ROOT_KEYS);
  if (!root) throw new FakeProviderConfigError(c.issues);
  c.number(root, 'seed', 'config', { int: true });
  if (root.apiKey !== undefined && (typeof root.apiKey !== 'string' || root.apiKey === '')) {
    c.fail('config.apiKey', 'expected a non-empty string');
  }
  let names: Set<string> | undefined = new Set();
  if (root.models === undefined) c.fail('config.models', 'required: an object of model name -> settings');
  else if (typeof root.models !== 'object' || root.models === null || Array.isArray(root.models)) {
    c.fail('config.models', `expected an object of model name -> settings, got ${describe(root.models)}`);
  } else {
    for (const [name, m] of Object.entries(root.models)) {
      names.add(name);
      checkModel(c, m, `config.models[${JSON.stringify(name)}]`);
    }
  }
  if (root.defaultModel !== undefined) {
    checkModel(c, root.defaultModel, 'config.defaultModel');
    names = undefined;
  }
  if (root.faults !== undefined) {
    if (!Array.isArray(root.faults)) c.fail('config.faults', `expected an array, got ${describe(root.faults)}`);
    else root.faults.forEach((f, i) => checkFault(c, f, `config.faults[${i}]`, names));
  }
  if (c.issues.length) throw new FakeProviderConfigError(c.issues);
  const out = structuredClone(input) as FakeProviderConfig;
  out.faults ??= [];
  return out;
}

/**
 * The settings for `name`, falling back to `defaultModel`; undefined when the model is unknown.
 *
 * @example
 * ```ts
 * const settings = modelSettings(config, 'fast-a'); // undefined: answer 404
 * ```
 */
export function modelSettings(config: FakeProviderConfig, name: string): FakeModelConfig | undefined {
  return Object.hasOwn(config.models, name) ? config.models[name] : config.defaultModel;
}
