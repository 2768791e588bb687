import type { Identity } from '@llm-resilience/core';
import { Logger } from '@nestjs/common';
import { helpLink } from './NestConfigError';

/**
 * Code of the warning logged when a request's identity resolves to nothing while limits keyed by
 * user, team or tenant exist: those limits silently do not apply to it.
 *
 * @example
 * ```ts
 * const warnedOnce = logged.some((line) => line.startsWith(UNDEFINED_IDENTITY_CODE));
 * ```
 */
export const UNDEFINED_IDENTITY_CODE = 'ERR_LLMR_NEST_UNDEFINED_IDENTITY';

/** Dimensions a request only has when its identity gives them. */
const IDENTITY_DIMENSIONS: ReadonlySet<string> = new Set(['user', 'team', 'tenant']);

/**
 * Which limits the warning is about: the inbound ones of `ResilienceGuard`, or the policy's, which
 * the engine applies to decorated methods. Each warns once per application.
 *
 * @example
 * ```ts
 * const source: IdentityRuleSource = 'inbound';
 * ```
 */
export type IdentityRuleSource = 'inbound' | 'policy';

const logger = new Logger('ResilienceModule');
const warned = new WeakMap<object, Set<IdentityRuleSource>>();

/**
 * True when an identity has no value at all (`undefined`, or none of user, team, tenant, environment).
 *
 * @example
 * ```ts
 * isEmptyIdentity(undefined);         // true
 * isEmptyIdentity({ user: '' });      // true
 * isEmptyIdentity({ tenant: 'acme' }); // false
 * ```
 */
export function isEmptyIdentity(identity: Identity | undefined | null): boolean {
  if (typeof identity !== 'object' || identity === null) return true;
  return ![identity.user, identity.team, identity.tenant, identity.environment].some((v) => typeof v === 'string' && v !== '');
}

/**
 * Ids of the rules scoped by user, team or tenant: the rules a request without identity escapes.
 *
 * @example
 * ```ts
 * identityScopedRuleIds([{ id: 'user-rpm', scope: ['user'] }, { id: 'global', scope: [] }]); // ['user-rpm']
 * ```
 */
export function identityScopedRuleIds(rules: readonly { id: string; scope: readonly string[] }[]): string[] {
  return rules.filter((r) => r.scope.some((d) => IDENTITY_DIMENSIONS.has(d))).map((r) => r.id);
}

/**
 * True while the warning of `source` has not been logged for the application `app` (its
 * `ResilienceService`), so callers can skip the work of building it.
 *
 * @example
 * ```ts
 * if (isEmptyIdentity(identity) && shouldWarnUndefinedIdentity(service, 'policy')) warnUndefinedIdentity(service, 'policy', message);
 * ```
 */
export function shouldWarnUndefinedIdentity(app: object, source: IdentityRuleSource): boolean {
  return !warned.get(app)?.has(source);
}

/**
 * Logs `ERR_LLMR_NEST_UNDEFINED_IDENTITY` (Nest's `Logger`, context `ResilienceModule`, level warn)
 * once per application and source: the code, `message`, and the help link.
 *
 * @example
 * ```ts
 * warnUndefinedIdentity(service, 'inbound', "A request to ChatController.ask has no identity: inbound limits 'user:requests:1m' do not apply to it.");
 * ```
 */
export function warnUndefinedIdentity(app: object, source: IdentityRuleSource, message: string): void {
  let sources = warned.get(app);
  if (!sources) warned.set(app, (sources = new Set()));
  if (sources.has(source)) return;
  sources.add(source);
  logger.warn(`${UNDEFINED_IDENTITY_CODE}: ${message} See ${helpLink(UNDEFINED_IDENTITY_CODE)}.`);
}
