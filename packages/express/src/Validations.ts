import type { Request } from 'express';
import type { Identity, Logger } from '@llm-resilience/core';
import { ExpressConfigError } from './ExpressConfigError';
import { helpLink } from './helpLink';
import { invalidOption, shown, typeOf } from './optionChecks';
import type { ValidationsConfig } from './types';

/**
 * Name of one start-up check (see {@link ValidationsConfig}).
 *
 * @example
 * ```ts
 * const name: ValidationName = 'xForwardedFor';
 * ```
 */
export type ValidationName = Exclude<keyof ValidationsConfig, 'default'>;

/**
 * The stable code of each check.
 *
 * @example
 * ```ts
 * VALIDATION_CODES.trustProxy; // 'ERR_LLMR_EXPRESS_PERMISSIVE_TRUST_PROXY'
 * ```
 */
export const VALIDATION_CODES: Readonly<Record<ValidationName, string>> = {
  xForwardedFor: 'ERR_LLMR_EXPRESS_UNEXPECTED_X_FORWARDED_FOR',
  trustProxy: 'ERR_LLMR_EXPRESS_PERMISSIVE_TRUST_PROXY',
  ip: 'ERR_LLMR_EXPRESS_UNDEFINED_IP',
  identity: 'ERR_LLMR_EXPRESS_UNDEFINED_IDENTITY',
  limitScope: 'ERR_LLMR_EXPRESS_LIMIT_SCOPE_UNDEFINED',
  doubleCount: 'ERR_LLMR_EXPRESS_DOUBLE_COUNT',
  estimate: 'ERR_LLMR_EXPRESS_INVALID_ESTIMATE',
  creationStack: 'ERR_LLMR_EXPRESS_CREATED_IN_REQUEST_HANDLER',
  unknownOptions: 'ERR_LLMR_EXPRESS_UNKNOWN_OPTION',
};

const NAMES = Object.keys(VALIDATION_CODES) as ValidationName[];

/**
 * A misconfiguration found by a check: logged once (never thrown), with a code and a help link.
 *
 * @example
 * ```ts
 * resilience({ engine, logger: { warn: (msg, f) => log.warn({ code: f?.code }, msg) } });
 * ```
 */
export class ValidationWarning extends Error {
  readonly code: string;
  readonly help: string;

  constructor(code: string, message: string) {
    const help = helpLink(code);
    super(`${message} See ${help}.`);
    this.name = 'ValidationWarning';
    this.code = code;
    this.help = help;
  }
}

const defaultLogger: Pick<Logger, 'warn'> = {
  warn: (message, fields) => process.emitWarning(message, { type: 'LlmResilienceWarning', code: String(fields?.code ?? '') }),
};

/**
 * The start-up checks of one middleware: each runs on requests until it fires once (a header lookup
 * or a comparison, cheap enough for the hot path), then stays quiet. Switch them with
 * {@link ValidationsConfig}.
 *
 * @example
 * ```ts
 * const v = new Validations({ xForwardedFor: false }, logger);
 * if (v.on('identity')) v.identity(identity, dims);
 * ```
 */
export class Validations {
  private readonly enabled: Record<ValidationName, boolean>;
  private readonly logger: Pick<Logger, 'warn'>;

  constructor(config: boolean | ValidationsConfig | undefined, logger?: Pick<Logger, 'warn'>) {
    this.logger = logger ?? defaultLogger;
    if (config !== undefined && typeof config !== 'boolean' && (typeof config !== 'object' || config === null || Array.isArray(config))) {
      throw invalidOption('resilience()', 'validations', 'true, false or an object of checks { default?, xForwardedFor?, ... }', shown(config));
    }
    const all = typeof config === 'boolean' ? config : (config?.default ?? true);
    const enabled = {} as Record<ValidationName, boolean>;
    for (const n of NAMES) enabled[n] = all;
    if (typeof config === 'object') {
      for (const [key, value] of Object.entries(config)) {
        if (key !== 'default' && !(NAMES as string[]).includes(key)) {
          throw new ExpressConfigError(
            'ERR_LLMR_EXPRESS_UNKNOWN_VALIDATION',
            `validations.${key} is not a known check. Known checks: ${NAMES.join(', ')}, default.`,
          );
        }
        // 'no' or 0 would otherwise switch a check on: only booleans say what is meant.
        if (value !== undefined && typeof value !== 'boolean') throw invalidOption('resilience()', `validations.${key}`, 'true or false', shown(value));
        if (key !== 'default') enabled[key as ValidationName] = value !== false;
      }
    }
    this.enabled = enabled;
  }

  /** True while the check is enabled and has not fired yet. */
  on(name: ValidationName): boolean {
    return this.enabled[name];
  }

  /** Logs the warning of `name` once and switches the check off. */
  fire(name: ValidationName, message: string): void {
    if (!this.enabled[name]) return;
    this.enabled[name] = false;
    const w = new ValidationWarning(VALIDATION_CODES[name], message);
    this.logger.warn?.(w.message, { code: w.code, help: w.help });
  }

  /** `unknownOptions`: names of options that are not in `known`. */
  unknownOptions(options: object, known: readonly string[], what: string): void {
    if (!this.enabled.unknownOptions) return;
    const unknown = Object.keys(options).filter((k) => !known.includes(k));
    if (unknown.length > 0) {
      this.fire('unknownOptions', `${what} got unknown option(s) ${unknown.map((k) => `'${k}'`).join(', ')}; known options: ${known.join(', ')}.`);
    }
  }

  /** `creationStack`: the middleware was created while Express was handling a request. */
  creationStack(what: string): void {
    if (!this.enabled.creationStack) return;
    const stack = new Error().stack ?? '';
    if (stack.includes('Layer.handleRequest') || stack.includes('Layer.handle [as handle_request]')) {
      this.fire(
        'creationStack',
        `${what} was created inside a request handler: every request gets fresh state and limits are not shared. Create it once at app start-up.`,
      );
    }
  }

  /** `xForwardedFor`, `trustProxy`, `ip`: only meaningful when the identity is derived from the IP. */
  proxy(req: Request): void {
    if (this.enabled.xForwardedFor && req.headers['x-forwarded-for'] !== undefined && req.app.get('trust proxy') === false) {
      this.fire(
        'xForwardedFor',
        `The 'X-Forwarded-For' header is set but Express's 'trust proxy' setting is false (the default), so every client behind the proxy ` +
          `shares the proxy's IP and one limit. Set app.set('trust proxy', <hops or addresses>) or pass an identity() that does not use the IP.`,
      );
    }
    if (this.enabled.trustProxy && req.app.get('trust proxy') === true) {
      this.fire(
        'trustProxy',
        `Express's 'trust proxy' setting is true, so any client can choose its IP with 'X-Forwarded-For' and escape IP-based limits. ` +
          `Set it to the number of proxies (e.g. 1) or their addresses.`,
      );
    }
    if (this.enabled.ip && req.ip === undefined) {
      this.fire('ip', `'req.ip' is undefined (the connection may be gone), so the request has no identity. Pass an identity() function.`);
    }
  }

  /** `identity`: the identity function gave nothing usable. */
  identity(identity: Identity | undefined): void {
    if (!this.enabled.identity) return;
    if (identity === undefined || identity === null) {
      this.fire('identity', `identity(req) returned undefined: limits and budgets keyed by user, team or tenant do not apply to the request. Return at least one value.`);
      return;
    }
    if (identity.user === undefined && identity.team === undefined && identity.tenant === undefined && identity.environment === undefined) {
      this.fire('identity', `identity(req) returned an identity without any value: limits and budgets keyed by user, team or tenant do not apply to the request.`);
    }
  }

  /** `limitScope`: a limit's dimension had no value, so the limit did not apply to a request. */
  limitScope(ruleId: string, dimension: string): void {
    if (!this.enabled.limitScope) return;
    this.fire(
      'limitScope',
      `Limit '${ruleId}' is scoped by '${dimension}' but a request had no ${dimension}, so the limit did not apply to it. ` +
        `Return '${dimension}' from identity(req)${dimension === 'route' ? ' (or set route/routeFor)' : ''}, or add a rule without that dimension for such requests.`,
    );
  }

  /** `estimate`: `estimate(req)` gave a field that is not a finite number >= 0; the default was used for it. */
  estimate(field: string, value: unknown, used: number): void {
    if (!this.enabled.estimate) return;
    const got = typeof value === 'number' ? String(value) : typeOf(value);
    this.fire(
      'estimate',
      `estimate(req) returned ${field}: ${got}; expected a finite number >= 0, or the field left out. The default (${used}) was reserved instead. ` +
        `Check the value before returning it (a client's max_tokens may be missing or not a number).`,
    );
  }

  /** `doubleCount`: the request already went through another `resilience()` with limits. */
  doubleCount(): void {
    this.fire(
      'doubleCount',
      `Two resilience() middlewares with limits ran on the same request, so it was counted twice. Apply limits in one place (e.g. app.use or router.use, not both).`,
    );
  }
}
