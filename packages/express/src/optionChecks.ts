import { shownValue as shown, valueType as typeOf } from '@llm-resilience/core';
import { ExpressConfigError } from './ExpressConfigError';

/**
 * The code of an option whose value has the wrong type or is out of range (checked at start-up).
 *
 * @example
 * ```ts
 * try { resilience({ engine, identity: 'user' as never }); }
 * catch (e) { (e as ExpressConfigError).code; } // 'ERR_LLMR_EXPRESS_INVALID_OPTION'
 * ```
 */
export const INVALID_OPTION = 'ERR_LLMR_EXPRESS_INVALID_OPTION';

/** The audiences of messages, in the order messages name them. */
export const AUDIENCES: readonly unknown[] = ['customer', 'internal'];

// `typeOf` and `shown` are core's `valueType` and `shownValue`: one way to show a value in every adapter's messages.
export { shown, typeOf };

/**
 * The error of one bad option: `<what>: <path> must be <expected>, got <got>.` with a help link.
 *
 * @example
 * ```ts
 * throw invalidOption('resilience()', 'estimate', 'a function (req) => usage', typeOf(5));
 * ```
 */
export function invalidOption(what: string, path: string, expected: string, got: string, code: string = INVALID_OPTION): ExpressConfigError {
  return new ExpressConfigError(code, `${what}: ${path} must be ${expected}, got ${got}.`);
}

/**
 * Checks that each named option is a function when it is set (`undefined` means "use the default").
 *
 * @example
 * ```ts
 * checkFunctions('resilience()', options, { identity: '(req) => identity' });
 * ```
 */
export function checkFunctions(what: string, options: object, signatures: Readonly<Record<string, string>>): void {
  for (const [name, signature] of Object.entries(signatures)) {
    const v = (options as Record<string, unknown>)[name];
    if (v !== undefined && typeof v !== 'function') throw invalidOption(what, name, `a function ${signature}`, typeOf(v));
  }
}

/**
 * Checks that each named option is a boolean when it is set.
 *
 * @example
 * ```ts
 * checkBooleans('resilience()', options, ['legacyHeaders']);
 * ```
 */
export function checkBooleans(what: string, options: object, names: readonly string[]): void {
  for (const name of names) {
    const v = (options as Record<string, unknown>)[name];
    if (v !== undefined && typeof v !== 'boolean') throw invalidOption(what, name, 'true or false', shown(v));
  }
}

/**
 * Checks an `audience` option: `'customer'` or `'internal'` (or a function when `allowFunction`).
 *
 * @example
 * ```ts
 * checkAudience('openAIGateway()', options.audience, false);
 * ```
 */
export function checkAudience(what: string, audience: unknown, allowFunction: boolean): void {
  if (audience === undefined || AUDIENCES.includes(audience)) return;
  if (allowFunction && typeof audience === 'function') return;
  throw invalidOption(what, 'audience', `'customer' or 'internal'${allowFunction ? ', or a function (req) => audience' : ''}`, shown(audience));
}

/**
 * Checks a `logger` option: an object whose `method` (`warn`, `error`) is a function; with
 * `required` false it may also lack it (the caller then falls back for that method).
 *
 * @example
 * ```ts
 * checkLogger('resilience()', options.logger, 'warn', true); // resilience() has no fallback for warn
 * checkLogger('openAIGateway()', options.logger, 'error', false);
 * ```
 */
export function checkLogger(what: string, logger: unknown, method: 'warn' | 'error', required: boolean): void {
  if (logger === undefined) return;
  const expected = `an object with a ${method}(message, fields) function`;
  if (typeof logger !== 'object' || logger === null || Array.isArray(logger)) throw invalidOption(what, 'logger', expected, typeOf(logger));
  const fn = (logger as Record<string, unknown>)[method];
  if (fn === undefined && required) throw invalidOption(what, 'logger', expected, `an object without ${method}`);
  if (fn !== undefined && typeof fn !== 'function') throw invalidOption(what, `logger.${method}`, 'a function (message, fields) => void', typeOf(fn));
}

/**
 * True when `key` is a route of the policy's own (not a name inherited from `Object.prototype`).
 *
 * @example
 * ```ts
 * hasRoute(engine.policy.routes, 'toString'); // false
 * ```
 */
export function hasRoute(routes: object, key: unknown): key is string {
  return typeof key === 'string' && Object.prototype.hasOwnProperty.call(routes, key);
}
