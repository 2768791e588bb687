import { ResilienceError } from '@llm-resilience/core';
import { helpLink } from './helpLink';

/**
 * A configuration of `resilience()`, `openAIGateway()` or `resilienceErrorHandler()` that cannot
 * work, found when it is created (before any request). `code` is stable (`ERR_LLMR_EXPRESS_*`),
 * `help` points at the explanation in `docs/express.md`.
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
