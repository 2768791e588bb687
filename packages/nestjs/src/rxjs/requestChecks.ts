import type { Resilience } from '@llm-resilience/core';
import { shown } from '../describeValue';
import { checkIdentity } from '../identityCheck';
import { NestConfigError } from '../NestConfigError';

/**
 * Checks the parts of an engine request an operator is given up front, against the engine's policy,
 * so a mistake fails when the operator is created rather than as the client's invalid request at
 * each subscription: `route` a route of the policy (`ERR_LLMR_NEST_UNKNOWN_ROUTE`), `priority` one
 * of its traffic classes (`ERR_LLMR_NEST_UNKNOWN_PRIORITY`), `identity` an identity object
 * (`ERR_LLMR_NEST_INVALID_IDENTITY`); a value of the wrong type is `ERR_LLMR_NEST_INVALID_OPTIONS`.
 * Messages start with `where` (`rateLimited`, `fromResilience request`).
 *
 * @example
 * ```ts
 * checkRequestParts(engine, { route: 'chta' }, 'rateLimited');
 * // throws: rateLimited route: 'chta' is not a route of the policy. Known routes: chat.
 * ```
 */
export function checkRequestParts(engine: Resilience, request: { route?: unknown; priority?: unknown; identity?: unknown }, where: string): void {
  const { routes, trafficClasses } = engine.policy;
  const route = request.route;
  if (typeof route !== 'string' || route === '') {
    throw new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', `${where} route: expected a route name of the policy, got ${shown(route)}.`);
  }
  if (!Object.hasOwn(routes, route)) {
    throw new NestConfigError(
      'ERR_LLMR_NEST_UNKNOWN_ROUTE',
      `${where} route: '${route}' is not a route of the policy. Known routes: ${Object.keys(routes).join(', ') || '(none)'}.`,
    );
  }
  const priority = request.priority;
  if (priority !== undefined) {
    if (typeof priority !== 'string') {
      throw new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', `${where} priority: expected a traffic class of the policy, got ${shown(priority)}.`);
    }
    if (!Object.hasOwn(trafficClasses, priority)) {
      throw new NestConfigError(
        'ERR_LLMR_NEST_UNKNOWN_PRIORITY',
        `${where} priority: '${priority}' is not a traffic class of the policy. Known traffic classes: ${Object.keys(trafficClasses).join(', ') || '(none)'}.`,
      );
    }
  }
  if (typeof request.identity !== 'function') checkIdentity(request.identity, `${where} identity`, 'is');
}
