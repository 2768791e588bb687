import type { Resilience } from '@llm-resilience/core';
import { ExpressConfigError } from './ExpressConfigError';
import { AUDIENCES, checkAudience, checkBooleans, checkFunctions, checkLogger, hasRoute, invalidOption, shown, typeOf } from './optionChecks';
import type { ResilienceMiddlewareOptions } from './types';

const WHAT = 'resilience()';
const DRAFTS: readonly unknown[] = ['draft-6', 'draft-7', 'draft-8', false];
const FUNCTIONS: Readonly<Record<string, string>> = {
  identity: '(req) => identity',
  routeFor: '(req) => route name',
  priority: '(req) => traffic class',
  estimate: '(req) => { inputTokens?, outputTokens?, costUsd? }',
  onLimited: '(req, res, next, info) => void',
  requestId: '(req) => string',
};

/**
 * The start-up checks of the options of `resilience()` besides `engine`, `limits` rules and
 * `validations` (checked where they are read): every option of the wrong type or out of range
 * throws an {@link ExpressConfigError} naming it and what it must be, before any request.
 *
 * @example
 * ```ts
 * checkResilienceOptions({ engine, estimate: 5 as never }, engine);
 * // throws ERR_LLMR_EXPRESS_INVALID_OPTION: resilience(): estimate must be a function (req) => ..., got a number.
 * ```
 */
export function checkResilienceOptions(options: ResilienceMiddlewareOptions, engine: Resilience): void {
  const routes = engine.policy.routes;
  if (options.route !== undefined) {
    if (typeof options.route !== 'string') throw invalidOption(WHAT, 'route', 'the name of a route of the policy', typeOf(options.route));
    if (!hasRoute(routes, options.route)) {
      throw new ExpressConfigError(
        'ERR_LLMR_EXPRESS_UNKNOWN_ROUTE',
        `${WHAT}: route '${options.route}' is not in the policy. Known routes: ${Object.keys(routes).join(', ')}.`,
      );
    }
  }
  if (options.standardHeaders !== undefined && !DRAFTS.includes(options.standardHeaders)) {
    throw new ExpressConfigError(
      'ERR_LLMR_EXPRESS_HEADERS_DRAFT',
      `${WHAT}: standardHeaders must be 'draft-6', 'draft-7', 'draft-8' or false; got ${shown(options.standardHeaders)}.`,
    );
  }
  if (options.limits !== undefined && !Array.isArray(options.limits)) {
    throw invalidOption(WHAT, 'limits', 'an array of rules', typeOf(options.limits), 'ERR_LLMR_EXPRESS_INVALID_LIMIT');
  }
  checkFunctions(WHAT, options, FUNCTIONS);
  checkBooleans(WHAT, options, ['legacyHeaders']);
  checkAudience(WHAT, options.audience, true);
  checkLimitMessages(options.limitMessages);
  checkLogger(WHAT, options.logger, 'warn', true);
}

function checkLimitMessages(messages: unknown): void {
  if (messages === undefined) return;
  const expected = "an object { customer?: string, internal?: string }";
  if (typeof messages !== 'object' || messages === null || Array.isArray(messages)) throw invalidOption(WHAT, 'limitMessages', expected, typeOf(messages));
  for (const [key, value] of Object.entries(messages)) {
    if (!AUDIENCES.includes(key)) throw invalidOption(WHAT, 'limitMessages', `${expected} (keys are audiences)`, `a key ${shown(key)}`);
    if (value !== undefined && typeof value !== 'string') throw invalidOption(WHAT, `limitMessages.${key}`, 'a string', typeOf(value));
  }
}
