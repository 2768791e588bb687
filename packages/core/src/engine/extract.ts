import type { Usage } from './types';

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function isObject(v: unknown): v is object {
  return v !== null && typeof v === 'object';
}

function get(o: unknown, key: string): unknown {
  return isObject(o) ? (o as Record<string, unknown>)[key] : undefined;
}

/**
 * Reads token usage from common return shapes: OpenAI (`usage.prompt_tokens` / `completion_tokens`,
 * Responses API `input_tokens` / `output_tokens`), Anthropic (`usage.input_tokens` / `output_tokens`),
 * LangChain (`usage_metadata`, `response_metadata.tokenUsage`). Returns undefined when none is found.
 *
 * @example
 * ```ts
 * extractUsage({ usage: { prompt_tokens: 12, completion_tokens: 30 } }); // { inputTokens: 12, outputTokens: 30 }
 * ```
 */
export function extractUsage(value: unknown): Usage | undefined {
  // Named property reads, not `get(o, key)`: a keyed read with changing keys is a slow (megamorphic)
  // lookup, and this runs on every successful call.
  if (!isObject(value)) return undefined;
  try {
    const v = value as UsageShapes;
    const u = v.usage ?? v.usage_metadata;
    if (isObject(u)) {
      const input = num(u.prompt_tokens) ?? num(u.input_tokens);
      const output = num(u.completion_tokens) ?? num(u.output_tokens);
      if (input !== undefined || output !== undefined) return { inputTokens: input ?? 0, outputTokens: output ?? 0 };
    }
    const rm = v.response_metadata;
    const tu = isObject(rm) ? rm.tokenUsage : undefined;
    if (isObject(tu)) {
      const input = num(tu.promptTokens);
      const output = num(tu.completionTokens);
      if (input !== undefined || output !== undefined) return { inputTokens: input ?? 0, outputTokens: output ?? 0 };
    }
  } catch {
    // getters that throw: no usage
  }
  return undefined;
}

/** The reply fields {@link extractUsage} reads; any of them may be missing or of another type. */
interface UsageShapes {
  usage?: UsageCounts | null;
  usage_metadata?: UsageCounts | null;
  response_metadata?: { tokenUsage?: { promptTokens?: unknown; completionTokens?: unknown } | null } | null;
}

interface UsageCounts {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  input_tokens?: unknown;
  output_tokens?: unknown;
}

/**
 * Reads the reply text from common return shapes: a string, OpenAI chat (`choices[0].message.content`),
 * OpenAI Responses (`output_text`), Anthropic (`content[].text`), LangChain messages (`content` string
 * or text parts).
 *
 * @example
 * ```ts
 * extractText({ choices: [{ message: { content: '{"intent":"refund"}' } }] }); // '{"intent":"refund"}'
 * ```
 */
export function extractText(value: unknown): string | undefined {
  try {
    if (typeof value === 'string') return value;
    const choices = get(value, 'choices');
    if (Array.isArray(choices)) {
      const c = get(get(choices[0], 'message'), 'content');
      if (typeof c === 'string') return c;
    }
    const ot = get(value, 'output_text');
    if (typeof ot === 'string') return ot;
    const content = get(value, 'content');
    if (typeof content === 'string') return content;
    if (Array.isArray(content)) {
      const parts = content
        .map((p) => (typeof p === 'string' ? p : get(p, 'type') === 'text' ? get(p, 'text') : undefined))
        .filter((p): p is string => typeof p === 'string');
      if (parts.length > 0) return parts.join('');
    }
  } catch {
    // fall through
  }
  return undefined;
}
