import { ResilienceError } from '@llm-resilience/core';

/**
 * The abort reason when the client disconnects before the response finished; the engine
 * classifies the aborted call as `cancelled`.
 *
 * @example
 * ```ts
 * req.resilience.signal.addEventListener('abort', () => console.log(req.resilience.signal.reason instanceof ClientDisconnectedError));
 * ```
 */
export class ClientDisconnectedError extends ResilienceError {
  constructor() {
    super('The client closed the connection before the response was complete; the model call was aborted.', {
      kind: 'cancelled',
      code: 'ERR_LLMR_EXPRESS_CLIENT_DISCONNECTED',
    });
  }
}
