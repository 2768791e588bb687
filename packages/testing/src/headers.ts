import type { DimensionState, LimitSnapshot } from './limits';

/**
 * Formats a duration the way OpenAI's `x-ratelimit-reset-*` headers do (Go style):
 * `12ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`.
 *
 * @example
 * ```ts
 * formatOpenAIDuration(360_000); // '6m0s'
 * formatOpenAIDuration(12);      // '12ms'
 * ```
 */
export function formatOpenAIDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms));
  if (total < 1000) return `${total}ms`;
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const sMs = total % 60_000;
  const s = sMs % 1000 === 0 ? String(sMs / 1000) : (sMs / 1000).toFixed(3).replace(/0+$/, '');
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/**
 * An RFC 3339 UTC timestamp at whole seconds (rounded up), as in `anthropic-ratelimit-*-reset`.
 *
 * @example
 * ```ts
 * formatRfc3339(1_700_000_000_500); // '2023-11-14T22:13:21Z'
 * ```
 */
export function formatRfc3339(epochMs: number): string {
  return new Date(Math.ceil(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * `retry-after` (whole seconds, rounded up) and `retry-after-ms`.
 *
 * @example
 * ```ts
 * retryAfterHeaders(1200); // { 'retry-after': '2', 'retry-after-ms': '1200' }
 * ```
 */
export function retryAfterHeaders(ms: number): Record<string, string> {
  const safe = Math.max(0, Math.ceil(ms));
  return { 'retry-after': String(Math.ceil(safe / 1000)), 'retry-after-ms': String(safe) };
}

/**
 * OpenAI's `x-ratelimit-*` headers: requests from RPM, tokens from TPM (or ITPM when there is no TPM).
 *
 * @example
 * ```ts
 * openAIRateLimitHeaders(limiter.snapshot(now))['x-ratelimit-reset-requests']; // '44.5s'
 * ```
 */
export function openAIRateLimitHeaders(snap: LimitSnapshot): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (name: string, s: DimensionState | undefined) => {
    if (!s) return;
    out[`x-ratelimit-limit-${name}`] = String(s.limit);
    out[`x-ratelimit-remaining-${name}`] = String(s.remaining);
    out[`x-ratelimit-reset-${name}`] = formatOpenAIDuration(s.resetMs);
  };
  put('requests', snap.rpm);
  put('tokens', snap.tpm ?? snap.itpm);
  return out;
}

/**
 * Anthropic's `anthropic-ratelimit-*` headers with RFC 3339 resets. `tokens-*` is the most
 * restrictive (fewest remaining) of TPM, ITPM and OTPM.
 *
 * @example
 * ```ts
 * anthropicRateLimitHeaders(limiter.snapshot(now), now)['anthropic-ratelimit-requests-reset']; // '2026-01-01T00:01:00Z'
 * ```
 */
export function anthropicRateLimitHeaders(snap: LimitSnapshot, now: number): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (name: string, s: DimensionState | undefined) => {
    if (!s) return;
    out[`anthropic-ratelimit-${name}-limit`] = String(s.limit);
    out[`anthropic-ratelimit-${name}-remaining`] = String(s.remaining);
    out[`anthropic-ratelimit-${name}-reset`] = formatRfc3339(now + s.resetMs);
  };
  put('requests', snap.rpm);
  put('input-tokens', snap.itpm);
  put('output-tokens', snap.otpm);
  const tokens = [snap.tpm, snap.itpm, snap.otpm].filter((s): s is DimensionState => !!s);
  const tightest = tokens.sort((a, b) => a.remaining - b.remaining)[0];
  put('tokens', tightest);
  return out;
}
