import { isBaseMessage } from '@langchain/core/messages';

function json(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/**
 * The text of a Runnable's output that an output schema is checked against: a string as is, a
 * message's text (or its first tool call's arguments as JSON when it has no text), the `parsed`
 * part of an `includeRaw` structured-output result, and any other value as JSON.
 *
 * @example
 * ```ts
 * replyText(new AIMessage('{"intent":"refund"}')); // '{"intent":"refund"}'
 * replyText({ intent: 'refund' });                  // '{"intent":"refund"}'
 * ```
 */
export function replyText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (isBaseMessage(value)) {
    const text = value.text;
    if (text.trim() !== '') return text;
    const calls = (value as { tool_calls?: ReadonlyArray<{ args?: unknown }> }).tool_calls;
    const args = Array.isArray(calls) ? calls[0]?.args : undefined;
    return args !== undefined ? json(args) : text;
  }
  if (typeof value === 'object' && 'parsed' in value && 'raw' in value && isBaseMessage((value as { raw: unknown }).raw)) {
    return json((value as { parsed: unknown }).parsed);
  }
  return json(value);
}
