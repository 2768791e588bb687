/** Most JSON candidates read from one reply, and most bracket positions tried (bounds the work on long replies full of brackets). */
const MAX_CANDIDATES = 16;
const MAX_STARTS = 64;

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
  for (const value of jsonCandidates(text)) return { ok: true, value };
  return { ok: false, reason: text.trim() === '' ? 'empty reply' : 'the reply is not valid JSON' };
}

/**
 * Every JSON value a reply may be carrying, most likely first: the whole text, each fenced block,
 * then each balanced `{...}` / `[...]` span that parses, left to right (at most 16). A validator
 * takes the first that matches its schema, so "See [1]: {...}" is judged on the object, not on `[1]`.
 *
 * @example
 * ```ts
 * [...jsonCandidates('Note [1] below. {"intent":"refund"}')]; // [[1], { intent: 'refund' }]
 * ```
 */
export function* jsonCandidates(text: string): Generator<unknown, void, undefined> {
  let yielded = 0;
  const direct = tryParse(text.trim());
  if (direct.ok) {
    yield direct.value;
    return;
  }
  /** Fenced blocks that parsed: their spans are not read again. */
  const fences: Array<[number, number]> = [];
  for (const fence of text.matchAll(/```(?:json)?\s*([\s\S]*?)```/gi)) {
    const inFence = tryParse(fence[1]!.trim());
    if (inFence.ok) {
      fences.push([fence.index, fence.index + fence[0].length]);
      yield inFence.value;
      if (++yielded >= MAX_CANDIDATES) return;
    }
  }
  for (let from = 0, starts = 0; from < text.length && starts < MAX_STARTS; starts++) {
    const start = text.slice(from).search(/[[{]/);
    if (start < 0) return;
    const at = from + start;
    const fence = fences.find(([a, b]) => at >= a && at < b);
    if (fence !== undefined) {
      from = fence[1];
      continue;
    }
    const end = balancedEnd(text, at);
    if (end !== undefined) {
      const inner = tryParse(text.slice(at, end));
      if (inner.ok) {
        yield inner.value;
        if (++yielded >= MAX_CANDIDATES) return;
        from = end; // a parsed span's own inner brackets are part of it
        continue;
      }
    }
    from = at + 1;
  }
}

function tryParse(s: string): { ok: true; value: unknown } | { ok: false } {
  if (s === '') return { ok: false };
  try {
    return { ok: true, value: JSON.parse(s) };
  } catch {
    return { ok: false };
  }
}

/** The end (exclusive) of the balanced span opening at `start`, or undefined. */
function balancedEnd(text: string, start: number): number | undefined {
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
      if (stack.length === 0) return i + 1;
    }
  }
  return undefined;
}
