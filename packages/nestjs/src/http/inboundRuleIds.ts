import type { LimitRule } from '@llm-resilience/core';
import { classRateLimited, inboundRuleDeclarationsOf, mergeRateLimited, RATE_LIMITED_METADATA, type InboundRuleDeclaration } from '../decorators/metadata';
import { NestConfigError } from '../NestConfigError';
import type { InboundLimitRule, RateLimitedOptions } from '../types';
import { inboundRuleId, overridingDeclarationOf, overridingRuleId, toInboundLimitRules } from './inboundRules';

/**
 * Inbound rules that share a store id share one bucket in the store (its key is the id plus the
 * request's scope values). That is how two controllers count in one bucket on purpose (the same
 * `id`); but two peer declarations of one id with different limits would size that one bucket two
 * ways (each rule reading the other's requests against its own limit and window), so they are
 * refused: at start-up for the rules declared in the module's `limits` and in `@RateLimited` on
 * controllers, at the first request for rules a `ResilienceGuard` subclass builds in an overridden
 * `getLimits`. A rule that replaces another of its id (a method's over its class's, a class's or
 * method's over the module's) is no peer: with the same definition it is that rule (same bucket),
 * with another it counts in a bucket of its own declaration ({@link handlerInboundRules}).
 */

/** Nest's metadata key of a route handler's path (`@Get()`, `@Post()`, ...), the same in Nest 11 and 12. */
const PATH_METADATA = 'path';

/** What makes two rules of one id the same bucket. */
const FIELDS = ['scope', 'metric', 'limit', 'window', 'burst', 'match'] as const;
type Field = (typeof FIELDS)[number];

function windowText(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms} ms`;
}

function matchText(match: LimitRule['match']): string {
  const entries = Object.entries(match ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return 'no match';
  return `match { ${entries.map(([k, v]) => `${k}: '${String(v)}'`).join(', ')} }`;
}

/** How a rule's field reads in a message (and compares: two rules agree on a field when these are equal). */
function fieldText(rule: LimitRule, field: Field): string {
  switch (field) {
    case 'scope':
      return `scope [${rule.scope.join(', ')}]`;
    case 'metric':
      return `metric ${rule.metric}`;
    case 'limit':
      return `limit ${rule.limit}`;
    case 'window':
      return `window ${windowText(rule.windowMs)}`;
    case 'burst':
      return `burst ${rule.burst ?? rule.limit}`;
    case 'match':
      return matchText(rule.match);
  }
}

/** The fields in which two rules differ (a burst left to its default, the limit, differs only as the limit does). */
function differingFields(a: LimitRule, b: LimitRule): Field[] {
  return FIELDS.filter(
    (f) =>
      fieldText(a, f) !== fieldText(b, f) &&
      // A burst left to its default (the limit) differs only as the limit does: named once, as the limit.
      (f !== 'burst' || a.burst !== undefined || b.burst !== undefined),
  );
}

/** How a store id reads in a message: the id as written, and the declaration of an override's bucket. */
function bucketText(storeId: string): string {
  const declaration = overridingDeclarationOf(storeId);
  return `inbound limit id '${inboundRuleId(storeId)}'${declaration ? ` (the bucket of its override on ${declaration})` : ''}`;
}

/**
 * Where a recorded rule comes from, for the message of a conflict.
 *
 * @example
 * ```ts
 * const source: RuleSource = { where: 'ExportController: @RateLimited limits[0]', defaultIdOf: 'ExportController' };
 * ```
 */
export interface RuleSource {
  /** Where it was declared: `ResilienceModule limits[0]`, `ExportController.bulk: @RateLimited limits[1]`. */
  readonly where: string;
  /**
   * For a rule written without `id` that counts under its default id: the name of the class that
   * declared it (`ExportController`; the default id is `ExportController:user:requests:1m`, or
   * `ExportController.bulk:...` for a method's rule).
   */
  readonly defaultIdOf?: string;
}

/**
 * The ids of the inbound rules one application counts with, each with its definition and where it
 * was declared first. Each `ResilienceService` has one ({@link inboundRuleIdsOf}).
 *
 * @example
 * ```ts
 * const ids = new InboundRuleIds();
 * ids.add(rule, 'SearchDocsController: @RateLimited limits[0]');
 * ids.add({ ...rule, limit: 5 }, 'SearchTicketsController: @RateLimited limits[0]'); // throws ERR_LLMR_NEST_CONFLICTING_LIMIT_ID
 * ```
 */
export class InboundRuleIds {
  private readonly byId = new Map<string, { readonly rule: LimitRule; readonly source: RuleSource }>();

  /**
   * Records `rule`, declared at `where` (a text, or a {@link RuleSource}). Throws
   * `ERR_LLMR_NEST_CONFLICTING_LIMIT_ID`, naming both declarations and the fields that differ, when its
   * store id was recorded with another definition; a second declaration with the same definition is
   * the shared bucket it asks for. Give it the rules as they count (with the store ids of
   * {@link handlerInboundRules}): overriding rules have store ids of their own, so they never meet the
   * rules they replace here. When both rules got one default id (rules without `id` of two classes
   * of one name), the message says so, and that explicit ids (or renaming a class) count them apart.
   *
   * @example
   * ```ts
   * ids.add(rule, 'ResilienceModule limits[0]');
   * ids.add(rule, { where: 'ExportController: @RateLimited limits[0]', defaultIdOf: 'ExportController' });
   * ```
   */
  add(rule: LimitRule, where: string | RuleSource): void {
    const source = typeof where === 'string' ? { where } : where;
    const first = this.byId.get(rule.id);
    if (!first) {
      this.byId.set(rule.id, { rule, source });
      return;
    }
    const differ = differingFields(rule, first.rule);
    if (differ.length === 0) return;
    const declared =
      `${source.where} declares ${bucketText(rule.id)} with ${differ.map((f) => fieldText(rule, f)).join(', ')}, ` +
      `but ${first.source.where} declares it with ${differ.map((f) => fieldText(first.rule, f)).join(', ')}. `;
    const className = source.defaultIdOf;
    if (className !== undefined && className === first.source.defaultIdOf) {
      throw new NestConfigError(
        'ERR_LLMR_NEST_CONFLICTING_LIMIT_ID',
        declared +
          `Both are rules written without an id, in two different classes named ${className}: a rule without id gets the default id of its class's name, ` +
          `so both count in one bucket of the store, which cannot have two sizes. ` +
          `Give these rules explicit ids (different ones to count the classes apart, or one id with one definition to share a bucket), or rename one of the classes.`,
      );
    }
    throw new NestConfigError(
      'ERR_LLMR_NEST_CONFLICTING_LIMIT_ID',
      declared +
        `Rules with one id count in one bucket of the store, so they must agree on scope, metric, limit, window, burst and match: ` +
        `give them the same definition to share the bucket, or different ids to count them apart ` +
        `(a rule that replaces another of its id, on a method over its class or on a controller over the module, may differ: it counts in a bucket of its own).`,
    );
  }
}

const byApp = new WeakMap<object, InboundRuleIds>();

/**
 * The inbound rule ids of the application `app` (its `ResilienceService`).
 *
 * @example
 * ```ts
 * inboundRuleIdsOf(this.resilience).add(rule, `${guard}.getLimits(context, options) for ChatController.ask`);
 * ```
 */
export function inboundRuleIdsOf(app: object): InboundRuleIds {
  let ids = byApp.get(app);
  if (!ids) byApp.set(app, (ids = new InboundRuleIds()));
  return ids;
}

/**
 * One inbound rule a handler counts with, as {@link handlerInboundRules} resolves it.
 *
 * @example
 * ```ts
 * const r: HandlerInboundRule = { rule, where: 'ExportController.bulk: @RateLimited limits[0]' };
 * ```
 */
export interface HandlerInboundRule extends RuleSource {
  /** The rule, its `id` the store id of its bucket. */
  readonly rule: LimitRule;
}

/**
 * The inbound rules of one handler, as `ResilienceGuard` counts them: the module's rules
 * (`moduleRules`, compiled), then the `@RateLimited` `limits` of the handler's options, from the most
 * general declaration to the most specific (the class's, then the method's: see
 * `inboundRuleDeclarationsOf`; `limits` built elsewhere, by an overridden `getOptions`, are taken as
 * declared by `handler`, `Class.method`). A rule with the id of a rule above it replaces that rule:
 *
 * - with the same definition (scope, metric, limit, window, burst, match) it is that rule, and counts
 *   in its bucket (the same store id);
 * - with a different one it counts in a bucket of its own declaration and definition, store id
 *   `nest-inbound@<declaration>~<definition>:<id>` (`overridingRuleId`), so the two sizes never share a
 *   bucket: every handler it applies to (all those of a class, for a class's rule) shares that bucket,
 *   and so do the handlers of another class of the same name overriding the id with the same definition.
 *
 * Messages and logs still show the id as written (`inboundRuleId` reads it back). The order is the
 * module's rules that remain, then the class's, then the method's.
 *
 * @example
 * ```ts
 * // ResilienceModule.forRoot({ limits: [{ id: 'per-user', scope: ['user'], limit: 60, window: '1m' }] })
 * // @RateLimited({ limits: [{ id: 'per-user', scope: ['user'], limit: 600, window: '1m' }] }) bulk() {}
 * handlerInboundRules(moduleRules, options.limits, 'ExportController.bulk');
 * // [{ rule: { id: 'nest-inbound@ExportController.bulk~user,600/60000ms:per-user', limit: 600, ... }, where: 'ExportController.bulk: @RateLimited limits[0]' }]
 * ```
 */
export function handlerInboundRules(moduleRules: readonly LimitRule[], limits: readonly InboundLimitRule[] | undefined, handler: string): HandlerInboundRule[] {
  // By id as written: what a rule declared further down replaces.
  const byId = new Map<string, HandlerInboundRule>();
  moduleRules.forEach((rule, i) => byId.set(inboundRuleId(rule.id), { rule, where: `ResilienceModule limits[${i}]` }));
  if (limits?.length) {
    const declarations: readonly InboundRuleDeclaration[] = inboundRuleDeclarationsOf(limits) ?? [{ owner: handler, rules: limits }];
    for (const { owner, rules, className, defaultIds } of declarations) {
      const where = `${owner}: @RateLimited`;
      // Already checked where declared (the decorator); this only normalises them (or checks rules of an overridden getOptions).
      toInboundLimitRules(rules, where, owner).forEach((rule, i) => {
        const id = inboundRuleId(rule.id);
        const replaced = byId.get(id)?.rule;
        const storeId = !replaced ? rule.id : differingFields(rule, replaced).length === 0 ? replaced.id : overridingRuleId(id, owner, rule);
        byId.delete(id);
        const resolved: HandlerInboundRule = { rule: storeId === rule.id ? rule : { ...rule, id: storeId }, where: `${where} limits[${i}]` };
        // A default id names the class by its name only: another class of that name gets the same one.
        const defaulted = storeId === rule.id && className !== undefined && defaultIds?.[i] === true;
        byId.set(id, defaulted ? { ...resolved, defaultIdOf: className } : resolved);
      });
    }
  }
  return [...byId.values()];
}

function own(options: unknown): RateLimitedOptions | undefined {
  return typeof options === 'object' && options !== null ? (options as RateLimitedOptions) : undefined;
}

/** The route handlers of a controller class (its methods with a path, inherited ones included): name and function. */
function routeHandlers(cls: Function): [string, Function][] {
  const handlers: [string, Function][] = [];
  const names = new Set<string>();
  for (let p = (cls as { prototype?: object }).prototype ?? null; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (names.has(name) || name === 'constructor') continue;
      names.add(name);
      const fn = Object.getOwnPropertyDescriptor(p, name)?.value as unknown;
      if (typeof fn === 'function' && Reflect.getMetadata(PATH_METADATA, fn) !== undefined) handlers.push([name, fn]);
    }
  }
  return handlers;
}

/**
 * Records the inbound rules every route handler of the application counts with, computed as the
 * guard does ({@link handlerInboundRules} of the module's `limits` and the class's and handler's
 * `@RateLimited`), throwing `ERR_LLMR_NEST_CONFLICTING_LIMIT_ID` at the first store id counted with
 * two definitions: peers (two controllers, two handlers of different controllers, the module's rule
 * and one built elsewhere) that give one id two sizes, including the default ids that two classes of
 * one name give their rules without `id`. A rule that replaces another by id is no peer of it: it has
 * the same definition (the same bucket) or a store id of its own. The store ids are compared, not
 * class names: classes of one name whose rules do not meet in one store id with two definitions (a
 * controller extending a base class of its own name) start. Run when the application starts, so a
 * conflicting declaration stops the boot.
 *
 * @example
 * ```ts
 * recordDeclaredInboundRules(inboundRuleIdsOf(service), options.limits, discovery.getControllers().map((w) => w.metatype));
 * ```
 */
export function recordDeclaredInboundRules(ids: InboundRuleIds, moduleLimits: readonly InboundLimitRule[] | undefined, controllers: readonly unknown[]): void {
  const moduleRules = toInboundLimitRules(moduleLimits ?? [], 'ResilienceModule');
  const seen = new Set<unknown>();
  for (const cls of controllers) {
    if (typeof cls !== 'function' || seen.has(cls)) continue;
    seen.add(cls);
    // As the guard reads them: the class's @RateLimited merged along its prototype chain (base first).
    const onClass = classRateLimited(cls);
    for (const [name, fn] of routeHandlers(cls)) {
      const options = mergeRateLimited(onClass, own(Reflect.getMetadata(RATE_LIMITED_METADATA, fn)));
      for (const resolved of handlerInboundRules(moduleRules, options?.limits, `${cls.name}.${fn.name || name}`)) ids.add(resolved.rule, resolved);
    }
  }
}
