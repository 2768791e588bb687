import { ResilienceError } from '@llm-resilience/core';

/**
 * The engine picked a target that no runnable serves. Happens when a budget downgrades the request
 * to another route whose targets were not mapped with `targets`. Kind `invalid_request`: no fallback.
 *
 * @example
 * ```ts
 * withResilience(model, { engine, route: 'chat', targets: { 'cheap-a': cheapModel } }); // map downgrade targets too
 * ```
 */
export class UnmappedTargetError extends ResilienceError {
  readonly target: string;

  constructor(target: string, route: string) {
    super(
      `The engine chose target '${target}', but no runnable serves it (wrapped route '${route}'). ` +
        `Map it with withResilience({ targets: { '${target}': runnable } }) — budget downgrades can switch routes.`,
      { kind: 'invalid_request', code: 'ERR_LLMR_UNMAPPED_TARGET' },
    );
    this.target = target;
  }
}
