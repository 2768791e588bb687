import type { LimitRule } from '@llm-resilience/core';
import { inboundRuleDeclarationsOf, mergeRateLimited, RATE_LIMITED_METADATA, type InboundRuleDeclaration } from '../decorators/metadata';
import { NestConfigError } from '../NestConfigError';
import type { InboundLimitRule, RateLimitedOptions } from '../types';
import { defaultInboundRuleId, INBOUND_PREFIX, inboundRuleId, overridingDeclarationOf, overridingRuleId, toInboundLimitRules } from './inboundRules';

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

/** Nest's metadata key of a route handler's path (`@Get()`, `@Post()`, ...) and of a controller's, the same in Nest 11 and 12. */
const PATH_METADATA = 'path';
/** Nest's metadata keys of a controller's `host` and `version` (`@Controller({ path, host, version })`). */
const HOST_METADATA = 'host';
const VERSION_METADATA = '__version__';

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
 * How one application names the classes that declare inbound rules, where a bucket is named after
 * its declaration (the default id of a rule written without `id`, `ExportController:user:requests:1m`;
 * the bucket of an override, `nest-inbound@ExportController.bulk:per-user`; the route of a handler
 * without a route name, `ExportController.get`): by the class's name, unless another class of the
 * application has that name too (`v1/export.controller.ts` and `v2/export.controller.ts`, a controller
 * factory). Then each is named by its name and its controller's route, `ExportController(/v1/export)`,
 * so the two count apart. {@link recordDeclaredInboundRules} finds such classes when the application
 * starts; the names only depend on the application's code, so its buckets keep their keys across restarts.
 *
 * @example
 * ```ts
 * const names = new DeclarationNames();
 * names.qualify(V1ExportController, '/v1/export');
 * names.of(V1ExportController, 'ExportController'); // 'ExportController(/v1/export)'
 * names.of(ChatController, 'ChatController');       // 'ChatController'
 * ```
 */
export class DeclarationNames {
  private readonly qualifiers = new Map<Function, string>();

  /**
   * Names `cls` by its name and `qualifier` (its route) from now on.
   *
   * @example
   * ```ts
   * names.qualify(ExportController, '/v2/export');
   * ```
   */
  qualify(cls: Function, qualifier: string): void {
    this.qualifiers.set(cls, qualifier);
  }

  /**
   * The name of `cls` (spelt `name`: `cls.name`, or what a message calls a class without one) in the
   * store ids of the buckets named after it: `name`, or `name(<route>)` for a class whose name
   * another class of the application has.
   *
   * @example
   * ```ts
   * names.of(context.getClass(), context.getClass().name); // 'ExportController' or 'ExportController(/v2/export)'
   * ```
   */
  of(cls: Function | undefined, name: string): string {
    const qualifier = cls === undefined ? undefined : this.qualifiers.get(cls);
    return qualifier === undefined ? name : `${name}(${qualifier})`;
  }
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
  private readonly byId = new Map<string, { readonly rule: LimitRule; readonly where: string }>();
  /** How the application's classes are named in the store ids of the buckets named after them. */
  readonly names = new DeclarationNames();

  /**
   * Records `rule`, declared at `where`. Throws `ERR_LLMR_NEST_CONFLICTING_LIMIT_ID`, naming both
   * declarations and the fields that differ, when its store id was recorded with another definition;
   * a second declaration with the same definition is the shared bucket it asks for. Give it the
   * rules as they count (with the store ids of {@link handlerInboundRules}): overriding rules have
   * store ids of their own, so they never meet the rules they replace here.
   *
   * @example
   * ```ts
   * ids.add(rule, 'ResilienceModule limits[0]');
   * ```
   */
  add(rule: LimitRule, where: string): void {
    const first = this.byId.get(rule.id);
    if (!first) {
      this.byId.set(rule.id, { rule, where });
      return;
    }
    const differ = differingFields(rule, first.rule);
    if (differ.length === 0) return;
    throw new NestConfigError(
      'ERR_LLMR_NEST_CONFLICTING_LIMIT_ID',
      `${where} declares ${bucketText(rule.id)} with ${differ.map((f) => fieldText(rule, f)).join(', ')}, ` +
        `but ${first.where} declares it with ${differ.map((f) => fieldText(first.rule, f)).join(', ')}. ` +
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
export interface HandlerInboundRule {
  /** The rule, its `id` the store id of its bucket. */
  readonly rule: LimitRule;
  /** Where it was declared, for messages: `ResilienceModule limits[0]`, `ExportController.bulk: @RateLimited limits[1]`. */
  readonly where: string;
  /**
   * The class whose name is in the rule's store id (a default id, an override's bucket), for
   * {@link DeclarationNames}; absent for a rule whose bucket is not named after its declaration.
   */
  readonly namedAfter?: Function;
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
 * - with a different one it counts in a bucket of its own declaration, store id
 *   `nest-inbound@<declaration>:<id>` (`overridingRuleId`), so the two sizes never share a bucket:
 *   every handler it applies to (all those of a class, for a class's rule) shares that bucket.
 *
 * Messages and logs still show the id as written (`inboundRuleId` reads it back). The order is the
 * module's rules that remain, then the class's, then the method's.
 *
 * @example
 * ```ts
 * // ResilienceModule.forRoot({ limits: [{ id: 'per-user', scope: ['user'], limit: 60, window: '1m' }] })
 * // @RateLimited({ limits: [{ id: 'per-user', scope: ['user'], limit: 600, window: '1m' }] }) bulk() {}
 * handlerInboundRules(moduleRules, options.limits, 'ExportController.bulk');
 * // [{ rule: { id: 'nest-inbound@ExportController.bulk:per-user', limit: 600, ... }, where: 'ExportController.bulk: @RateLimited limits[0]' }]
 * ```
 */
export function handlerInboundRules(
  moduleRules: readonly LimitRule[],
  limits: readonly InboundLimitRule[] | undefined,
  handler: string,
  names?: DeclarationNames,
): HandlerInboundRule[] {
  // By id as declared: what a rule declared further down replaces.
  const byId = new Map<string, HandlerInboundRule>();
  moduleRules.forEach((rule, i) => byId.set(inboundRuleId(rule.id), { rule, where: `ResilienceModule limits[${i}]` }));
  if (limits?.length) {
    const declarations = inboundRuleDeclarationsOf(limits) ?? [{ owner: handler, rules: limits }];
    for (const declaration of declarations) {
      const owner = declarationName(declaration, names);
      const where = `${owner}: @RateLimited`;
      // Already checked where declared (the decorator); this only normalises them (or checks rules of an overridden getOptions).
      toInboundLimitRules(declaration.rules, where, owner).forEach((declared, i) => {
        const id = inboundRuleId(declared.id);
        // A default id names the class as the application does (two classes of one name count apart).
        const defaulted = declaration.defaultIds?.[i] === true;
        const rule = defaulted && owner !== declaration.owner ? { ...declared, id: INBOUND_PREFIX + defaultInboundRuleId(declaration.rules[i]!, owner) } : declared;
        const replaced = byId.get(id)?.rule;
        const overrides = replaced !== undefined && differingFields(rule, replaced).length > 0;
        const storeId = replaced === undefined ? rule.id : overrides ? overridingRuleId(id, owner) : replaced.id;
        const namedAfter = declaration.declaredOn !== undefined && (overrides || (defaulted && storeId === rule.id)) ? declaration.declaredOn : undefined;
        byId.delete(id);
        byId.set(id, {
          rule: storeId === rule.id ? rule : { ...rule, id: storeId },
          where: `${where} limits[${i}]`,
          ...(namedAfter ? { namedAfter } : {}),
        });
      });
    }
  }
  return [...byId.values()];
}

/** The name of a declaration as the application names its class: `ExportController.bulk`, `ExportController(/v2/export).bulk`. */
function declarationName(declaration: InboundRuleDeclaration, names: DeclarationNames | undefined): string {
  if (!names || declaration.declaredOn === undefined || declaration.className === undefined) return declaration.owner;
  const cls = names.of(declaration.declaredOn, declaration.className);
  return declaration.method === undefined ? cls : `${cls}.${declaration.method}`;
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

/** A route handler of a controller, with its `@RateLimited` options as the guard reads them. */
interface DeclaredHandler {
  readonly cls: Function;
  /** `Class.method` (the class's own name), the owner of limits without a declaration. */
  readonly method: string;
  readonly options: RateLimitedOptions | undefined;
}

function declaredHandlers(controllers: readonly unknown[]): DeclaredHandler[] {
  const handlers: DeclaredHandler[] = [];
  const seen = new Set<unknown>();
  for (const cls of controllers) {
    if (typeof cls !== 'function' || seen.has(cls)) continue;
    seen.add(cls);
    // As the guard reads them: Reflector.get is Reflect.getMetadata (a class inherits its parent's @RateLimited).
    const onClass = own(Reflect.getMetadata(RATE_LIMITED_METADATA, cls));
    for (const [name, fn] of routeHandlers(cls)) {
      handlers.push({ cls, method: fn.name || name, options: mergeRateLimited(onClass, own(Reflect.getMetadata(RATE_LIMITED_METADATA, fn))) });
    }
  }
  return handlers;
}

/** True for a rule whose bucket depends on the request's route (its scope or its match). */
function keyedByRoute(rule: LimitRule): boolean {
  return rule.scope.includes('route') || rule.match?.route !== undefined;
}

function textOf(value: unknown): string {
  return typeof value === 'symbol' ? 'neutral' : String(value);
}

/**
 * The route of a controller class as its `@Controller` declares it: `/v1/export`,
 * `admin.example.com/export`, `/export v2`; `undefined` for a class that is not a controller.
 */
function controllerRoute(cls: Function): string | undefined {
  const path: unknown = Reflect.getMetadata(PATH_METADATA, cls);
  if (path === undefined) return undefined;
  const paths = (Array.isArray(path) ? path : [path]).map((p) => `/${textOf(p).replace(/^\/+|\/+$/g, '')}`).join(',');
  const host: unknown = Reflect.getMetadata(HOST_METADATA, cls);
  const version: unknown = Reflect.getMetadata(VERSION_METADATA, cls);
  const hosts = host === undefined ? '' : (Array.isArray(host) ? host : [host]).map(textOf).join(',');
  const versions = version === undefined ? '' : ` v${(Array.isArray(version) ? version : [version]).map(textOf).join(',')}`;
  return `${hosts}${paths}${versions}`;
}

/**
 * Names the classes of one name (two or more, `classes`) by their routes in `names`, adding the
 * module of a controller whose route another of them has; throws `ERR_LLMR_NEST_AMBIGUOUS_CLASS_NAME`
 * when that still does not tell them apart (or one is not a controller).
 */
function qualifyClassesOfOneName(names: DeclarationNames, name: string, classes: readonly Function[], moduleOf: (cls: Function) => string | undefined): void {
  const routes = classes.map(controllerRoute);
  const qualifiers = routes.map((route, i) => {
    if (route === undefined) return undefined;
    if (routes.filter((r) => r === route).length === 1) return route;
    const module = moduleOf(classes[i]!);
    return module === undefined ? undefined : `${route} in ${module}`;
  });
  const ambiguous = qualifiers.some((q, i) => q === undefined || qualifiers.indexOf(q) !== i);
  if (ambiguous) {
    const described = classes.map((cls, i) => {
      const route = routes[i];
      if (route === undefined) return 'a class that is not a controller';
      const module = moduleOf(cls);
      return `a controller at ${route}${module === undefined ? '' : ` in ${module}`}`;
    });
    const shown = name === '' ? 'Several classes without a name' : `Several classes named ${name}`;
    throw new NestConfigError(
      'ERR_LLMR_NEST_AMBIGUOUS_CLASS_NAME',
      `${shown} (${described.join('; ')}) declare inbound limits whose buckets are named after their class ` +
        `(rules without an id, rules overriding another of their id with a different definition, or rules keyed by route on handlers without a route name), ` +
        `and neither their routes nor their modules tell them apart, so they would count in the same buckets. ` +
        `Rename one of the classes (e.g. V2${name || 'ExportController'}), or declare the controllers at different paths.`,
    );
  }
  classes.forEach((cls, i) => names.qualify(cls, qualifiers[i]!));
}

/**
 * Records the inbound rules every route handler of the application counts with, computed as the
 * guard does ({@link handlerInboundRules} of the module's `limits` and the class's and handler's
 * `@RateLimited`), throwing `ERR_LLMR_NEST_CONFLICTING_LIMIT_ID` at the first store id counted with
 * two definitions: peers (two controllers, two handlers of different controllers, the module's rule
 * and one built elsewhere) that give one id two sizes. A rule that replaces another by id is no peer
 * of it: it has the same definition (the same bucket) or a store id of its own. Run when the
 * application starts, so a conflicting declaration stops the boot.
 *
 * First, it names the classes whose names are in store ids ({@link DeclarationNames}, in `ids.names`):
 * two different classes of one name (controllers of two modules, made by one factory) are named by
 * their name and their controller's route, `ExportController(/v1/export)`, adding the module
 * (`moduleOf`, its name) for controllers at the same route, so they count apart; when nothing tells
 * them apart, `ERR_LLMR_NEST_AMBIGUOUS_CLASS_NAME` stops the boot. One class whose route handlers
 * serve two controllers (a method inherited by both) is one declaration: one bucket.
 *
 * @example
 * ```ts
 * recordDeclaredInboundRules(inboundRuleIdsOf(service), options.limits, discovery.getControllers().map((w) => w.metatype));
 * ```
 */
export function recordDeclaredInboundRules(
  ids: InboundRuleIds,
  moduleLimits: readonly InboundLimitRule[] | undefined,
  controllers: readonly unknown[],
  moduleOf: (cls: Function) => string | undefined = () => undefined,
): void {
  const moduleRules = toInboundLimitRules(moduleLimits ?? [], 'ResilienceModule');
  const handlers = declaredHandlers(controllers);
  const byName = new Map<string, Set<Function>>();
  const note = (cls: Function): void => {
    let classes = byName.get(cls.name);
    if (!classes) byName.set(cls.name, (classes = new Set()));
    classes.add(cls);
  };
  for (const { cls, method, options } of handlers) {
    const rules = handlerInboundRules(moduleRules, options?.limits, `${cls.name}.${method}`);
    for (const { namedAfter } of rules) if (namedAfter) note(namedAfter);
    // Without a route name, the guard counts the handler's route as `Class.method`.
    if (options?.route === undefined && rules.some(({ rule }) => keyedByRoute(rule))) note(cls);
  }
  for (const [name, classes] of byName) if (classes.size > 1) qualifyClassesOfOneName(ids.names, name, [...classes], moduleOf);
  for (const { cls, method, options } of handlers) {
    for (const { rule, where } of handlerInboundRules(moduleRules, options?.limits, `${ids.names.of(cls, cls.name)}.${method}`, ids.names)) ids.add(rule, where);
  }
}
