import type { ResolvedTarget } from '../policy/Policy';

/**
 * Cost in USD of a call on `target` with these token counts (prices are USD per 1M tokens).
 * Targets without a price cost 0.
 *
 * @example
 * ```ts
 * costUsd({ price: { input: 0.15, output: 0.6 } } as ResolvedTarget, 1800, 420); // 0.000522
 * ```
 */
export function costUsd(target: Pick<ResolvedTarget, 'price'>, inputTokens: number, outputTokens: number): number {
  const p = target.price;
  if (!p) return 0;
  return (inputTokens * p.input + outputTokens * p.output) / 1_000_000;
}
