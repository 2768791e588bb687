import { ResilienceError } from '../errors/ResilienceError';

/**
 * A breaker state received from elsewhere (another process, a store) is not a well-formed
 * `BreakerState`, or arrived under a key that names no breaker. The breaker keeps its current state.
 *
 * @example
 * ```ts
 * try { breaker.forceState(JSON.parse(raw), Date.now()); }
 * catch (e) { if (e instanceof InvalidBreakerStateError) log.warn(e.message); }
 * ```
 */
export class InvalidBreakerStateError extends ResilienceError {
  constructor(key: string, received: unknown, problem: 'state' | 'key' = 'state') {
    let shown: string;
    try {
      shown = JSON.stringify(received)?.slice(0, 200) ?? String(received);
    } catch {
      shown = String(received);
    }
    const expected =
      problem === 'key'
        ? `Expected a key "target:<id>" or "provider:<name>" as published by BreakerRegistry`
        : `Expected { state: 'closed' | 'open' | 'half-open' | 'ramping' | 'paused', ... } as produced by CircuitBreaker.snapshot()`;
    super(
      `Breaker "${key}" received ${problem === 'key' ? 'a state under an unknown key' : 'an invalid state'} ${shown}; ` +
        `nothing was changed. ${expected}; check the BreakerStateSync implementation that delivered it.`,
      { kind: 'invalid_request', code: 'ERR_LLMR_INVALID_BREAKER_STATE' },
    );
  }
}
