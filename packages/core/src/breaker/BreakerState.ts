/**
 * The state of one circuit breaker. Plain JSON (absolute epoch-ms times), so it can be published to
 * other processes and applied there with `CircuitBreaker.forceState`.
 *
 * | state       | traffic                                                  | leaves when                                   |
 * |-------------|----------------------------------------------------------|-----------------------------------------------|
 * | `closed`    | all                                                      | error rate, consecutive failures, slow calls -> `open`; repeated 429 -> `paused` |
 * | `open`      | none until `until`                                       | `until` passes -> `half-open`                 |
 * | `half-open` | at most `halfOpenProbes` concurrent probes               | enough probe successes -> `ramping` (or `closed`); a failed probe -> `open` |
 * | `ramping`   | a share growing linearly (10% -> 100%) over `rampUpMs`    | ramp done -> `closed`; any failure -> `open`  |
 * | `paused`    | none until `until` (the latest retry hint of the 429s)   | `until` passes -> `closed` (or `half-open` when paused while recovering) |
 *
 * @example
 * ```ts
 * const s: BreakerState = { state: 'open', until: Date.now() + 30_000, reason: 'error_rate' };
 * if (s.state === 'open') console.log(`open for ${s.until - Date.now()} ms because of ${s.reason}`);
 * ```
 */
export type BreakerState =
  | { readonly state: 'closed' }
  | { readonly state: 'open'; readonly until: number; readonly reason: string }
  | { readonly state: 'half-open'; readonly probesInFlight: number; readonly probeSuccesses: number }
  | { readonly state: 'ramping'; readonly since: number }
  | { readonly state: 'paused'; readonly until: number };

/**
 * The name of a {@link BreakerState}.
 *
 * @example
 * ```ts
 * const name: BreakerStateName = breaker.state.state; // 'closed' | 'open' | 'half-open' | 'ramping' | 'paused'
 * ```
 */
export type BreakerStateName = BreakerState['state'];

/**
 * Why a breaker changed state. Open states carry the opening reasons in `reason`; a state applied with
 * `forceOpen` may carry any string (also on open -> open, when it moved an open breaker's `until` later).
 *
 * | reason                 | transition                                              |
 * |------------------------|---------------------------------------------------------|
 * | `error_rate`           | closed -> open: failures / calls in the window above `errorRate` |
 * | `consecutive_failures` | closed -> open: `consecutiveFailures` failures in a row |
 * | `slow_calls`           | closed/ramping/half-open -> open: slow share above `slowCallRate` |
 * | `probe_failed`         | half-open -> open                                       |
 * | `ramp_failed`          | ramping -> open                                         |
 * | `rate_limited`         | any -> paused: `rateLimitPauseAfter` 429s in a row      |
 * | `open_elapsed`         | open -> half-open                                       |
 * | `pause_elapsed`        | paused -> closed / half-open                            |
 * | `probes_succeeded`     | half-open -> ramping / closed                           |
 * | `ramp_complete`        | ramping -> closed                                       |
 * | `forced`               | `forceState` (e.g. a state shared by another process); also paused -> paused when a forced pause ends later |
 *
 * @example
 * ```ts
 * registry.events.on('breaker', (e) => { if (e.reason === 'error_rate') alert(e.key); });
 * ```
 */
export type BreakerReason =
  | 'error_rate'
  | 'consecutive_failures'
  | 'slow_calls'
  | 'probe_failed'
  | 'ramp_failed'
  | 'rate_limited'
  | 'open_elapsed'
  | 'pause_elapsed'
  | 'probes_succeeded'
  | 'ramp_complete'
  | 'forced';

const NAMES: ReadonlySet<string> = new Set(['closed', 'open', 'half-open', 'ramping', 'paused']);

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * True when `value` is a well-formed {@link BreakerState} (for states read from another process).
 *
 * @example
 * ```ts
 * const remote: unknown = JSON.parse(message);
 * if (isBreakerState(remote)) breaker.forceState(remote, Date.now());
 * ```
 */
export function isBreakerState(value: unknown): value is BreakerState {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  if (typeof v.state !== 'string' || !NAMES.has(v.state)) return false;
  switch (v.state) {
    case 'closed':
      return true;
    case 'open':
      return isTime(v.until) && typeof v.reason === 'string';
    case 'paused':
      return isTime(v.until);
    case 'half-open':
      return isCount(v.probesInFlight) && isCount(v.probeSuccesses);
    case 'ramping':
      return isTime(v.since);
    default:
      return false;
  }
}
