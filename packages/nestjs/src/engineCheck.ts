import { Resilience } from '@llm-resilience/core';
import { typeOf } from './describeValue';

/** Members of the engine this package uses, with what each must be. */
const MEMBERS: ReadonlyArray<readonly [string, 'function' | 'object']> = [
  ['execute', 'function'],
  ['shutdown', 'function'],
  ['policy', 'object'],
  ['store', 'object'],
  ['clock', 'object'],
];

/**
 * Why `value` is not an engine this package can use, or undefined when it is one: a `Resilience`
 * from `createResilience`, or (another copy of `@llm-resilience/core`, CommonJS beside ES modules)
 * an object with every member the package uses: `execute()`, `shutdown()`, `policy` (with `routes`,
 * `trafficClasses`, `limits`), `store`, `clock`.
 *
 * @example
 * ```ts
 * engineProblem(createResilience(policy)); // undefined
 * engineProblem({ execute() {} });         // 'an object without shutdown()'
 * engineProblem('engine');                 // 'a string'
 * ```
 */
export function engineProblem(value: unknown): string | undefined {
  if (value instanceof Resilience) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return typeOf(value);
  const v = value as Record<string, unknown>;
  for (const [name, type] of MEMBERS) {
    const member = v[name];
    if (typeof member !== type || member === null) return `an object without ${type === 'function' ? `${name}()` : name}`;
  }
  const policy = v.policy as Record<string, unknown>;
  for (const name of ['routes', 'trafficClasses', 'limits']) {
    if (typeof policy[name] !== 'object' || policy[name] === null) return `an object whose policy has no ${name}`;
  }
  return undefined;
}

/**
 * True when `value` is an engine this package can use (see {@link engineProblem}).
 *
 * @example
 * ```ts
 * if (!isEngine(options.engine)) throw new Error('engine: expected a Resilience engine');
 * ```
 */
export function isEngine(value: unknown): value is Resilience {
  return engineProblem(value) === undefined;
}
