import { createHash } from 'node:crypto';
import type { Response } from 'express';
import type { LimitMetric, LimitRule, Reservation } from '@llm-resilience/core';
import type { InboundLimitStatus, StandardHeadersDraft } from './types';

const seconds = (ms: number): number => Math.max(0, Math.ceil(ms / 1000));
const units = (n: number): number => Math.max(0, Math.floor(n));

/** Cost rules count fractions of a dollar: not a quota a client can read as an integer header. */
function shown(limits: readonly InboundLimitStatus[]): InboundLimitStatus[] {
  return limits.filter((l) => l.metric !== 'cost');
}

/**
 * The limit closest to running out (lowest remaining share; on a tie the one that resets last):
 * the one drafts 6 and 7, which carry a single quota, report.
 *
 * @example
 * ```ts
 * tightest([{ id: 'rpm', limit: 20, remaining: 2, ... }, { id: 'tpm', limit: 1000, remaining: 900, ... }])?.id; // 'rpm'
 * ```
 */
export function tightest(limits: readonly InboundLimitStatus[]): InboundLimitStatus | undefined {
  let best: InboundLimitStatus | undefined;
  let bestShare = Infinity;
  for (const l of limits) {
    const share = l.remaining / l.limit;
    if (share < bestShare || (share === bestShare && best !== undefined && l.resetMs > best.resetMs)) {
      best = l;
      bestShare = share;
    }
  }
  return best;
}

/** A quota policy item of drafts 6/7: `limit;w=seconds` (no window for concurrency). */
function policyItem(l: InboundLimitStatus): string {
  return l.metric === 'concurrency' ? `${l.limit}` : `${l.limit};w=${seconds(l.windowMs)}`;
}

/** An sf-string: printable ASCII, with `"` and `\` escaped. */
function sfString(s: string): string {
  return `"${s.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * Draft-8 partition key: a short digest of the store key, so clients can tell partitions apart
 * without seeing user ids.
 */
function partitionKey(key: string): string {
  return createHash('sha256').update(key).digest().subarray(0, 9).toString('base64');
}

/**
 * Sets the IETF `RateLimit` headers of the chosen draft (and the legacy `X-RateLimit-*` ones if
 * asked) for the inbound limits of a request. Does nothing once headers were sent.
 *
 * @example
 * ```ts
 * setRateLimitHeaders(res, 'draft-7', false, [{ id: 'user-rpm', metric: 'requests', limit: 20, windowMs: 60_000, remaining: 19, resetMs: 3000, key: 'k' }]);
 * // RateLimit-Policy: 20;w=60
 * // RateLimit: limit=20, remaining=19, reset=3
 * ```
 */
export function setRateLimitHeaders(
  res: Response,
  draft: StandardHeadersDraft | false,
  legacy: boolean,
  limits: readonly InboundLimitStatus[],
): void {
  if (res.headersSent) return;
  const list = shown(limits);
  if (list.length === 0) return;
  if (draft === 'draft-8') {
    res.setHeader('RateLimit', list.map((l) => `${sfString(l.id)};r=${units(l.remaining)};t=${seconds(l.resetMs)}`).join(', '));
    res.setHeader(
      'RateLimit-Policy',
      list
        .map(
          (l) =>
            `${sfString(l.id)};q=${l.limit}` +
            (l.metric === 'concurrency' ? ';qu="concurrent-requests"' : `;w=${seconds(l.windowMs)}`) +
            `;pk=:${partitionKey(l.key)}:`,
        )
        .join(', '),
    );
  }
  const top = draft === 'draft-8' && !legacy ? undefined : tightest(list);
  if (top && (draft === 'draft-6' || draft === 'draft-7')) {
    res.setHeader('RateLimit-Policy', list.map(policyItem).join(', '));
    if (draft === 'draft-6') {
      res.setHeader('RateLimit-Limit', String(top.limit));
      res.setHeader('RateLimit-Remaining', String(units(top.remaining)));
      res.setHeader('RateLimit-Reset', String(seconds(top.resetMs)));
    } else {
      res.setHeader('RateLimit', `limit=${top.limit}, remaining=${units(top.remaining)}, reset=${seconds(top.resetMs)}`);
    }
  }
  if (legacy && top) {
    res.setHeader('X-RateLimit-Limit', String(top.limit));
    res.setHeader('X-RateLimit-Remaining', String(units(top.remaining)));
    res.setHeader('X-RateLimit-Reset', String(Math.ceil((Date.now() + top.resetMs) / 1000)));
  }
}

/**
 * What the headers need of one inbound rule, computed once per rule (see `InboundLimits.viewOf`).
 *
 * @example
 * ```ts
 * const view = ruleView({ id: 'inbound:user-rpm', scope: ['user'], metric: 'requests', limit: 20, windowMs: 60_000 }, 'user-rpm');
 * view.policy; // '20;w=60'
 * ```
 */
export interface RuleView {
  /** The id as the user wrote it (without the internal prefix). */
  readonly id: string;
  readonly metric: LimitMetric;
  readonly limit: number;
  readonly windowMs: number;
  /** Shown in the headers (cost limits are not: their units are dollars). */
  readonly shown: boolean;
  /** Its `RateLimit-Policy` item for drafts 6 and 7. */
  readonly policy: string;
  /** The constant start of its draft-7 `RateLimit` value: `limit=<n>, remaining=`. */
  readonly rateLimitPrefix: string;
  /**
   * Ms a bucket with `burst` above `limit` takes to refill what lies beyond the quota (`burst - limit`
   * units); 0 otherwise. The headers name `limit` per window as the quota, so their `reset` is when
   * `limit` units are back, this much before the whole burst is.
   */
  readonly beyondQuotaMs: number;
}

/**
 * A bucket's state as the headers show it, with `limit` per window as the quota: `remaining` at most
 * `limit`, `resetMs` until `limit` units are back (not the whole `burst`).
 *
 * @example
 * ```ts
 * const { remaining, resetMs } = asQuota(view, state); // limit 2, burst 10: never remaining=9
 * ```
 */
export function asQuota(view: RuleView, state: { remaining: number; resetMs: number }): { remaining: number; resetMs: number } {
  return { remaining: Math.min(state.remaining, view.limit), resetMs: Math.max(0, state.resetMs - view.beyondQuotaMs) };
}

/** @internal Builds the {@link RuleView} of an inbound rule whose public id is `id`. */
export function ruleView(rule: LimitRule, id: string): RuleView {
  const view = { id, metric: rule.metric, limit: rule.limit, windowMs: rule.windowMs };
  const burst = rule.burst ?? rule.limit;
  // A rate bucket refills `limit` units per window: the units beyond the quota take (burst - limit) of them.
  const beyondQuotaMs = burst > rule.limit && rule.windowMs > 0 ? ((burst - rule.limit) * rule.windowMs) / rule.limit : 0;
  return {
    ...view,
    beyondQuotaMs,
    shown: rule.metric !== 'cost',
    policy: policyItem({ ...view, remaining: 0, resetMs: 0, key: '' }),
    rateLimitPrefix: `limit=${rule.limit}, remaining=`,
  };
}

/**
 * The headers of an admitted request, straight from its reservation: for drafts 6 and 7 without
 * legacy headers it builds only the header strings (the tightest limit is found in place), which is
 * the middleware's per-request path; other formats go through {@link setRateLimitHeaders}.
 *
 * @example
 * ```ts
 * setReservationHeaders(res, 'draft-7', false, reservation, inbound);
 * ```
 */
export function setReservationHeaders(
  res: Response,
  draft: StandardHeadersDraft | false,
  legacy: boolean,
  reservation: Reservation,
  inbound: { viewOf(rule: LimitRule): RuleView; statusOf(reservation: Reservation): readonly InboundLimitStatus[] },
): void {
  if (legacy || (draft !== 'draft-6' && draft !== 'draft-7')) {
    setRateLimitHeaders(res, draft, legacy, inbound.statusOf(reservation));
    return;
  }
  if (res.headersSent) return;
  const states = reservation.states;
  let policy = '';
  let top: RuleView | undefined;
  let topRemaining = 0;
  let topReset = 0;
  let topShare = Infinity;
  for (let i = 0; i < reservation.size; i++) {
    const state = states[i];
    const view = inbound.viewOf(reservation.ruleAt(i));
    if (state === undefined || !view.shown) continue;
    policy = policy === '' ? view.policy : `${policy}, ${view.policy}`;
    // At most the quota: a `burst` above `limit` is headroom the policy (`limit` per window) does not
    // promise, so the headers never read `limit=2, remaining=9` (as `InboundLimits.statusOf`).
    const { remaining, resetMs } = asQuota(view, state);
    // The same choice as `tightest`: smallest share left, then the longest reset.
    const share = remaining / view.limit;
    if (share < topShare || (share === topShare && top !== undefined && resetMs > topReset)) {
      top = view;
      topShare = share;
      topRemaining = remaining;
      topReset = resetMs;
    }
  }
  if (top === undefined) return;
  res.setHeader('RateLimit-Policy', policy);
  if (draft === 'draft-7') {
    res.setHeader('RateLimit', `${top.rateLimitPrefix}${units(topRemaining)}, reset=${seconds(topReset)}`);
  } else {
    res.setHeader('RateLimit-Limit', String(top.limit));
    res.setHeader('RateLimit-Remaining', String(units(topRemaining)));
    res.setHeader('RateLimit-Reset', String(seconds(topReset)));
  }
}

/**
 * Sets `Retry-After` in whole seconds (rounded up; at least 1) when the wait is finite.
 *
 * @example
 * ```ts
 * setRetryAfter(res, 1200); // Retry-After: 2
 * ```
 */
export function setRetryAfter(res: Response, retryAfterMs: number | undefined): void {
  if (res.headersSent || retryAfterMs === undefined || !Number.isFinite(retryAfterMs)) return;
  res.setHeader('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
}
