import { ResilienceError } from '@llm-resilience/core';

/**
 * A reply failed the adapter's `output` schema (`withResilience({ output })`), or the wrapped runnable
 * could not parse it (an output parser's error, `cause`) on a route without an `output` schema. Kind
 * `validation_failed`, so the engine falls back when the route's `fallbackOn` includes it (default).
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof ChainExhaustedError && e.kind === 'validation_failed') review(e.record); }
 * ```
 */
export class OutputValidationError extends ResilienceError {
  readonly target: string;
  readonly reason: string;

  constructor(target: string, reason: string, cause?: unknown) {
    super(`The reply of '${target}' failed the output schema: ${reason}. Tighten the prompt or fall back to a model that follows it.`, {
      kind: 'validation_failed',
      code: 'ERR_LLMR_INVALID_OUTPUT',
      ...(cause !== undefined ? { cause } : {}),
    });
    this.target = target;
    this.reason = reason;
  }
}
