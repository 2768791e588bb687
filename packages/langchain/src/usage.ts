import type { Usage } from '@llm-resilience/core';

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/**
 * Reads `AIMessage.usage_metadata`-shaped usage (`{ input_tokens, output_tokens }`).
 *
 * @example
 * ```ts
 * usageFromMetadata({ input_tokens: 12, output_tokens: 30, total_tokens: 42 }); // { inputTokens: 12, outputTokens: 30 }
 * ```
 */
export function usageFromMetadata(meta: unknown): Usage | undefined {
  if (typeof meta !== 'object' || meta === null) return undefined;
  const m = meta as { input_tokens?: unknown; output_tokens?: unknown };
  const input = count(m.input_tokens);
  const output = count(m.output_tokens);
  if (input === undefined && output === undefined) return undefined;
  return { inputTokens: input ?? 0, outputTokens: output ?? 0 };
}

/**
 * Usage carried by a Runnable's output: an `AIMessage`/`AIMessageChunk` (`usage_metadata`) or a
 * structured-output result with `includeRaw` (`{ raw, parsed }`). Undefined for other outputs
 * (strings, parsed objects): their usage comes from the callbacks instead.
 *
 * @example
 * ```ts
 * usageOfOutput(await model.invoke('hi')); // { inputTokens: 3, outputTokens: 9 }
 * ```
 */
export function usageOfOutput(value: unknown): Usage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const direct = usageFromMetadata((value as { usage_metadata?: unknown }).usage_metadata);
  if (direct) return direct;
  const raw = (value as { raw?: unknown }).raw;
  if (typeof raw === 'object' && raw !== null) return usageFromMetadata((raw as { usage_metadata?: unknown }).usage_metadata);
  return undefined;
}

/**
 * Adds two usages; undefined stays undefined only when both are.
 *
 * @example
 * ```ts
 * addUsage({ inputTokens: 1, outputTokens: 2 }, { inputTokens: 3, outputTokens: 4 }); // { inputTokens: 4, outputTokens: 6 }
 * ```
 */
export function addUsage(a: Usage | undefined, b: Usage | undefined): Usage | undefined {
  if (!a) return b;
  if (!b) return a;
  return { inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens };
}
