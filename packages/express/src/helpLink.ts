/**
 * Where the codes of this package are explained (a path in the repository, with an anchor per code).
 *
 * @example
 * ```ts
 * `${DOCS_PATH}#err_llmr_express_unknown_route`;
 * ```
 */
export const DOCS_PATH = 'docs/express.md';

/**
 * The help link of a code: `docs/express.md#<code in lower case>`.
 *
 * @example
 * ```ts
 * helpLink('ERR_LLMR_EXPRESS_UNKNOWN_ROUTE'); // 'docs/express.md#err_llmr_express_unknown_route'
 * ```
 */
export function helpLink(code: string): string {
  return `${DOCS_PATH}#${code.toLowerCase()}`;
}
