import { MAX_TIMER_MS } from '@llm-resilience/core';
import { isPlainObject, shown, typeOf } from './describeValue';
import { engineProblem } from './engineCheck';
import { toInboundLimitRules } from './http/inboundRules';
import { unknownKey } from './knownKeys';
import { NestConfigError } from './NestConfigError';
import type { ResilienceModuleAsyncOptions, ResilienceModuleOptions } from './types';

/** Options that configure an engine the module builds, so they mean nothing next to `engine`. */
const ENGINE_BUILD_OPTIONS = ['store', 'clock', 'logger', 'metrics', 'engineOptions'] as const;

/** Every option of `ResilienceModule.forRoot` (and of what a `forRootAsync` factory makes). */
const MODULE_OPTIONS: readonly (keyof ResilienceModuleOptions)[] = [
  'engine',
  'policy',
  'store',
  'clock',
  'logger',
  'metrics',
  'engineOptions',
  'shutdownEngine',
  'drainTimeoutMs',
  'identity',
  'limits',
  'audience',
];

/** Every option of `ResilienceModule.forRootAsync`. */
const ASYNC_OPTIONS: readonly (keyof ResilienceModuleAsyncOptions)[] = ['imports', 'useFactory', 'inject', 'useClass', 'useExisting', 'extraProviders'];
const ASYNC_SOURCES = ['useFactory', 'useClass', 'useExisting'] as const;

function invalid(message: string, cause?: unknown): NestConfigError {
  return new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', message, { cause });
}

/**
 * Checks that module options name exactly one engine source: an `engine` (from `createResilience`:
 * a `Resilience`, checked by what the module uses of it) or a `policy` to build one from. Throws
 * `ERR_LLMR_NEST_INVALID_OPTIONS` prefixed with `where`.
 *
 * @example
 * ```ts
 * checkEngineSource({ engine, policy }, 'ResilienceModule.forRoot'); // throws: give either `engine` ... or `policy`, not both
 * ```
 */
export function checkEngineSource(options: unknown, where: string): asserts options is ResilienceModuleOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid(`${where}: expected an options object ({ engine } or { policy }), got ${typeOf(options)}.`);
  }
  const o = options as ResilienceModuleOptions;
  if (o.engine !== undefined) {
    if (o.policy !== undefined) {
      throw invalid(`${where}: give either \`engine\` (shared with other adapters) or \`policy\` (the module builds an engine), not both.`);
    }
    const problem = engineProblem(o.engine);
    if (problem !== undefined) throw invalid(`${where}: \`engine\` must be a Resilience engine (from createResilience), got ${problem}.`);
    return;
  }
  if (o.policy === undefined) {
    throw invalid(
      `${where}: no engine. Pass \`engine\` (an engine from createResilience, to share it with other adapters) or \`policy\` (from definePolicy).`,
    );
  }
  if (typeof o.policy !== 'object' || o.policy === null || Array.isArray(o.policy)) {
    throw invalid(`${where} policy: expected a policy (from definePolicy) or a policy config object, got ${typeOf(o.policy)}.`);
  }
}

/** createResilience options that are module options of their own: inside `engineOptions` they are refused. */
const ENGINE_OPTIONS_AT_TOP_LEVEL = ['store', 'clock', 'logger', 'metrics'] as const;

/**
 * Checks `engineOptions`: a plain object, without `store`, `clock`, `logger` or `metrics` (options of
 * the module itself, which the module would put over those of `engineOptions`: given in both places,
 * one would be dropped without a word). Throws `ERR_LLMR_NEST_INVALID_OPTIONS` naming
 * `engineOptions.<key>` after `where`.
 *
 * @example
 * ```ts
 * checkEngineOptions({ policy, engineOptions: { store } }, 'ResilienceModule.forRoot');
 * // throws: ResilienceModule.forRoot engineOptions.store: not an option of engineOptions; give it as the top-level `store` option ...
 * ```
 */
export function checkEngineOptions(options: ResilienceModuleOptions, where: string): void {
  const engineOptions: unknown = options.engineOptions;
  if (engineOptions === undefined) return;
  if (!isPlainObject(engineOptions)) {
    throw invalid(`${where} engineOptions: expected a plain object of createResilience options, got ${shown(engineOptions)}.`);
  }
  for (const name of ENGINE_OPTIONS_AT_TOP_LEVEL) {
    if (engineOptions[name] === undefined) continue;
    const both = options[name] !== undefined ? `; next to the top-level \`${name}\` one of them would be dropped without a word` : '';
    throw invalid(
      `${where} engineOptions.${name}: not an option of engineOptions${both}. Use the top-level \`${name}\` option of the module: { policy, ${name} }.`,
    );
  }
}

/**
 * Checks every option of `ResilienceModule` when the application starts (the providers of
 * `forRoot` / `forRootAsync` call it), so a mistake stops the boot instead of failing each request:
 * no unknown option (a misspelt `limts` would be ignored); one engine source
 * ({@link checkEngineSource}); no engine-building options (`store`, `clock`, `logger`, `metrics`,
 * `engineOptions`) beside an `engine` passed in, which would ignore them; `engineOptions` a plain
 * object without `store`, `clock`, `logger` or `metrics` ({@link checkEngineOptions}); `identity` a function; `audience` `internal` or `customer`; `limits` valid inbound rules
 * (the same `ERR_LLMR_NEST_INVALID_LIMIT` as `@RateLimited({ limits })`); `shutdownEngine` a boolean;
 * `drainTimeoutMs` a number of ms from 0 to 2^31 - 1, and only for an engine the module shuts down (a
 * module-built one, or `engine` with `shutdownEngine: true`), which alone it drains. Errors name the option after `where` and show a value
 * only when it is a number, a boolean or a short string (else its type: `got a bigint`)
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
  const unknown = unknownKey(options, MODULE_OPTIONS);
  if (unknown) throw invalid(`${where} ${unknown.key}: ${unknown.problem}.`);
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
  checkEngineOptions(options, where);
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
  if (drain !== undefined && !(typeof drain === 'number' && Number.isFinite(drain) && drain >= 0 && drain <= MAX_TIMER_MS)) {
    // Node fires a longer timer after 1 ms: the engine would stop at once instead of draining.
    throw invalid(`${where} drainTimeoutMs: expected a number of ms from 0 to ${MAX_TIMER_MS} (about 24.8 days, the longest timer Node keeps), got ${shown(drain)}.`);
  }
  if (drain !== undefined && !(options.shutdownEngine ?? options.engine === undefined)) {
    // Only an engine the module shuts down is drained by it (ResilienceService): the option would do nothing.
    throw invalid(
      options.engine !== undefined
        ? `${where} drainTimeoutMs: bounds the drain of an engine the module shuts down; an engine passed in as \`engine\` is not shut down by the module ` +
            `unless \`shutdownEngine: true\`, so it would be ignored. Add \`shutdownEngine: true\`, or drop it and call ` +
            `engine.shutdown({ drain: true, timeoutMs }) yourself after app.close().`
        : `${where} drainTimeoutMs: bounds the drain of an engine the module shuts down; with \`shutdownEngine: false\` it would be ignored. ` +
            `Drop \`shutdownEngine: false\`, or drop it and call engine.shutdown({ drain: true, timeoutMs }) yourself after app.close().`,
    );
  }
  return options;
}

/** Options of `ResilienceModule` that the module passes to `createResilience` under the same name. */
const TOP_LEVEL_ENGINE_OPTIONS = new Set<string>(['store', 'clock', 'logger', 'metrics']);

/** `- options.<key><rest of the path>: <problem>`, a line of the core's `ERR_LLMR_INVALID_OPTIONS`. */
const CORE_OPTION_PROBLEM = /^\s*-\s+options\.([A-Za-z_$][\w$]*)([^\s:]*): (.+)$/;

/**
 * The error to throw for `err`, thrown by `createResilience` while the module builds its engine from
 * `options`: the core's own setup errors become a {@link NestConfigError} `ERR_LLMR_NEST_INVALID_OPTIONS`
 * naming the module option after `where` (with the core's error as `cause`), so a bad option stops the
 * boot like every other one. An invalid createResilience option (`ERR_LLMR_INVALID_OPTIONS`) is named
 * as the module option it came from (`store`, `clock`, `logger`, `metrics`, or `engineOptions.<key>`);
 * an invalid raw policy config (`PolicyConfigError`, `ERR_LLMR_INVALID_POLICY`) as `policy`, with every
 * bad path of the core's message. Matched by code, so errors of another copy of the core are
 * recognised too. Any other error is returned unchanged.
 *
 * @example
 * ```ts
 * try { createResilience(policy, { store: 'redis' }); } catch (e) { throw engineBuildError(e, { policy, store: 'redis' }, 'ResilienceModule.forRoot'); }
 * // NestConfigError: "ResilienceModule.forRoot store: expected an object with reserve() and adjust(), got string. See docs/nestjs.md#err_llmr_nest_invalid_options."
 * ```
 */
export function engineBuildError(err: unknown, options: ResilienceModuleOptions, where: string): unknown {
  if (!(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  if (code === 'ERR_LLMR_INVALID_POLICY') return invalid(sentence(`${where} policy: ${err.message}`), err);
  if (code !== 'ERR_LLMR_INVALID_OPTIONS') return err;
  const given = options as Record<string, unknown>;
  const problems: string[] = [];
  const names: string[] = [];
  for (const line of err.message.split('\n')) {
    const m = CORE_OPTION_PROBLEM.exec(line);
    if (!m) continue;
    const [, key, path, problem] = m as unknown as [string, string, string, string];
    const name = TOP_LEVEL_ENGINE_OPTIONS.has(key) && given[key] !== undefined ? key : `engineOptions.${key}`;
    if (!names.includes(name)) names.push(name);
    problems.push(`${name}${path}: ${problem}`);
  }
  if (problems.length === 0) return invalid(sentence(`${where}: ${err.message}`), err);
  if (problems.length === 1) return invalid(`${where} ${problems[0]}.`, err);
  return invalid(`${where} ${names.join(', ')}: invalid createResilience options:\n${problems.map((p) => `  - ${p}`).join('\n')}.`, err);
}

/**
 * Checks the options of `ResilienceModule.forRootAsync` when it is called: an object; no unknown
 * option; exactly one of `useFactory` (a function), `useClass` (a class) and `useExisting` (a class
 * or token); `imports`, `inject` and `extraProviders` arrays; `inject` only with `useFactory` (the
 * arguments it is called with: next to `useClass` / `useExisting` it would be ignored). Throws `ERR_LLMR_NEST_INVALID_OPTIONS`
 * naming the option (`ResilienceModule.forRootAsync useFactory: expected a function ...`).
 *
 * @example
 * ```ts
 * checkAsyncOptions({ useFactory: 'x' }); // throws: ResilienceModule.forRootAsync useFactory: expected a function (...deps) => options, got 'x'.
 * ```
 */
export function checkAsyncOptions(options: unknown, where = 'ResilienceModule.forRootAsync'): asserts options is ResilienceModuleAsyncOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid(`${where}: expected { useFactory, inject? }, { useClass } or { useExisting }, got ${typeOf(options)}.`);
  }
  const unknown = unknownKey(options, ASYNC_OPTIONS);
  if (unknown) throw invalid(`${where} ${unknown.key}: ${unknown.problem}.`);
  const o = options as Record<string, unknown>;
  const given = ASYNC_SOURCES.filter((k) => o[k] !== undefined);
  if (given.length === 0) throw invalid(`${where}: give one of useFactory, useClass or useExisting.`);
  if (given.length > 1) throw invalid(`${where}: give only one of useFactory, useClass or useExisting, got ${given.join(' and ')}.`);
  if (o.useFactory !== undefined && typeof o.useFactory !== 'function') {
    throw invalid(`${where} useFactory: expected a function (...deps) => options, got ${shown(o.useFactory)}.`);
  }
  if (o.useClass !== undefined && typeof o.useClass !== 'function') {
    throw invalid(`${where} useClass: expected a class implementing ResilienceOptionsFactory, got ${shown(o.useClass)}.`);
  }
  if (o.useExisting !== undefined && !['function', 'string', 'symbol'].includes(typeof o.useExisting)) {
    throw invalid(`${where} useExisting: expected a class (or token) of a provider implementing ResilienceOptionsFactory, got ${shown(o.useExisting)}.`);
  }
  for (const name of ['imports', 'inject', 'extraProviders'] as const) {
    if (o[name] !== undefined && !Array.isArray(o[name])) throw invalid(`${where} ${name}: expected an array, got ${shown(o[name])}.`);
  }
  if (o.inject !== undefined && o.useFactory === undefined) {
    // Nest injects the dependencies of a useClass / useExisting factory by its constructor: `inject` would be ignored.
    const source = o.useClass !== undefined ? 'useClass' : 'useExisting';
    throw invalid(
      `${where} inject: lists the arguments of useFactory; next to ${source} it would be ignored. ` +
        `Inject what the options class needs through its constructor (and its module in \`imports\`), or use { useFactory, inject }.`,
    );
  }
}

/**
 * The options an options factory (`forRootAsync({ useClass })` / `({ useExisting })`) makes, after
 * checking that it has a `createResilienceOptions()` method. Throws `ERR_LLMR_NEST_INVALID_OPTIONS`
 * naming the factory otherwise (at start-up, when Nest creates the factory).
 *
 * @example
 * ```ts
 * const options = await optionsFromFactory(factory, 'useClass', 'ResilienceModule.forRootAsync');
 * ```
 */
export function optionsFromFactory(factory: unknown, option: 'useClass' | 'useExisting', where: string): unknown {
  const create = (factory as { createResilienceOptions?: unknown } | null | undefined)?.createResilienceOptions;
  if (typeof create !== 'function') {
    const name = (factory as { constructor?: { name?: string } } | null | undefined)?.constructor?.name || typeOf(factory);
    throw invalid(`${where} ${option}: ${name} has no createResilienceOptions() method; implement ResilienceOptionsFactory.`);
  }
  return (create as () => unknown).call(factory);
}

/** `text` ending with a full stop (the core's messages end without one), before the help link. */
function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
