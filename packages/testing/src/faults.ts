import type { Random } from './random';
import type { FaultKind, FaultRule, StreamErrorType } from './types';

/**
 * Every fault kind, in a stable order, so tests can loop over them.
 *
 * @example
 * ```ts
 * for (const kind of FAULT_KINDS) fake.setFaults([{ kind }]);
 * ```
 */
export const FAULT_KINDS = [
  'rate_limit',
  'rate_limit_no_hint',
  'overloaded_503',
  'overloaded_529',
  'server_error_500',
  'timeout',
  'hang',
  'connection_reset',
  'stream_cut',
  'stream_error',
  'malformed_json',
  'context_length',
  'insufficient_quota',
  'content_filter',
  'slow_first_token',
  'slow_tokens',
  'invalid_json_reply',
  'auth',
] as const satisfies readonly FaultKind[];

/**
 * Faults answered with an HTTP error status and a provider-shaped error body.
 *
 * @example
 * ```ts
 * ERROR_RESPONSE_FAULTS.has('overloaded_503'); // true
 * ```
 */
export const ERROR_RESPONSE_FAULTS: ReadonlySet<FaultKind> = new Set<FaultKind>([
  'rate_limit',
  'rate_limit_no_hint',
  'overloaded_503',
  'overloaded_529',
  'server_error_500',
  'context_length',
  'insufficient_quota',
  'content_filter',
  'auth',
]);

/**
 * Every `errorType` of the `stream_error` fault; the first is the default.
 *
 * @example
 * ```ts
 * STREAM_ERROR_TYPES.includes('rate_limit'); // true
 * ```
 */
export const STREAM_ERROR_TYPES = ['overloaded', 'rate_limit', 'server_error'] as const satisfies readonly StreamErrorType[];

interface RuleState {
  rule: FaultRule;
  matched: number;
  fired: number;
}

/**
 * The fault timeline: decides, per request, which rule (if any) applies. Rules are tried in order;
 * the first one that fires wins. Each rule counts the requests it matched (for `every`) and the ones
 * it hit (for `count`).
 *
 * @example
 * ```ts
 * const schedule = new FaultSchedule([{ kind: 'overloaded_503', from: 10, to: 40 }], createRandom(1));
 * schedule.pick('fast-a', 12)?.kind; // 'overloaded_503'
 * ```
 */
export class FaultSchedule {
  private states: RuleState[];

  constructor(
    rules: readonly FaultRule[],
    private readonly random: Random,
  ) {
    this.states = rules.map((rule) => ({ rule, matched: 0, fired: 0 }));
  }

  /** The rule that hits a request for `model` at `t` seconds since the epoch, if any. */
  pick(model: string, t: number): FaultRule | undefined {
    for (const s of this.states) {
      const { rule } = s;
      if (rule.model !== undefined && rule.model !== '*' && rule.model !== model) continue;
      if (rule.from !== undefined && t < rule.from) continue;
      if (rule.to !== undefined && t >= rule.to) continue;
      if (rule.count !== undefined && s.fired >= rule.count) continue;
      s.matched++;
      if (rule.every !== undefined && s.matched % rule.every !== 0) continue;
      if (rule.probability !== undefined && rule.probability < 1 && !(this.random() < rule.probability)) continue;
      s.fired++;
      return rule;
    }
    return undefined;
  }

  /** Adds a rule at the end of the timeline. */
  add(rule: FaultRule): void {
    this.states.push({ rule, matched: 0, fired: 0 });
  }

  /** The rules, in order. */
  get rules(): FaultRule[] {
    return this.states.map((s) => s.rule);
  }
}
