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
 * Stable codes of {@link NestConfigError}, each explained in `docs/nestjs.md`.
 *
 * @example
 * ```ts
 * if (err instanceof NestConfigError && err.code === 'ERR_LLMR_NEST_NO_MODULE') console.error(err.help);
 * ```
 */
export type NestConfigErrorCode =
  | 'ERR_LLMR_NEST_NO_MODULE'
  | 'ERR_LLMR_NEST_AMBIGUOUS_ENGINE'
  | 'ERR_LLMR_NEST_INVALID_OPTIONS'
  | 'ERR_LLMR_NEST_UNKNOWN_ROUTE'
  | 'ERR_LLMR_NEST_NO_ROUTE'
  | 'ERR_LLMR_NEST_NO_TARGET_PARAM'
  | 'ERR_LLMR_NEST_UNKNOWN_FALLBACK_METHOD'
  | 'ERR_LLMR_NEST_INVALID_LIMIT';

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
 * exist, ... Found at class definition or application start where possible, else at the first call.
 * `code` is stable (`ERR_LLMR_NEST_*`), `help` points at its explanation.
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
  constructor(code: NestConfigErrorCode, message: string) {
    const help = helpLink(code);
    super(`${message} See ${help}.`, { kind: 'invalid_request', code });
    this.help = help;
  }
}
