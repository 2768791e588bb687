import type { ErrorKind } from './ErrorKind';

/**
 * Base class of every error the core throws. `kind` places it in the taxonomy, `code` is stable
 * (`ERR_LLMR_*`) and safe to match on.
 *
 * @example
 * ```ts
 * try { await engine.execute(req, call); }
 * catch (e) { if (e instanceof ResilienceError && e.kind === 'rate_limited') retryLater(e.retryAfterMs); }
 * ```
 */
export class ResilienceError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  /** When the same request could pass again, if known. */
  readonly retryAfterMs?: number;
  /** The audience-appropriate message for end users (never provider names or quota numbers for customers). */
  userMessage?: string;

  constructor(
    message: string,
    opts: { kind: ErrorKind; code: string; retryAfterMs?: number; cause?: unknown; userMessage?: string },
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.kind = opts.kind;
    this.code = opts.code;
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
    if (opts.userMessage !== undefined) this.userMessage = opts.userMessage;
  }
}

/**
 * One problem found in a policy: where (`routes.support_reply.chain[1].model`) and what was expected.
 *
 * @example
 * ```ts
 * const issue: PolicyIssue = { path: 'limits[0].window', message: "expected a window, got '1y'" };
 * ```
 */
export interface PolicyIssue {
  path: string;
  message: string;
}

/**
 * Thrown by `definePolicy` at start-up when the configuration is invalid; lists every problem.
 *
 * @example
 * ```ts
 * try { definePolicy(config); } catch (e) { if (e instanceof PolicyConfigError) console.error(e.issues); }
 * ```
 */
export class PolicyConfigError extends ResilienceError {
  readonly issues: PolicyIssue[];

  constructor(issues: PolicyIssue[]) {
    super(
      `Invalid llm-resilience policy (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
      { kind: 'invalid_request', code: 'ERR_LLMR_INVALID_POLICY' },
    );
    this.issues = issues;
  }
}
