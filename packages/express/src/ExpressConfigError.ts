import { ResilienceError } from '@llm-resilience/core';
import { helpLink } from './helpLink';

/**
 * A configuration of `resilience()`, `openAIGateway()` or `resilienceErrorHandler()` that cannot
 * work, found when it is created (before any request), or met on a request when an option's
 * function returns the wrong kind of value (`identity(req)` giving `{ user: req.user }`). `code` is
 * stable (`ERR_LLMR_EXPRESS_*`), `help` points at the explanation in `docs/express.md`.
 *
 * Its `kind` is `invalid_request` (it is a `ResilienceError`), but on a request it is the server's
 * fault: `resilienceErrorHandler()` passes it to `next(err)` (a 500) instead of answering 400, and
 * the gateway answers it with 500 `ERR_LLMR_EXPRESS_GATEWAY_FAILED`. A handler of your own that
 * calls `httpErrorOf(err)` should check `err instanceof ExpressConfigError` first.
 *
 * @example
 * ```ts
 * try { resilience({ engine, route: 'typo' }); }
 * catch (e) { if (e instanceof ExpressConfigError) console.error(e.code, e.help); }
 * ```
 */
export class ExpressConfigError extends ResilienceError {
  /** Where the code is explained. */
  readonly help: string;

  constructor(code: string, message: string) {
    const help = helpLink(code);
    super(`${message} See ${help}.`, { kind: 'invalid_request', code });
    this.help = help;
  }
}
