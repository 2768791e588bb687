import { ResilienceError } from '@llm-resilience/core';

/**
 * Where the codes of this package are explained (a path in the repository, with an anchor per code).
 *
 * @example
 * ```ts
 * `${DOCS_PATH}#err_llmr_nest_no_module`;
 * ```
 */
export const DOCS_PATH = 'docs/nestjs.md';

/**
 * Every code of {@link NestConfigError}, each explained in `docs/nestjs.md`.
 *
 * @example
 * ```ts
 * NEST_CONFIG_ERROR_CODES.includes('ERR_LLMR_NEST_NO_MODULE'); // true
 * ```
 */
export const NEST_CONFIG_ERROR_CODES = [
  'ERR_LLMR_NEST_NO_MODULE',
  'ERR_LLMR_NEST_AMBIGUOUS_ENGINE',
  'ERR_LLMR_NEST_INVALID_OPTIONS',
  'ERR_LLMR_NEST_UNKNOWN_ROUTE',
  'ERR_LLMR_NEST_UNKNOWN_PRIORITY',
  'ERR_LLMR_NEST_NO_ROUTE',
  'ERR_LLMR_NEST_NO_TARGET_PARAM',
  'ERR_LLMR_NEST_UNKNOWN_FALLBACK_METHOD',
  'ERR_LLMR_NEST_INVALID_LIMIT',
  'ERR_LLMR_NEST_CONFLICTING_LIMIT_ID',
  'ERR_LLMR_NEST_INVALID_IDENTITY',
] as const;

/**
 * Stable codes of {@link NestConfigError}, each explained in `docs/nestjs.md`.
 *
 * @example
 * ```ts
 * if (err instanceof NestConfigError && err.code === 'ERR_LLMR_NEST_NO_MODULE') console.error(err.help);
 * ```
 */
export type NestConfigErrorCode = (typeof NEST_CONFIG_ERROR_CODES)[number];

/**
 * The help link of a code: `docs/nestjs.md#<code in lower case>`.
 *
 * @example
 * ```ts
 * helpLink('ERR_LLMR_NEST_NO_MODULE'); // 'docs/nestjs.md#err_llmr_nest_no_module'
 * ```
 */
export function helpLink(code: string): string {
  return `${DOCS_PATH}#${code.toLowerCase()}`;
}

/**
 * The NestJS adapter is set up in a way that cannot work: a decorated method ran without
 * `ResilienceModule`, a decorator names a route the policy does not have, a fallback method does not
 * exist, an `identity` function returned something that is not an identity, ... Found at class
 * definition or application start where possible, else at the call.
 * `code` is stable (`ERR_LLMR_NEST_*`), `help` points at its explanation.
 *
 * Its `kind` is `invalid_request` (the core's taxonomy), but it is a fault of the server, never of
 * the client: when one reaches an HTTP response, `ResilienceInterceptor` and
 * `ResilienceExceptionFilter` leave it to Nest, which logs it and answers a plain 500.
 *
 * @example
 * ```ts
 * try { await support.reply('u1', 'hi'); }
 * catch (e) { if (e instanceof NestConfigError) console.error(e.code, e.help); }
 * ```
 */
export class NestConfigError extends ResilienceError {
  /** Where the code is explained. */
  readonly help: string;
  /** `options.cause`: the error behind it (e.g. the core's own error for an option of the engine the module builds). */
  constructor(code: NestConfigErrorCode, message: string, options: { cause?: unknown } = {}) {
    const help = helpLink(code);
    super(`${message} See ${help}.`, { kind: 'invalid_request', code, ...(options.cause !== undefined ? { cause: options.cause } : {}) });
    this.help = help;
  }
}

/**
 * The {@link NestConfigError} behind `err`: `err` itself, or one of its `cause`s (the engine wraps an
 * error thrown by the model call, e.g. by a decorated method called inside another one). Matched by
 * code, so a second copy of this package (CommonJS beside ES modules) is recognised too.
 *
 * @example
 * ```ts
 * if (nestConfigErrorIn(err)) return res.status(500).end(); // our fault, not the client's
 * ```
 */
export function nestConfigErrorIn(err: unknown): (Error & { code: NestConfigErrorCode }) | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (e instanceof Error && typeof code === 'string' && (NEST_CONFIG_ERROR_CODES as readonly string[]).includes(code)) {
      return e as Error & { code: NestConfigErrorCode };
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
