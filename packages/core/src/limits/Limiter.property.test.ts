import fc from 'fast-check';
import { ManualClock } from '../clock';
import { Limiter, type LimitDecision, type Reservation } from './Limiter';
import type { LimiterStore } from './LimiterStore';
import type { FailedCallCharge, LimitRule } from './LimitRule';
import { MemoryLimiterStore } from './MemoryLimiterStore';

/**
 * Properties of the GCRA limiter under arbitrary interleavings of reservations, clock advances,
 * settles and failures, on one key.
 *
 * Safety: let `net` be what callers hold at any moment (admitted estimates, plus extra charges from
 * settle, minus refunds). At every admission at time `s` (clock starting at 0):
 * `net ≤ burst + s × limit / window`. Refunds and debts are accounted for, so the bound is exact
 * GCRA, not a loose approximation.
 *
 * Safety over every interval, late refunds included: give each admitted reservation `i` (admitted at
 * `s_i`) the amount `u_i` it stands for — its estimate while open, `min(actual, estimate)` once
 * settled, 0 once failed with a refund (`keep`: the estimate). Then after every admission at time
 * `s`, for every earlier admission time `t`: `Σ u_i over t ≤ s_i ≤ s` ≤ `burst + (s − t) × limit /
 * window`. (The sum only grows at admissions, and `u_i` only shrinks, so checking right after each
 * admission, with `t` at each admission time, covers every interval.) Why it holds: from `t` to `s`,
 * `tat` rises by at least the estimates admitted minus the refunds applied, and stays within `τ` of
 * `s`; a refund by a reservation admitted before `t` gives back at most the unexpired part of its
 * interval, so all of them together at most `max(tat(t), t) − t`, which the starting point already
 * counted. The extra part of a settle (actual above the estimate) is debt that only delays later
 * admissions, so `u_i` leaves it out. Without the cap, a reservation refunded after its interval
 * expired hands back capacity that time already restored: twice the burst within one instant.
 *
 * Liveness: a reservation that fits the bucket is never refused forever: when denied with
 * `retryAfterMs = r`, it is still denied at `r − 1` ms and admitted at exactly `r` ms if nothing
 * else happens; `Infinity` is returned if and only if the amount exceeds the bucket's capacity.
 */

const EPS = 1e-6;
const ctx = { user: 'u1' };

const ruleArb = fc.record({
  limit: fc.integer({ min: 1, max: 1000 }),
  windowMs: fc.integer({ min: 1000, max: 120_000 }),
  burstFactor: fc.option(fc.double({ min: 0.2, max: 3, noNaN: true }), { nil: undefined }),
});

type Action =
  | { t: 'reserve'; share: number }
  | { t: 'advance'; share: number }
  | { t: 'settle'; pick: number; factor: number }
  | { t: 'fail'; pick: number; mode: FailedCallCharge | undefined };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('reserve' as const), share: fc.double({ min: 0, max: 1.3, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('advance' as const), share: fc.double({ min: 0, max: 0.6, noNaN: true }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('settle' as const), pick: fc.nat(), factor: fc.double({ min: 0, max: 2.5, noNaN: true }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('fail' as const),
      pick: fc.nat(),
      mode: fc.constantFrom<FailedCallCharge | undefined>('keep', 'release', 'requests', undefined),
    }),
  },
);

function buildRule(r: { limit: number; windowMs: number; burstFactor: number | undefined }): LimitRule {
  const burst = r.burstFactor === undefined ? undefined : Math.max(1, Math.round(r.limit * r.burstFactor));
  return { id: 'tpm', scope: ['user'], metric: 'inputTokens', limit: r.limit, windowMs: r.windowMs, burst };
}

function sync(d: LimitDecision | Promise<LimitDecision>): LimitDecision {
  if (d instanceof Promise) throw new Error('memory store must answer synchronously');
  return d;
}

/** Plays `actions`; returns the model state. Asserts safety on every admission. */
function play(rule: LimitRule, actions: Action[]) {
  const clock = new ManualClock(0);
  const limiter = new Limiter([rule], new MemoryLimiterStore({ clock }));
  const capacity = rule.burst ?? rule.limit;
  const pending: Array<{ r: Reservation; est: number }> = [];
  let net = 0;
  for (const a of actions) {
    if (a.t === 'reserve') {
      const amount = Math.max(1, Math.round(a.share * capacity));
      const d = sync(limiter.reserve(ctx, { inputTokens: amount, outputTokens: 0, costUsd: 0 }, 'request'));
      if (d.ok) {
        net += amount;
        pending.push({ r: d, est: amount });
        const bound = capacity + (clock.now() * rule.limit) / rule.windowMs;
        expect(net).toBeLessThanOrEqual(bound + EPS * capacity);
      } else {
        expect(d.retryAfterMs === Infinity).toBe(amount > capacity);
        expect(d.retryAfterMs).toBeGreaterThanOrEqual(1);
      }
    } else if (a.t === 'advance') {
      clock.set(clock.now() + Math.round(a.share * rule.windowMs));
    } else if (pending.length > 0) {
      const [p] = pending.splice(a.pick % pending.length, 1);
      if (a.t === 'settle') {
        const actual = Math.round(p!.est * a.factor);
        p!.r.settle({ inputTokens: actual, outputTokens: 0, costUsd: 0 });
        net += actual - p!.est;
      } else {
        p!.r.fail(a.mode);
        const mode = a.mode ?? 'requests';
        if (mode !== 'keep') net -= p!.est; // inputTokens is refunded by both 'release' and 'requests'
      }
    }
  }
  return { clock, limiter, capacity };
}

describe('Limiter properties (GCRA)', () => {
  it('never admits more than burst + t × limit / window, whatever the interleaving', () => {
    fc.assert(
      fc.property(ruleArb, fc.array(actionArb, { maxLength: 200 }), (r, actions) => {
        play(buildRule(r), actions);
      }),
      { numRuns: 300 },
    );
  });

  it('never admits more than burst + L × limit / window over any interval of length L, late refunds included', () => {
    let checks = 0;
    fc.assert(
      fc.property(ruleArb, fc.array(actionArb, { minLength: 20, maxLength: 200, size: 'medium' }), (r, actions) => {
        const rule = buildRule(r);
        const capacity = rule.burst ?? rule.limit;
        const clock = new ManualClock(0);
        const limiter = new Limiter([rule], new MemoryLimiterStore({ clock }), { clock });
        /** Admitted reservations in admission order (the clock never goes back): when, and what they stand for. */
        const admitted: Array<{ at: number; u: number }> = [];
        const open: Array<{ r: Reservation; est: number; entry: { at: number; u: number } }> = [];
        for (const a of actions) {
          if (a.t === 'reserve') {
            const amount = Math.max(1, Math.round(a.share * capacity));
            const d = sync(limiter.reserve(ctx, { inputTokens: amount, outputTokens: 0, costUsd: 0 }, 'request'));
            if (!d.ok) continue;
            const entry = { at: clock.now(), u: amount };
            admitted.push(entry);
            open.push({ r: d, est: amount, entry });
            let sum = 0;
            for (let k = admitted.length - 1; k >= 0; k--) {
              sum += admitted[k]!.u;
              const bound = capacity + ((entry.at - admitted[k]!.at) * rule.limit) / rule.windowMs;
              if (sum > bound + EPS * capacity) {
                expect({ sum, bound, from: admitted[k]!.at, to: entry.at }).toEqual('within the bound');
              }
              checks++;
            }
          } else if (a.t === 'advance') {
            clock.set(clock.now() + Math.round(a.share * rule.windowMs));
          } else if (open.length > 0) {
            const [p] = open.splice(a.pick % open.length, 1);
            if (a.t === 'settle') {
              const actual = Math.round(p!.est * a.factor);
              p!.r.settle({ inputTokens: actual, outputTokens: 0, costUsd: 0 });
              p!.entry.u = Math.min(actual, p!.est);
            } else {
              p!.r.fail(a.mode);
              if (a.mode !== 'keep') p!.entry.u = 0; // inputTokens is refunded by 'release' and 'requests'
            }
          }
        }
      }),
      { numRuns: 500 },
    );
    expect(checks).toBeGreaterThan(10_000); // the runs admitted plenty to check
  });

  it('a request that fits is admitted exactly at retryAfterMs, and not a millisecond earlier', () => {
    fc.assert(
      fc.property(
        ruleArb,
        fc.array(actionArb, { maxLength: 100 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (r, actions, share) => {
          const rule = buildRule(r);
          const { clock, limiter, capacity } = play(rule, actions);
          const amount = Math.max(1, Math.floor(share * capacity));
          const est = { inputTokens: amount, outputTokens: 0, costUsd: 0 };
          const first = sync(limiter.reserve(ctx, est, 'request'));
          if (first.ok) return;
          expect(Number.isFinite(first.retryAfterMs)).toBe(true);
          const at = clock.now() + first.retryAfterMs;
          clock.set(at - 1);
          expect(sync(limiter.reserve(ctx, est, 'request')).ok).toBe(false);
          clock.set(at);
          expect(sync(limiter.reserve(ctx, est, 'request')).ok).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('holds the bound when reservations race through an asynchronous store', async () => {
    await fc.assert(
      fc.asyncProperty(
        ruleArb,
        fc.array(
          fc.record({
            batch: fc.array(fc.record({ share: fc.double({ min: 0, max: 1, noNaN: true }), delay: fc.nat({ max: 5 }) }), {
              minLength: 1,
              maxLength: 12,
            }),
            settleFactor: fc.double({ min: 0, max: 2, noNaN: true }),
            advance: fc.double({ min: 0, max: 0.5, noNaN: true }),
          }),
          { maxLength: 15 },
        ),
        async (r, rounds) => {
          const rule = buildRule(r);
          const capacity = rule.burst ?? rule.limit;
          const clock = new ManualClock(0);
          const inner = new MemoryLimiterStore({ clock });
          const delays: number[] = [];
          const tick = async (n: number) => {
            for (let i = 0; i < n; i++) await Promise.resolve();
          };
          const store: LimiterStore = {
            reserve: async (charges) => {
              await tick(delays.shift() ?? 0);
              return inner.reserve(charges);
            },
            adjust: async (adjustments) => {
              await tick(1);
              inner.adjust(adjustments);
            },
          };
          const limiter = new Limiter([rule], store);
          let net = 0;
          for (const round of rounds) {
            const amounts = round.batch.map((b) => Math.max(1, Math.round(b.share * capacity)));
            delays.push(...round.batch.map((b) => b.delay));
            const decisions = await Promise.all(
              amounts.map((amount) => limiter.reserve(ctx, { inputTokens: amount, outputTokens: 0, costUsd: 0 }, 'request')),
            );
            const admitted = decisions.map((d, i) => (d.ok ? amounts[i]! : 0)).reduce((x, y) => x + y, 0);
            net += admitted;
            // The bound holds at admission instants (settle may add debt in between).
            if (admitted > 0) expect(net).toBeLessThanOrEqual(capacity + (clock.now() * rule.limit) / rule.windowMs + EPS * capacity);
            await Promise.all(
              decisions.map((d, i) => {
                if (!d.ok) return undefined;
                const actual = Math.round(amounts[i]! * round.settleFactor);
                net += actual - amounts[i]!;
                return d.settle({ inputTokens: actual, outputTokens: 0, costUsd: 0 });
              }),
            );
            clock.set(clock.now() + Math.round(round.advance * rule.windowMs));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
