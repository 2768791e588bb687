import { Runnable } from '@langchain/core/runnables';
import type { Policy, Resilience } from '@llm-resilience/core';
import { closestName } from './closestName';
import type { InnerRetriesCheck, ResilienceCallOptions, WithResilienceOptions } from './types';

/**
 * Every option `withResilience` knows (the keys of {@link WithResilienceOptions}); any other key is
 * reported as unknown.
 *
 * @example
 * ```ts
 * OPTION_NAMES.includes('fallbacks'); // true
 * ```
 */
export const OPTION_NAMES = [
  'engine',
  'route',
  'targets',
  'fallbacks',
  'identity',
  'priority',
  'batchPriority',
  'dataClass',
  'output',
  'maxOutputTokens',
  'audience',
  'estimateInput',
  'maxConcurrency',
  'innerRetries',
  'name',
] as const satisfies ReadonlyArray<keyof WithResilienceOptions>;

/**
 * The values of the `innerRetries` option.
 *
 * @example
 * ```ts
 * INNER_RETRIES_CHECKS.includes('warn'); // true
 * ```
 */
export const INNER_RETRIES_CHECKS: readonly InnerRetriesCheck[] = ['warn', 'error', 'ignore'];

const IDENTITY_FIELDS = ['user', 'team', 'tenant', 'environment'];
/** Options of a single call, passed as `resilience` in the call options rather than to `withResilience`. */
const CALL_ONLY = ['requestId', 'deadline'];

/** A value for a message: strings quoted (and shortened), numbers as they are, objects by their type. */
function shown(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`;
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' && v !== null) return Runnable.isRunnable(v) ? 'a Runnable' : 'an object';
  return String(v);
}

/** The type of a value, never its contents (identity values are user ids). */
function typeOf(v: unknown): string {
  return typeof v === 'string' ? 'a string' : shown(v);
}

const quoted = (names: readonly string[]): string => names.map((n) => `'${n}'`).join(', ');
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isRunnable = (v: unknown): boolean => typeof v === 'object' && v !== null && Runnable.isRunnable(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/**
 * The policy of `engine` when it is an engine (`createResilience(policy)`: an `execute` function and
 * a `policy`), else `undefined`.
 *
 * @example
 * ```ts
 * policyOf(engine)?.routes.chat; // the route
 * policyOf({}); // undefined
 * ```
 */
export function policyOf(engine: unknown): Policy | undefined {
  const e = engine as Partial<Resilience> | null | undefined;
  return typeof e?.execute === 'function' && typeof e.policy === 'object' && e.policy !== null ? e.policy : undefined;
}

function engineProblem(engine: unknown): string {
  const got = typeof engine === 'object' && engine !== null ? 'an object without execute() and policy' : shown(engine);
  return `engine: expected a Resilience engine (the result of createResilience(policy)), got ${got}`;
}

function unknownKeyProblem(key: string): string {
  if (CALL_ONLY.includes(key)) {
    return `${key}: not an option of withResilience(); it is set per call: invoke(input, { resilience: { ${key} } })`;
  }
  const hint = closestName(key, OPTION_NAMES);
  return `${key}: unknown option${hint ? ` (did you mean \`${hint}\`?)` : ''}; known options: ${OPTION_NAMES.join(', ')}`;
}

/** `path`: `identity`, or `resilience.identity` for a call's (which cannot be a function). */
function identityProblems(identity: unknown, path = 'identity'): string[] {
  const perCall = path !== 'identity';
  if (identity === undefined || identity === null || (!perCall && typeof identity === 'function')) return [];
  if (!isRecord(identity)) {
    const expected = `an object { user, team, tenant, environment } of strings${perCall ? '' : ', or a function (input, config) => identity'}`;
    return [`${path}: expected ${expected}, got ${typeOf(identity)}`];
  }
  const problems: string[] = [];
  for (const [field, value] of Object.entries(identity)) {
    if (!IDENTITY_FIELDS.includes(field)) {
      problems.push(`${path}.${field}: not an identity field (expected user, team, tenant or environment)`);
    } else if (value !== undefined && typeof value !== 'string') {
      problems.push(`${path}.${field}: expected a string, got ${typeOf(value)}`);
    }
  }
  return problems;
}

function priorityProblem(path: string, value: unknown, policy: Policy | undefined): string | undefined {
  if (value === undefined) return undefined;
  const classes = policy ? Object.keys(policy.trafficClasses) : undefined;
  const expected = classes ? `a traffic class of the policy (one of ${quoted(classes)})` : 'the name of a traffic class';
  if (!isNonEmptyString(value)) return `${path}: expected ${expected}, got ${shown(value)}`;
  if (policy && !Object.hasOwn(policy.trafficClasses, value)) return `${path}: expected ${expected}, got ${shown(value)}`;
  return undefined;
}

function dataClassProblem(value: unknown, policy: Policy | undefined, path = 'dataClass'): string | undefined {
  if (value === undefined) return undefined;
  if (!isNonEmptyString(value)) return `${path}: expected the name of a data class (a string), got ${shown(value)}`;
  if (!policy) return undefined;
  const targets = [...Object.values(policy.targets), ...Object.values(policy.routes).flatMap((r) => r.chain)];
  if (targets.some((t) => t.dataClasses?.includes(value))) return undefined;
  const hint = "list it in a target's `dataClasses`";
  return `${path}: no target of the policy is approved for ${shown(value)} (${hint}), so every call would fail`;
}

function maxOutputTokensProblem(max: unknown, path: string): string | undefined {
  if (max === undefined || (typeof max === 'number' && max >= 0 && max < Infinity)) return undefined;
  return `${path}: expected a finite number of tokens >= 0, got ${shown(max)}`;
}

function audienceProblem(audience: unknown, path: string): string | undefined {
  if (audience === undefined || audience === 'internal' || audience === 'customer') return undefined;
  return `${path}: expected 'internal' or 'customer', got ${shown(audience)}`;
}

function targetsProblems(targets: unknown): string[] {
  if (targets === undefined) return [];
  if (!isRecord(targets) || isRunnable(targets)) {
    return [`targets: expected an object of runnables per target id, e.g. { long: longChain }, got ${shown(targets)}`];
  }
  return Object.entries(targets)
    .filter(([, r]) => !isRunnable(r) && typeof r !== 'function')
    .map(([id, r]) => `targets.${id}: expected a Runnable or a factory (target) => Runnable, got ${shown(r)}`);
}

function fallbacksProblems(fallbacks: unknown): string[] {
  if (fallbacks === undefined) return [];
  if (!Array.isArray(fallbacks)) return [`fallbacks: expected an array of runnables, got ${shown(fallbacks)}`];
  return fallbacks.flatMap((r, i) => (isRunnable(r) ? [] : [`fallbacks[${i}]: expected a Runnable, got ${shown(r)}`]));
}

/**
 * What is wrong with the options of `withResilience`, one sentence each, as `<option path>: expected
 * <what>, got <value>`: an `engine` that is not one, unknown keys (with the closest known name),
 * values of the wrong type or out of range, a missing `route` (required), and, checked against the
 * engine's policy, a `priority` or
 * `batchPriority` that is not a traffic class and a `dataClass` no target is approved for. Identity
 * values are described by type only. The route name and the runnable mapping are checked by
 * `TargetRunnables`.
 *
 * @example
 * ```ts
 * optionProblems({ engine, route: 'chat', priority: 'vip', maxConcurrency: 2.5 });
 * // ["priority: expected a traffic class of the policy (one of 'live', 'batch', 'experiment'), got 'vip'",
 * //  'maxConcurrency: expected a whole number >= 1 (or Infinity), got 2.5']
 * ```
 */
export function optionProblems(o: Readonly<Record<string, unknown>>): string[] {
  const policy = policyOf(o.engine);
  const problems = policy ? [] : [engineProblem(o.engine)];
  for (const key of Object.keys(o)) if (!(OPTION_NAMES as readonly string[]).includes(key)) problems.push(unknownKeyProblem(key));
  const routes = policy ? ` (one of ${quoted(Object.keys(policy.routes))})` : '';
  // Required: left out (a JS caller, a config spread without it), the first invoke() would be the first to fail.
  if (o.route === undefined) problems.push(`route: required${routes || ' (the name of a route of the policy)'}`);
  else if (!isNonEmptyString(o.route)) problems.push(`route: expected the name of a route of the policy${routes}, got ${shown(o.route)}`);
  problems.push(...targetsProblems(o.targets), ...fallbacksProblems(o.fallbacks), ...identityProblems(o.identity));
  for (const path of ['priority', 'batchPriority'] as const) {
    const p = priorityProblem(path, o[path], policy);
    if (p) problems.push(p);
  }
  const dataClass = dataClassProblem(o.dataClass, policy);
  if (dataClass) problems.push(dataClass);
  const output = o.output as { '~standard'?: { validate?: unknown } } | undefined;
  if (output !== undefined && !(typeof output === 'object' && output !== null && typeof output['~standard']?.validate === 'function')) {
    problems.push(`output: expected a Standard Schema (e.g. a zod 4 schema; an object with \`~standard.validate\`), got ${shown(output)}`);
  }
  for (const p of [maxOutputTokensProblem(o.maxOutputTokens, 'maxOutputTokens'), audienceProblem(o.audience, 'audience')]) {
    if (p) problems.push(p);
  }
  if (o.estimateInput !== undefined && typeof o.estimateInput !== 'function') {
    problems.push(`estimateInput: expected a function (input) => { messages } | { prompt } | number, got ${shown(o.estimateInput)}`);
  }
  const c = o.maxConcurrency;
  if (c !== undefined && !(typeof c === 'number' && c >= 1 && (Number.isInteger(c) || c === Infinity))) {
    problems.push(`maxConcurrency: expected a whole number >= 1 (or Infinity), got ${shown(c)}`);
  }
  if (o.innerRetries !== undefined && !(INNER_RETRIES_CHECKS as readonly unknown[]).includes(o.innerRetries)) {
    problems.push(`innerRetries: expected 'warn', 'error' or 'ignore', got ${shown(o.innerRetries)}`);
  }
  if (o.name !== undefined && !isNonEmptyString(o.name)) problems.push(`name: expected a non-empty string, got ${shown(o.name)}`);
  return problems;
}

/**
 * Every key of a call's `resilience` options (the keys of `ResilienceCallOptions`).
 *
 * @example
 * ```ts
 * CALL_OPTION_NAMES.includes('deadline'); // true
 * ```
 */
export const CALL_OPTION_NAMES = [
  'identity',
  'priority',
  'dataClass',
  'requestId',
  'deadline',
  'maxOutputTokens',
  'audience',
] as const satisfies ReadonlyArray<keyof ResilienceCallOptions>;

/**
 * What is wrong with the `resilience` options of one call (`invoke(input, { resilience })`), one
 * sentence each, named `resilience.<key>`: not an object, unknown keys (with the closest known name),
 * values of the wrong type, a `priority` that is not a traffic class of `policy`, a `dataClass` no
 * target is approved for. Identity values are described by type only.
 *
 * @example
 * ```ts
 * callOptionProblems({ priorty: 'live', deadline: '5s' }, engine.policy);
 * // ['resilience.priorty: unknown call option (did you mean `priority`?); known: identity, priority, ...',
 * //  "resilience.deadline: expected an absolute time in epoch ms (a finite number), got '5s'"]
 * ```
 */
export function callOptionProblems(call: unknown, policy: Policy | undefined): string[] {
  if (call === undefined || call === null) return [];
  if (!isRecord(call)) return [`resilience: expected an object of call options (${CALL_OPTION_NAMES.join(', ')}), got ${shown(call)}`];
  const problems: string[] = [];
  for (const key of Object.keys(call)) {
    if ((CALL_OPTION_NAMES as readonly string[]).includes(key)) continue;
    const hint = closestName(key, CALL_OPTION_NAMES);
    const where = (OPTION_NAMES as readonly string[]).includes(key) ? '; it is an option of withResilience(), not of a call' : '';
    problems.push(`resilience.${key}: unknown call option${hint ? ` (did you mean \`${hint}\`?)` : ''}${where}; known: ${CALL_OPTION_NAMES.join(', ')}`);
  }
  problems.push(...identityProblems(call.identity, 'resilience.identity'));
  const found = [
    priorityProblem('resilience.priority', call.priority, policy),
    dataClassProblem(call.dataClass, policy, 'resilience.dataClass'),
    maxOutputTokensProblem(call.maxOutputTokens, 'resilience.maxOutputTokens'),
    audienceProblem(call.audience, 'resilience.audience'),
  ];
  if (call.requestId !== undefined && !isNonEmptyString(call.requestId)) {
    found.push(`resilience.requestId: expected a non-empty string, got ${shown(call.requestId)}`);
  }
  const deadline = call.deadline;
  if (deadline !== undefined && !(typeof deadline === 'number' && Number.isFinite(deadline))) {
    found.push(`resilience.deadline: expected an absolute time in epoch ms (a finite number), got ${shown(deadline)}`);
  }
  for (const p of found) if (p) problems.push(p);
  return problems;
}
