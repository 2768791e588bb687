import type { PolicyIssue } from '../errors/ResilienceError';

/** What names a policy's references may point at. */
export interface PolicyNames {
  targets: readonly string[];
  trafficClasses: readonly string[];
  routes: readonly string[];
}

const quoted = (names: readonly string[]): string => names.map((k) => `'${k}'`).join(', ');

/**
 * The problem of a chain entry naming no target, or undefined when it names one.
 *
 * @example
 * ```ts
 * unknownTarget('chat', 1, 'nope', names); // { path: 'routes.chat.chain[1]', message: "expected the name of a target (one of 'a'), got 'nope'" }
 * ```
 */
export function unknownTarget(route: string, index: number, entry: string, names: PolicyNames): PolicyIssue | undefined {
  if (names.targets.includes(entry)) return undefined;
  return {
    path: `routes.${route}.chain[${index}]`,
    message: `expected the name of a target (one of ${quoted(names.targets) || 'none defined'}), got '${entry}'`,
  };
}

/**
 * The problem of a route priority naming no traffic class, or undefined.
 *
 * @example
 * ```ts
 * unknownTrafficClass('chat', 'urgent', names); // { path: 'routes.chat.priority', message: "expected a traffic class (one of 'live', ...), got 'urgent'" }
 * ```
 */
export function unknownTrafficClass(route: string, priority: string, names: PolicyNames): PolicyIssue | undefined {
  if (names.trafficClasses.includes(priority)) return undefined;
  return { path: `routes.${route}.priority`, message: `expected a traffic class (one of ${quoted(names.trafficClasses)}), got '${priority}'` };
}

/**
 * The problem of a budget's `downgradeTo` naming no route, or undefined.
 *
 * @example
 * ```ts
 * unknownRoute(0, 'cheap', names); // { path: 'budgets[0].downgradeTo', message: "expected the name of a route (one of 'chat'), got 'cheap'" }
 * ```
 */
export function unknownRoute(budget: number, route: string, names: PolicyNames): PolicyIssue | undefined {
  if (names.routes.includes(route)) return undefined;
  return { path: `budgets[${budget}].downgradeTo`, message: `expected the name of a route (one of ${quoted(names.routes)}), got '${route}'` };
}

/**
 * Where a `match` is: a limit rule or a budget, and its index.
 *
 * @example
 * ```ts
 * const owner: MatchOwner = { kind: 'limits', index: 0, scope: ['user'] };
 * ```
 */
export interface MatchOwner {
  kind: 'limits' | 'budgets';
  index: number;
  /** The owner's scope: a limit matches `provider` / `model` only when target-scoped. */
  scope: readonly string[];
}

/**
 * The provider and model names of a policy's targets, inline chain targets included.
 *
 * @example
 * ```ts
 * const names: TargetNames = { providers: ['openai'], models: ['gpt-4o-mini'] };
 * ```
 */
export interface TargetNames {
  providers: readonly string[];
  models: readonly string[];
}

/**
 * The problems of a limit's or budget's `match` that would make it never apply: a `route` naming no
 * route; a `provider` or `model` naming none of the targets' (the engine matches the target being
 * tried, always one of the policy's); a `provider` or `model` on a budget or on a limit whose scope
 * has neither (both are reserved once per request, before a target is chosen). `targets` undefined
 * checks `route` only.
 *
 * @example
 * ```ts
 * matchIssues({ kind: 'limits', index: 0, scope: ['user'] }, { route: 'chta' }, names);
 * // [{ path: 'limits[0].match.route', message: "expected the name of a route (one of 'chat'), got 'chta'" }]
 * ```
 */
export function matchIssues(
  owner: MatchOwner,
  match: Readonly<Record<string, string | undefined>> | undefined,
  names: Pick<PolicyNames, 'routes'>,
  targets?: TargetNames,
): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  if (match === undefined) return out;
  const at = `${owner.kind}[${owner.index}].match`;
  const route = match['route'];
  if (typeof route === 'string' && !names.routes.includes(route)) {
    out.push({ path: `${at}.route`, message: `expected the name of a route (one of ${quoted(names.routes)}), got '${route}'` });
  }
  if (targets === undefined) return out;
  const targetScoped = owner.kind === 'limits' && (owner.scope.includes('provider') || owner.scope.includes('model'));
  for (const dim of ['provider', 'model'] as const) {
    const value = match[dim];
    if (typeof value !== 'string') continue;
    if (!targetScoped) {
      const why =
        owner.kind === 'budgets'
          ? 'a budget is reserved once per request, before a target is chosen'
          : "a rule whose scope has neither 'provider' nor 'model' is reserved once per request, before a target is chosen";
      out.push({
        path: `${at}.${dim}`,
        message: `expected no '${dim}' match here (${why}, so it would never apply), got '${value}'${owner.kind === 'limits' ? `; add '${dim}' to the scope` : "; cap a model's spend with a limit rule { metric: 'cost' } instead"}`,
      });
      continue;
    }
    const known = dim === 'provider' ? targets.providers : targets.models;
    if (!known.includes(value)) {
      out.push({ path: `${at}.${dim}`, message: `expected the ${dim} of a target (one of ${quoted(known) || 'none defined'}), got '${value}'` });
    }
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The reference problems of a policy whose shape is invalid, read from the raw input as far as it
 * can be: chain entries naming no target, priorities naming no traffic class, budgets downgrading to
 * no route, limits and budgets matching no route. So a config with a shape error and a misspelt
 * target name reports both at once. Never
 * throws (a hostile input gives what was read before it threw).
 *
 * @example
 * ```ts
 * referenceIssuesOfRaw({ targets: { a: {} }, routes: { chat: { chain: ['b'] } } }, ['live', 'batch', 'experiment']);
 * // [{ path: 'routes.chat.chain[0]', message: "expected the name of a target (one of 'a'), got 'b'" }]
 * ```
 */
export function referenceIssuesOfRaw(input: unknown, defaultTrafficClasses: readonly string[]): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  const push = (issue: PolicyIssue | undefined): void => {
    if (issue !== undefined) out.push(issue);
  };
  try {
    if (!isRecord(input)) return out;
    const routes = isRecord(input['routes']) ? input['routes'] : {};
    const classes = isRecord(input['trafficClasses']) ? Object.keys(input['trafficClasses']) : [];
    const names: PolicyNames = {
      targets: isRecord(input['targets']) ? Object.keys(input['targets']) : [],
      trafficClasses: [...new Set([...defaultTrafficClasses, ...classes])],
      routes: Object.keys(routes),
    };
    for (const [name, r] of Object.entries(routes)) {
      if (!isRecord(r)) continue;
      const chain = r['chain'];
      if (Array.isArray(chain)) chain.forEach((e: unknown, i) => typeof e === 'string' && push(unknownTarget(name, i, e, names)));
      const priority = r['priority'];
      if (typeof priority === 'string') push(unknownTrafficClass(name, priority, names));
    }
    const budgets = input['budgets'];
    if (Array.isArray(budgets)) {
      budgets.forEach((b: unknown, i) => {
        const to = isRecord(b) ? b['downgradeTo'] : undefined;
        if (typeof to === 'string') push(unknownRoute(i, to, names));
        if (isRecord(b) && isRecord(b['match'])) out.push(...matchIssues({ kind: 'budgets', index: i, scope: [] }, b['match'] as Record<string, string>, names));
      });
    }
    const limits = input['limits'];
    if (Array.isArray(limits)) {
      limits.forEach((l: unknown, i) => {
        if (isRecord(l) && isRecord(l['match'])) out.push(...matchIssues({ kind: 'limits', index: i, scope: [] }, l['match'] as Record<string, string>, names));
      });
    }
  } catch {
    // A throwing getter or Proxy: keep what was found before it.
  }
  return out;
}
