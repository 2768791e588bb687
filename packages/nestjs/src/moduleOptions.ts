import type { Resilience } from '@llm-resilience/core';
import { toInboundLimitRules } from './http/inboundRules';
import { NestConfigError } from './NestConfigError';
import type { ResilienceModuleOptions } from './types';

/** Options that configure an engine the module builds, so they mean nothing next to `engine`. */
const ENGINE_BUILD_OPTIONS = ['store', 'clock', 'logger', 'metrics', 'engineOptions'] as const;

function shown(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

function invalid(message: string): NestConfigError {
  return new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', message);
}

/**
 * Checks that module options name exactly one engine source: an `engine` (from `createResilience`)
 * or a `policy` to build one from. Throws `ERR_LLMR_NEST_INVALID_OPTIONS` prefixed with `where`.
 *
 * @example
 * ```ts
 * checkEngineSource({ engine, policy }, 'ResilienceModule.forRoot'); // throws: give either `engine` ... or `policy`, not both
 * ```
 */
export function checkEngineSource(options: unknown, where: string): asserts options is ResilienceModuleOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid(`${where}: expected an options object, got ${JSON.stringify(options) ?? String(options)}.`);
  }
  const o = options as ResilienceModuleOptions;
  if (o.engine !== undefined) {
    if (o.policy !== undefined) {
      throw invalid(`${where}: give either \`engine\` (shared with other adapters) or \`policy\` (the module builds an engine), not both.`);
    }
    if (typeof o.engine !== 'object' || o.engine === null || typeof (o.engine as Partial<Resilience>).execute !== 'function') {
      throw invalid(`${where}: \`engine\` must be a Resilience engine (from createResilience).`);
    }
    return;
  }
  if (o.policy === undefined) {
    throw invalid(
      `${where}: no engine. Pass \`engine\` (an engine from createResilience, to share it with other adapters) or \`policy\` (from definePolicy).`,
    );
  }
}

/**
 * Checks every option of `ResilienceModule` when the application starts (the providers of
 * `forRoot` / `forRootAsync` call it), so a mistake stops the boot instead of failing each request:
 * one engine source ({@link checkEngineSource}); no engine-building options (`store`, `clock`,
 * `logger`, `metrics`, `engineOptions`) beside an `engine` passed in, which would ignore them;
 * `identity` a function; `audience` `internal` or `customer`; `limits` valid inbound rules (the same
 * `ERR_LLMR_NEST_INVALID_LIMIT` as `@RateLimited({ limits })`); `shutdownEngine` a boolean;
 * `drainTimeoutMs` a non-negative number. Errors name the option after `where`
 * (`ResilienceModule.forRoot limits[0].limit: expected a positive number, got -1`). Returns the
 * options unchanged.
 *
 * @example
 * ```ts
 * checkModuleOptions({ engine, audience: 'everyone' }, 'ResilienceModule.forRoot');
 * // NestConfigError ERR_LLMR_NEST_INVALID_OPTIONS: "ResilienceModule.forRoot audience: expected 'internal' or 'customer', got 'everyone'. ..."
 * ```
 */
export function checkModuleOptions(options: unknown, where: string): ResilienceModuleOptions {
  checkEngineSource(options, where);
  if (options.engine !== undefined) {
    for (const name of ENGINE_BUILD_OPTIONS) {
      if (options[name] !== undefined) {
        throw invalid(
          `${where} ${name}: configures the engine the module builds from \`policy\`; next to \`engine\` it would be ignored. ` +
            `Pass it to createResilience(policy, { ${name} }) where the engine is created.`,
        );
      }
    }
  }
  if (options.engineOptions !== undefined && (typeof options.engineOptions !== 'object' || options.engineOptions === null)) {
    throw invalid(`${where} engineOptions: expected an object of createResilience options, got ${shown(options.engineOptions)}.`);
  }
  if (options.identity !== undefined && typeof options.identity !== 'function') {
    throw invalid(`${where} identity: expected a function (context) => Identity | undefined, got ${shown(options.identity)}.`);
  }
  if (options.audience !== undefined && options.audience !== 'internal' && options.audience !== 'customer') {
    throw invalid(`${where} audience: expected 'internal' or 'customer', got ${shown(options.audience)}.`);
  }
  if (options.limits !== undefined) toInboundLimitRules(options.limits, where);
  if (options.shutdownEngine !== undefined && typeof options.shutdownEngine !== 'boolean') {
    throw invalid(`${where} shutdownEngine: expected true or false, got ${shown(options.shutdownEngine)}.`);
  }
  const drain = options.drainTimeoutMs;
  if (drain !== undefined && !(typeof drain === 'number' && Number.isFinite(drain) && drain >= 0)) {
    throw invalid(`${where} drainTimeoutMs: expected a number of ms (0 or more), got ${shown(drain)}.`);
  }
  return options;
}
