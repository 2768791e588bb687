import fc from 'fast-check';
import { ManualClock } from '../clock';
import { Limiter, type LimitDecision, type Reservation } from './Limiter';
import type { LimitAdjustment, LimitCharge, LimiterStore, LimitState, ReserveResult } from './LimiterStore';
import type { FailedCallCharge, LimitContext, LimitRule, UsageAmounts } from './LimitRule';
import { MemoryLimiterStore } from './MemoryLimiterStore';

/**
 * The limiter reaches the memory store in two ways: through its batch calls (`reserveBatch` /
 * `adjustBatch`, what `createResilience` uses) and, like any other store, through `reserve` / `adjust`
 * with one charge object per rule. Both must decide exactly alike. This plays the same random
 * sequence of reservations, settlements, failures and clock moves on both, over rules of every kind
 * (requests, tokens, cost, concurrency, per-window totals, `match` filters, several scopes, target
 * scope), with headroom shares and zero estimates, and compares every observable result.
 */

/** The memory store seen only through the `LimiterStore` interface, so the limiter takes the general path. */
class PlainStore implements LimiterStore {
  constructor(private readonly inner: MemoryLimiterStore) {}
  reserve(charges: readonly LimitCharge[]): ReserveResult {
    return this.inner.reserve(charges);
  }
  adjust(adjustments: readonly LimitAdjustment[]): void {
    this.inner.adjust(adjustments);
  }
  peek(charges: readonly LimitCharge[]): LimitState[] {
    return this.inner.peek(charges);
  }
  usage(charges: readonly LimitCharge[]): number[] {
    return this.inner.usage(charges);
  }
}

const RULES: LimitRule[] = [
  { id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 6, windowMs: 10_000 },
  { id: 'user-tpm', scope: ['user'], metric: 'totalTokens', limit: 3_000, windowMs: 10_000, burst: 2_000 },
  { id: 'team-cost', scope: ['team'], metric: 'cost', limit: 0.05, windowMs: 20_000, onFailure: 'keep' },
  { id: 'team-inflight', scope: ['team'], metric: 'concurrency', limit: 3, windowMs: 0 },
  { id: 'tenant-day', scope: ['tenant'], metric: 'inputTokens', limit: 5_000, windowMs: 30_000, fixedWindow: true },
  { id: 'staging-rpm', scope: ['user'], metric: 'requests', limit: 2, windowMs: 5_000, match: { environment: 'staging' } },
  { id: 'model-tpm', scope: ['model'], metric: 'inputTokens', limit: 4_000, windowMs: 10_000 },
  { id: 'model-inflight', scope: ['provider', 'model'], metric: 'concurrency', limit: 2, windowMs: 0 },
];

/** One scope, plain rate rules: the limiter's shortest path on the memory store. */
const SIMPLE_RULES: LimitRule[] = [
  { id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 5, windowMs: 10_000 },
  { id: 'user-tpm', scope: ['user'], metric: 'totalTokens', limit: 2_500, windowMs: 10_000 },
  { id: 'user-out', scope: ['user'], metric: 'outputTokens', limit: 900, windowMs: 10_000, onFailure: 'release' },
];

type Action =
  | { t: 'reserve'; user: number; team: number; staging: boolean; target: boolean; input: number; output: number; cost: number; headroom: number }
  | { t: 'settle'; pick: number; input: number; output: number; cost: number }
  | { t: 'fail'; pick: number; mode: FailedCallCharge | undefined }
  | { t: 'advance'; ms: number };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('reserve' as const),
      user: fc.nat({ max: 2 }),
      team: fc.nat({ max: 1 }),
      staging: fc.boolean(),
      target: fc.boolean(),
      input: fc.constantFrom(0, 1, 300, 900, 2_500),
      output: fc.constantFrom(0, 200, 600),
      cost: fc.constantFrom(0, 0.001, 0.02, 0.06),
      headroom: fc.constantFrom(0, 0, 0, 0.25),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('settle' as const),
      pick: fc.nat(),
      input: fc.constantFrom(0, 250, 1_000, -1, Number.NaN),
      output: fc.constantFrom(0, 100, 700),
      cost: fc.constantFrom(0, 0.004, 0.03),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('fail' as const),
      pick: fc.nat(),
      mode: fc.constantFrom<FailedCallCharge | undefined>('keep', 'release', 'requests', undefined),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.constantFrom(1, 250, 1_700, 9_000, 31_000) }) },
);

/** Everything a caller can observe of a decision. */
function observe(d: LimitDecision): unknown {
  if (!d.ok) {
    return { ok: false, rule: d.rule.id, key: d.key, retryAfterMs: d.retryAfterMs, amount: d.amount, scope: d.scope, states: d.states };
  }
  const limits = d.limits().map((l) => ({ rule: l.rule.id, key: l.key, amount: l.amount, state: l.state }));
  const rules = Array.from({ length: d.size }, (_, i) => d.ruleAt(i).id);
  return { ok: true, size: d.size, rules, limits, states: d.states };
}

function sync<T>(v: T | Promise<T>): T {
  if (v instanceof Promise) throw new Error('the memory store answers synchronously');
  return v;
}

function play(rules: LimitRule[], actions: Action[]): void {
  const clock = new ManualClock(1_000_000);
  const batch = new Limiter(rules, new MemoryLimiterStore({ clock }), { clock });
  const plain = new Limiter(rules, new PlainStore(new MemoryLimiterStore({ clock })), { clock });
  const held: Array<[Reservation, Reservation]> = [];
  for (const a of actions) {
    if (a.t === 'advance') {
      clock.advance(a.ms);
    } else if (a.t === 'reserve') {
      const ctx: LimitContext = { user: `u${a.user}`, team: `t${a.team}`, tenant: 'acme', environment: a.staging ? 'staging' : 'prod' };
      if (a.target) Object.assign(ctx, { provider: 'openai', model: 'gpt-x' });
      const estimate: UsageAmounts = { inputTokens: a.input, outputTokens: a.output, costUsd: a.cost };
      const phase = a.target ? 'target' : 'request';
      const options = a.headroom > 0 ? { headroom: a.headroom } : undefined;
      const x = sync(batch.reserve(ctx, estimate, phase, options));
      const y = sync(plain.reserve(ctx, estimate, phase, options));
      expect(observe(x)).toEqual(observe(y));
      if (x.ok && y.ok) held.push([x, y]);
    } else if (held.length > 0) {
      const [x, y] = held.splice(a.pick % held.length, 1)[0]!;
      if (a.t === 'settle') {
        const actual: UsageAmounts = { inputTokens: a.input, outputTokens: a.output, costUsd: a.cost };
        x.settle(actual);
        y.settle(actual);
      } else {
        x.fail(a.mode);
        y.fail(a.mode);
      }
      expect(x.closed && y.closed).toBe(true);
    }
    for (const rule of rules) {
      for (const ctx of [{ user: 'u0', team: 't0', tenant: 'acme', provider: 'openai', model: 'gpt-x' }, { user: 'u2', team: 't1' }]) {
        expect(sync(batch.usage(rule.id, ctx))).toEqual(sync(plain.usage(rule.id, ctx)));
      }
    }
  }
}

describe('Limiter on the memory store: the batch path decides exactly as the general path', () => {
  it('over rules of every kind, scopes, filters, headroom and zero estimates', () => {
    fc.assert(
      fc.property(fc.array(actionArb, { minLength: 1, maxLength: 60 }), (actions) => play(RULES, actions)),
      { numRuns: 300 },
    );
  });

  it('over plain rate rules of one scope (the shortest path)', () => {
    fc.assert(
      fc.property(fc.array(actionArb, { minLength: 1, maxLength: 60 }), (actions) => play(SIMPLE_RULES, actions)),
      { numRuns: 300 },
    );
  });

  it('takes the batch path for the memory store and the general one for any other store', () => {
    const clock = new ManualClock(0);
    const memory = new MemoryLimiterStore({ clock });
    const plain = new PlainStore(new MemoryLimiterStore({ clock }));
    const batchCalls = jest.spyOn(memory, 'reserveBatch');
    const reserveCalls = jest.spyOn(plain, 'reserve');
    const estimate = { inputTokens: 10, outputTokens: 5, costUsd: 0 };
    sync(new Limiter(SIMPLE_RULES, memory).reserve({ user: 'u' }, estimate, 'request'));
    sync(new Limiter(SIMPLE_RULES, plain).reserve({ user: 'u' }, estimate, 'request'));
    expect(batchCalls).toHaveBeenCalledTimes(1);
    expect(reserveCalls).toHaveBeenCalledTimes(1);
  });
});
