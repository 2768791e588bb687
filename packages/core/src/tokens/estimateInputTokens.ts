import { binaryPartTokens } from './binaryPartTokens';
import { defaultTokenizer, tokenEncodingFor, tokenizerForRequest } from './defaultTokenizer';
import type { Tokenizer } from './Tokenizer';

/** Tokens added around each message by the chat format (OpenAI cookbook: `<|start|>role<|message|>…<|end|>`). */
export const TOKENS_PER_MESSAGE = 3;
/** Tokens that prime the reply (`<|start|>assistant<|message|>`), added once per request. */
export const REPLY_PRIMING_TOKENS = 3;

/**
 * Charge of an OpenAI image part sent with `detail: 'low'`: OpenAI bills a low-detail image a flat 85
 * tokens whatever its size.
 *
 * @example
 * ```ts
 * estimateInputTokens({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url, detail: 'low' } }] }] }, 'gpt-4o'); // 3 + 1 + 85 + 3
 * ```
 */
export const TOKENS_PER_LOW_DETAIL_IMAGE = 85;

/**
 * Charge of an OpenAI image part (`image_url`, Responses `input_image`, or any image part for an
 * OpenAI model) with `detail: 'high'`, `'auto'` or none (OpenAI's default is `auto`, which picks high
 * for all but small images): 765, OpenAI's cost of a typical 1024×1024 image in high detail (85 base
 * + 170 for each of 4 tiles of 512 px). The size is unknown here (nothing is decoded): a smaller image
 * costs less (at least 85 + 170 = 255), a wide one up to 85 + 8 × 170 = 1,445.
 *
 * @example
 * ```ts
 * estimateInputTokens({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }] }, 'gpt-4o'); // 3 + 1 + 765 + 3
 * ```
 */
export const TOKENS_PER_OPENAI_IMAGE = 765;

/**
 * Charge of any other image part (Anthropic `{ type: 'image', source }`, LangChain's image blocks and
 * other shapes that are not OpenAI's, for a non-OpenAI or unknown model): 1,600, Anthropic's cost of an image at its recommended
 * largest size (about 1.15 megapixels, `width × height / 750`), which also covers OpenAI's typical
 * high-detail image.
 *
 * @example
 * ```ts
 * estimateInputTokens({ messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', data } }] }] }); // 3 + 1 + 1600 + 3
 * ```
 */
export const TOKENS_PER_IMAGE = 1_600;

/** Nesting depth of content parts (tool results in tool results...) read before the rest counts 0. */
const MAX_CONTENT_DEPTH = 32;

/**
 * The part of a request {@link estimateInputTokens} reads. `messages` is an OpenAI/Anthropic-style
 * chat; `system` is a top-level system prompt (Anthropic); `prompt` a plain completion prompt. An
 * assistant message's OpenAI `tool_calls` (and the legacy `function_call`) are read too.
 *
 * @example
 * ```ts
 * const input: TokenEstimateInput = { system: 'Be brief.', messages: [{ role: 'user', content: 'Hi' }] };
 * ```
 */
export interface TokenEstimateInput {
  messages?: ReadonlyArray<{ role: string; content: unknown; name?: unknown; tool_calls?: unknown; function_call?: unknown }>;
  prompt?: string;
  system?: string;
}

/** What one estimate counts with: the model, the request's tokenizer, and the parts already read. */
interface Counting {
  model: string | undefined;
  /** Tokens of `text` by the request's tokenizer; sets `tokenizerFailed` when it throws. */
  count(text: string): number;
  /** Set when the tokenizer threw: that error is the tokenizer's, passed on, never taken for unreadable content. */
  tokenizerFailed: boolean;
  /** Parts being read, the current one and its ancestors: a part that contains itself is read once. */
  reading: WeakSet<object>;
}

/**
 * `read()`, or `unreadable` when reading the content throws (a getter that throws, a revoked Proxy,
 * a Proxy trap): such content counts as nothing rather than failing the estimate. An error of the
 * tokenizer itself is passed on (the engine then counts with the heuristic and says so).
 */
function guarded<T>(c: Counting, read: () => T, unreadable: T): T {
  try {
    return read();
  } catch (err) {
    if (c.tokenizerFailed) throw err;
    return unreadable;
  }
}

function isImagePart(type: unknown): boolean {
  return typeof type === 'string' && type.includes('image');
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** See {@link TOKENS_PER_LOW_DETAIL_IMAGE}, {@link TOKENS_PER_OPENAI_IMAGE}, {@link TOKENS_PER_IMAGE}. */
function imageTokens(p: Record<string, unknown>, model: string | undefined): number {
  const detail = p.detail ?? record(p.image_url)?.detail;
  const openaiShape = p.type === 'image_url' || p.type === 'input_image';
  const openaiModel = model !== undefined && tokenEncodingFor(model) !== 'heuristic';
  if (!openaiShape && !openaiModel) return TOKENS_PER_IMAGE;
  return detail === 'low' ? TOKENS_PER_LOW_DETAIL_IMAGE : TOKENS_PER_OPENAI_IMAGE;
}

function contentTokens(content: unknown, c: Counting, depth: number): number {
  if (typeof content === 'string') return c.count(content);
  if (content === null || typeof content !== 'object') return 0;
  if (depth > MAX_CONTENT_DEPTH || c.reading.has(content)) return 0;
  if (guarded(c, () => Array.isArray(content), false)) {
    const list = content as unknown[];
    c.reading.add(list);
    let n = 0;
    try {
      const length = guarded(c, () => list.length, 0);
      // Each part on its own: one unreadable part (or a throwing index trap) counts 0, not the rest.
      for (let i = 0; i < length; i++) n += partTokens(guarded(c, () => list[i], undefined), c, depth + 1);
    } finally {
      c.reading.delete(list);
    }
    return n;
  }
  return partTokens(content, c, depth + 1);
}

function partTokens(part: unknown, c: Counting, depth: number): number {
  if (typeof part === 'string') return c.count(part);
  if (part === null || typeof part !== 'object') return 0;
  if (depth > MAX_CONTENT_DEPTH || c.reading.has(part)) return 0;
  c.reading.add(part);
  try {
    // A part whose fields cannot be read (a throwing getter, a Proxy) is unreadable: it counts 0.
    return guarded(c, () => objectPartTokens(part, c, depth), 0);
  } finally {
    c.reading.delete(part);
  }
}

function objectPartTokens(part: object, c: Counting, depth: number): number {
  const p = part as { type?: unknown; text?: unknown; content?: unknown } & Record<string, unknown>;
  if (typeof p.text === 'string') return c.count(p.text);
  if (isImagePart(p.type)) return imageTokens(p, c.model);
  // Files and audio are base64: their text would count some ten times what providers bill.
  const binary = binaryPartTokens(p);
  if (binary !== undefined) return binary;
  // Tool results and the like nest their content; anything else (Anthropic `tool_use` blocks with
  // their `input`, text documents) is counted as its JSON, which over-estimates a little: the safe
  // side for a reservation.
  if (p.content !== undefined) return contentTokens(p.content, c, depth);
  return jsonTokens(part, c);
}

/** Tokens of `value` as JSON text; 0 when it has none (a cycle, a BigInt, a throwing `toJSON`). */
function jsonTokens(value: unknown, c: Counting): number {
  let json: string | undefined;
  try {
    json = typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    json = undefined;
  }
  return json === undefined ? 0 : c.count(json);
}

/**
 * An OpenAI function call (`tool_calls[].function` or the legacy `function_call`): its name and its
 * `arguments` (a JSON string, or an object counted as its JSON). Billed as input when the assistant
 * turn is sent back with the tool results.
 */
function functionCallTokens(call: unknown, c: Counting): number {
  const f = record(call);
  if (f === undefined) return 0;
  let n = typeof f.name === 'string' ? c.count(f.name) : 0;
  if (f.arguments !== undefined) n += jsonTokens(f.arguments, c);
  return n;
}

/** An assistant message's `tool_calls` and `function_call`. */
function toolCallTokens(m: { tool_calls?: unknown; function_call?: unknown }, c: Counting): number {
  let n = 0;
  if (Array.isArray(m.tool_calls)) {
    for (const call of m.tool_calls) {
      const tc = record(call);
      if (tc === undefined) continue;
      // `{ id, type: 'function', function: { name, arguments } }`; a custom tool's `custom.input` likewise.
      n += functionCallTokens(tc.function ?? tc.custom, c);
      const custom = record(tc.custom);
      if (custom !== undefined && custom.input !== undefined) n += jsonTokens(custom.input, c);
    }
  }
  if (m.function_call !== undefined) n += functionCallTokens(m.function_call, c);
  return n;
}

/**
 * Estimates the input tokens of a request before sending it, the way OpenAI's cookbook counts chat
 * tokens: per message {@link TOKENS_PER_MESSAGE} + role + content (+ name + 1 when named) + its tool
 * calls (an assistant message's `tool_calls[].function` and legacy `function_call`: name and
 * `arguments`), plus {@link REPLY_PRIMING_TOKENS} once. `system` and `prompt` count as one message
 * each. Content may be a string or an array of parts: text parts (`{ type: 'text', text }`, also
 * `input_text` etc.) are tokenized; image parts cost {@link TOKENS_PER_LOW_DETAIL_IMAGE} (OpenAI,
 * `detail: 'low'`), {@link TOKENS_PER_OPENAI_IMAGE} (OpenAI, other detail) or {@link TOKENS_PER_IMAGE}
 * (Anthropic, others); files (PDFs) and audio sent as base64 are charged by their decoded size, not
 * their base64 text (see {@link binaryPartTokens}: a PDF one token per 32 bytes and at least 1,500,
 * about a page; audio one token per 125 bytes); other parts (Anthropic `tool_use`) count as their
 * JSON. A part that contains itself is counted once, nesting deeper than 32 levels is not read, and
 * a part (or message field) that cannot be read, its getter or Proxy trap throwing, counts 0:
 * estimating never throws for the content's sake. An error the tokenizer throws is passed on.
 *
 * The same overhead is applied for every provider: Anthropic and Gemini wrap turns in similar markers,
 * and a few tokens per message is noise next to the content. With {@link defaultTokenizer}, the time
 * spent on exact BPE is bounded for the whole request (see {@link tokenizerForRequest}). The result
 * is an estimate to reserve against limits; settle replaces it with the provider's reported usage.
 *
 * @example
 * ```ts
 * estimateInputTokens({ messages: [{ role: 'user', content: 'Hello, world!' }] }, 'gpt-4o'); // 11
 * ```
 */
export function estimateInputTokens(
  input: TokenEstimateInput,
  model?: string,
  tokenizer: Tokenizer = defaultTokenizer,
): number {
  const counter = tokenizerForRequest(tokenizer);
  const c: Counting = {
    model,
    count(text) {
      try {
        return counter.count(text, model);
      } catch (err) {
        c.tokenizerFailed = true;
        throw err;
      }
    },
    tokenizerFailed: false,
    reading: new WeakSet(),
  };
  // Every read of the request goes through `read`: a field whose getter throws (a Proxy, a lazy
  // SDK object) reads as absent, and counts nothing.
  const read = (target: object, key: string): unknown => guarded(c, () => (target as Record<string, unknown>)[key], undefined);
  let total = 0;
  let messages = 0;
  const system = read(input, 'system');
  if (typeof system === 'string') {
    total += TOKENS_PER_MESSAGE + c.count('system') + c.count(system);
    messages++;
  }
  const list = read(input, 'messages');
  if (list !== null && typeof list === 'object') {
    const length = Number(read(list, 'length'));
    for (let i = 0; i < length; i++) {
      const m = read(list, String(i));
      if (m === null || typeof m !== 'object') continue;
      total += TOKENS_PER_MESSAGE;
      const role = read(m, 'role');
      if (typeof role === 'string') total += c.count(role);
      total += contentTokens(read(m, 'content'), c, 0);
      const name = read(m, 'name');
      if (typeof name === 'string') total += c.count(name) + 1;
      total += guarded(c, () => toolCallTokens(m, c), 0);
      messages++;
    }
  }
  const prompt = read(input, 'prompt');
  if (typeof prompt === 'string') {
    total += TOKENS_PER_MESSAGE + c.count('user') + c.count(prompt);
    messages++;
  }
  if (messages > 0) total += REPLY_PRIMING_TOKENS;
  return total;
}
