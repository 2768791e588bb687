/**
 * Pulls a JSON value out of a model reply: the whole text, a fenced ```json block, or the first
 * balanced `{...}` / `[...]` span. Returns `{ ok: false }` with a reason when nothing parses.
 *
 * @example
 * ```ts
 * parseJsonReply('Sure! ```json\n{"intent":"refund"}\n```'); // { ok: true, value: { intent: 'refund' } }
 * ```
 */
export function parseJsonReply(text: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  const direct = tryParse(text.trim());
  if (direct.ok) return direct;
  const fence = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  if (fence) {
    const inFence = tryParse(fence[1]!.trim());
    if (inFence.ok) return inFence;
  }
  const span = balancedSpan(text);
  if (span !== undefined) {
    const inner = tryParse(span);
    if (inner.ok) return inner;
  }
  return { ok: false, reason: 'the reply is not valid JSON' };
}

function tryParse(s: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (s === '') return { ok: false, reason: 'empty reply' };
  try {
    return { ok: true, value: JSON.parse(s) };
  } catch {
    return { ok: false, reason: 'the reply is not valid JSON' };
  }
}

function balancedSpan(text: string): string | undefined {
  const start = text.search(/[[{]/);
  if (start < 0) return undefined;
  const stack: string[] = [];
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') stack.push(ch === '{' ? '}' : ']');
    else if (ch === '}' || ch === ']') {
      if (stack.pop() !== ch) return undefined;
      if (stack.length === 0) return text.slice(start, i + 1);
    }
  }
  return undefined;
}
