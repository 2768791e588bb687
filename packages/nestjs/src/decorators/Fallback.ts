import 'reflect-metadata';
import { isErrorKind } from '@llm-resilience/core';
import { shown, typeOf } from '../describeValue';
import { unknownKey } from '../knownKeys';
import { NestConfigError } from '../NestConfigError';
import type { FallbackOptions } from '../types';
import { decoratedMethodInfo, describeMethod, wrapMethod } from './decoratedMethod';
import { FALLBACK_METADATA } from './metadata';

const METHOD_OPTIONS = ['method', 'on'];
const CHAIN_OPTIONS = ['chain'];

/** Throws unless `@Fallback` was applied (as a legacy decorator) to a method. */
function checkTarget(target: object, key: unknown, descriptor: unknown): void {
  let what: string | undefined;
  if (key === undefined) what = 'a class';
  else if (typeof key === 'object') what = 'a TC39 standard decorator target (enable experimentalDecorators)';
  else if (typeof descriptor !== 'object' || descriptor === null) what = `a property or parameter (${describeMethod(target, key as string | symbol)})`;
  if (what !== undefined) throw new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', `@Fallback decorates methods; it was applied to ${what}.`);
}

/**
 * What a method does when its model call fails:
 *
 * - `@Fallback({ chain: true })`: model chain mode. The engine calls the method once per attempt,
 *   each time with the route's next target (or the same one, on a retry) injected at the `@Target()`
 *   parameter (or the whole attempt context at `@AttemptCtx()`): the route's chain is the fallback.
 *   Needs a route (`@RateLimited({ route })` on the method or class) and one of those parameters.
 * - `@Fallback({ method: 'cannedReply', on })`: resilience4j style. When the call finally fails with an
 *   error whose kind is in `on` (default: `rate_limited`, `overloaded`, `timeout`, `network`,
 *   `quota_exhausted`), `this.cannedReply(...args, error)` answers instead. `args` are the call's
 *   arguments padded with `undefined` to the method's declared parameter count (optional parameters
 *   the caller left out, `@Target()`/`@AttemptCtx()` included), so the error comes right after the
 *   method's own parameter list; arguments beyond it (a rest parameter) are kept and the error
 *   follows them: it is always the last argument. The count is read from `design:paramtypes`
 *   (`emitDecoratorMetadata`); without that metadata (esbuild, tsx) it is `Function.length`, which
 *   stops before the first parameter with a default value. Without a route it guards the method
 *   alone (no engine involved), a synchronous throw of an Observable method included. On an
 *   Observable method, an error after a value was emitted goes on: the fallback's answer is never
 *   spliced after values already sent.
 *
 * Apply both to get both. Checked when the class is defined: a missing parameter or fallback method
 * throws `ERR_LLMR_NEST_NO_TARGET_PARAM` / `ERR_LLMR_NEST_UNKNOWN_FALLBACK_METHOD`; an unknown key
 * (`onn`), a value of the wrong type, or `@Fallback` on a class or property `ERR_LLMR_NEST_INVALID_OPTIONS`.
 *
 * @example
 * ```ts
 * @RateLimited({ route: 'support_reply' })
 * @Fallback({ chain: true })
 * @Fallback({ method: 'cannedReply' })
 * async reply(question: string, @Target() target?: ResolvedTarget): Promise<string> { ... }
 * ```
 */
export function Fallback(options: FallbackOptions): MethodDecorator {
  const decorator = (target: object, key: string | symbol, descriptor: PropertyDescriptor): PropertyDescriptor => {
    checkTarget(target, key, descriptor);
    const where = describeMethod(target, key);
    const bad = (message: string): NestConfigError => new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', `${where}: @Fallback ${message}`);
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw bad(`expects { method, on? } or { chain: true }, got ${typeOf(options)}.`);
    const hasMethod = 'method' in options;
    const hasChain = 'chain' in options;
    if (hasMethod === hasChain) throw bad(`expects either { method, on? } or { chain: true }; apply @Fallback twice for both.`);
    const unknown = unknownKey(options, hasChain ? CHAIN_OPTIONS : METHOD_OPTIONS);
    if (unknown) throw bad(`${unknown.key}: ${unknown.problem}${hasChain ? ' (apply @Fallback({ method, on }) separately)' : ''}.`);
    const d = wrapMethod(target, key, descriptor);
    const info = decoratedMethodInfo(d.value)!;
    if (hasChain) {
      if (options.chain !== true) throw bad(`chain: expected true, got ${shown(options.chain)}.`);
      if (info.targetIndex === undefined && info.ctxIndex === undefined) {
        throw new NestConfigError(
          'ERR_LLMR_NEST_NO_TARGET_PARAM',
          `${where} uses @Fallback({ chain: true }) but has no @Target() or @AttemptCtx() parameter, so it cannot know which model to call on each attempt. ` +
            `Add a parameter such as \`@Target() target?: ResolvedTarget\` and call target.model.`,
        );
      }
    } else {
      if (typeof options.method !== 'string' || options.method === '') throw bad(`method: expected a method name, got ${shown(options.method)}.`);
      if (typeof (target as Record<string, unknown>)[options.method] !== 'function') {
        throw new NestConfigError(
          'ERR_LLMR_NEST_UNKNOWN_FALLBACK_METHOD',
          `${where}: @Fallback({ method: '${options.method}' }) names no method of the class. Define ${options.method}(...args, error) on the class (a prototype method, not an arrow-function property).`,
        );
      }
      if (options.method === key) throw bad(`method: '${options.method}' is the decorated method itself.`);
      if (options.on !== undefined) {
        if (!Array.isArray(options.on)) throw bad(`on: expected an array of error kinds, such as ['overloaded'], got ${shown(options.on)}.`);
        for (const k of options.on as unknown[]) if (!isErrorKind(k)) throw bad(`on: ${shown(k)} is not an error kind (rate_limited, overloaded, timeout, ...).`);
      }
    }
    const existing = (Reflect.getOwnMetadata(FALLBACK_METADATA, d.value as object) as FallbackOptions[] | undefined) ?? [];
    Reflect.defineMetadata(FALLBACK_METADATA, [...existing, options], d.value as object);
    return d;
  };
  return decorator as MethodDecorator;
}
