import 'reflect-metadata';
import { shown, typeOf } from '../describeValue';
import { unknownKey } from '../knownKeys';
import { NestConfigError } from '../NestConfigError';
import { defaultInboundRuleId, toInboundLimitRules } from '../http/inboundRules';
import type { InboundLimitRule, RateLimitedOptions } from '../types';
import { describeMethod, wrapMethod } from './decoratedMethod';
import { declareInboundRules, RATE_LIMITED_METADATA } from './metadata';

const FUNCTION_FIELDS = ['key', 'identity', 'input'] as const;

/** Every option of `@RateLimited`. */
const OPTIONS: readonly (keyof RateLimitedOptions)[] = [
  'route',
  'key',
  'identity',
  'priority',
  'dataClass',
  'maxOutputTokens',
  'input',
  'audience',
  'limits',
  'returns',
];

function validate(options: RateLimitedOptions, where: string): void {
  const bad = (message: string): NestConfigError => new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', `${where}: @RateLimited ${message}`);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw bad(`expects an options object, got ${typeOf(options)}.`);
  const unknown = unknownKey(options, OPTIONS);
  if (unknown) throw bad(`${unknown.key}: ${unknown.problem}.`);
  if (options.route !== undefined && (typeof options.route !== 'string' || options.route === '')) {
    throw bad(`route: expected a route name of the policy, got ${shown(options.route)}.`);
  }
  if (options.priority !== undefined && (typeof options.priority !== 'string' || options.priority === '')) {
    throw bad(`priority: expected a traffic class of the policy (live, batch, ...), got ${shown(options.priority)}.`);
  }
  for (const f of FUNCTION_FIELDS) {
    if (options[f] !== undefined && typeof options[f] !== 'function') throw bad(`${f}: expected a function of the method's arguments, got ${typeOf(options[f])}.`);
  }
  if (options.dataClass !== undefined && typeof options.dataClass !== 'string' && typeof options.dataClass !== 'function') {
    throw bad(`dataClass: expected a string or a function of the method's arguments, got ${typeOf(options.dataClass)}.`);
  }
  if (options.maxOutputTokens !== undefined && !(Number.isInteger(options.maxOutputTokens) && options.maxOutputTokens > 0)) {
    throw bad(`maxOutputTokens: expected a positive integer, got ${shown(options.maxOutputTokens)}.`);
  }
  if (options.returns !== undefined && options.returns !== 'promise' && options.returns !== 'observable') {
    throw bad(`returns: expected 'promise' or 'observable', got ${shown(options.returns)}.`);
  }
  if (options.audience !== undefined && options.audience !== 'internal' && options.audience !== 'customer') {
    throw bad(`audience: expected 'internal' or 'customer', got ${shown(options.audience)}.`);
  }
  if (options.limits !== undefined) toInboundLimitRules(options.limits, `${where}: @RateLimited`);
}

/**
 * The options as stored in the metadata: each inbound rule written without an `id` gets the default
 * id of where it was declared (`ChatController`, `ChatController.ask`), so every declaration counts
 * requests in its own bucket; a rule's explicit `id` is kept (rules sharing an id share a bucket).
 * The `limits` array is a copy of the one written (which may be shared by several decorators), noted
 * as declared by `owner` (of the class `className`), so a rule that replaces another by id can count
 * in its declaration's bucket, and a conflict between default ids can say where they come from.
 */
function withOwnedRuleIds(options: RateLimitedOptions, owner: string, className: string): RateLimitedOptions {
  if (options.limits === undefined) return options;
  const limits = options.limits.map((r): InboundLimitRule => (r.id === undefined ? { ...r, id: defaultInboundRuleId(r, owner) } : r));
  declareInboundRules(limits, owner, { className, defaultIds: options.limits.map((r) => r.id === undefined) });
  return { ...options, limits };
}

/**
 * Throws unless the decorator was applied to a class or a method: applied to a property (an
 * arrow-function property, a field) or a parameter, it would otherwise act as a class decorator and
 * leave the method running outside the engine.
 */
function checkTarget(target: object, key: unknown, descriptor: unknown): void {
  if (typeof key === 'object' && key !== null) {
    throw new NestConfigError(
      'ERR_LLMR_NEST_INVALID_OPTIONS',
      `@RateLimited was applied as a TC39 standard decorator; it needs TypeScript's experimentalDecorators (SWC: legacyDecorator), as NestJS does.`,
    );
  }
  if (key === undefined) return; // a class
  if (typeof descriptor !== 'object' || descriptor === null) {
    const what = typeof descriptor === 'number' ? 'a parameter' : 'a property';
    throw new NestConfigError(
      'ERR_LLMR_NEST_INVALID_OPTIONS',
      `${describeMethod(target, key as string | symbol)}: @RateLimited decorates classes and methods; this is ${what}. ` +
        `Write a method (\`async reply(...) { ... }\`, not an arrow-function property) and decorate it.`,
    );
  }
}

/**
 * Runs a method through the shared engine under a policy route: the call is admitted against the
 * policy's limits and budgets for the caller's identity, then retried and walked along the route's
 * chain (the method is called once per attempt; take the target with `@Target()`), and the engine's
 * typed error is thrown when it finally fails. Works on service methods and controller handlers,
 * returning a Promise or an Observable, without any interceptor: the method itself is replaced.
 *
 * On a class, the options are defaults for every decorated method of the class (and for the
 * `ResilienceGuard` on controllers); a method's options override them field by field. A class-level
 * `@RateLimited` alone does not wrap any method. Inbound `limits` written without an `id` count
 * requests in a bucket of their own declaration (one per class for class rules, one per method for
 * method rules); give rules the same `id` (and the same definition: peer rules of one id that differ,
 * on two controllers say, stop the application at start-up, `ERR_LLMR_NEST_CONFLICTING_LIMIT_ID`) to
 * share a bucket on purpose. A rule with the id of the module's rule, or on a method with the id of
 * its class's rule, overrides it for the handlers it applies to: with a different definition (a looser
 * limit for one handler, say) it counts in a bucket of its own declaration.
 *
 * The engine is found through the registry `ResilienceModule` fills when the application starts
 * (see `engineRegistry`); calling a decorated method with no such application running throws
 * `ERR_LLMR_NEST_NO_MODULE`. Options are checked when the class is defined (an unknown key, a value of
 * the wrong type, a property or parameter decorated: `ERR_LLMR_NEST_INVALID_OPTIONS`), the route and
 * priority against the policy when the application starts.
 *
 * @example
 * ```ts
 * @Injectable()
 * export class SupportService {
 *   @RateLimited({ route: 'support_reply', key: (userId: string) => userId, maxOutputTokens: 300 })
 *   @Fallback({ method: 'cannedReply', on: ['overloaded', 'rate_limited'] })
 *   async reply(userId: string, prompt: string, @Target() target?: ResolvedTarget) {
 *     const r = await this.openai.chat.completions.create({ model: target!.model, messages: [{ role: 'user', content: prompt }] });
 *     return r.choices[0]?.message.content ?? '';
 *   }
 *   cannedReply(userId: string, prompt: string, target: undefined, error: unknown) {
 *     return 'We are busy right now; a human will answer shortly.';
 *   }
 * }
 * ```
 */
export function RateLimited(options: RateLimitedOptions): ClassDecorator & MethodDecorator {
  const decorator = (target: object, key?: string | symbol, descriptor?: PropertyDescriptor): PropertyDescriptor | void => {
    checkTarget(target, key, descriptor);
    if (key === undefined || descriptor === undefined) {
      const owner = (target as { name?: string }).name || 'class';
      validate(options, owner);
      Reflect.defineMetadata(RATE_LIMITED_METADATA, withOwnedRuleIds(options, owner, owner), target);
      return;
    }
    const owner = describeMethod(target, key);
    validate(options, owner);
    const d = wrapMethod(target, key, descriptor);
    const className = owner.slice(0, owner.length - String(key).length - 1);
    Reflect.defineMetadata(RATE_LIMITED_METADATA, withOwnedRuleIds(options, owner, className), d.value as object);
    return d;
  };
  return decorator as ClassDecorator & MethodDecorator;
}
