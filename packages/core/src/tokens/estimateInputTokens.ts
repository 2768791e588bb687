import { binaryPartTokens } from './binaryPartTokens';
import { defaultTokenizer } from './defaultTokenizer';
import type { Tokenizer } from './Tokenizer';

/** Tokens added around each message by the chat format (OpenAI cookbook: `<|start|>role<|message|>…<|end|>`). */
export const TOKENS_PER_MESSAGE = 3;
/** Tokens that prime the reply (`<|start|>assistant<|message|>`), added once per request. */
export const REPLY_PRIMING_TOKENS = 3;
/** Flat charge per image part: the low-detail image cost on OpenAI, a floor for other providers. */
export const TOKENS_PER_IMAGE = 85;

/**
 * The part of a request {@link estimateInputTokens} reads. `messages` is an OpenAI/Anthropic-style
 * chat; `system` is a top-level system prompt (Anthropic); `prompt` a plain completion prompt.
 *
 * @example
 * ```ts
 * const input: TokenEstimateInput = { system: 'Be brief.', messages: [{ role: 'user', content: 'Hi' }] };
 * ```
 */
export interface TokenEstimateInput {
  messages?: ReadonlyArray<{ role: string; content: unknown; name?: unknown }>;
  prompt?: string;
  system?: string;
}

function isImagePart(type: unknown): boolean {
  return typeof type === 'string' && type.includes('image');
}

function contentTokens(content: unknown, model: string | undefined, tokenizer: Tokenizer): number {
  if (typeof content === 'string') return tokenizer.count(content, model);
  if (content === null || content === undefined) return 0;
  if (Array.isArray(content)) {
    let n = 0;
    for (const part of content) n += partTokens(part, model, tokenizer);
    return n;
  }
  return partTokens(content, model, tokenizer);
}

function partTokens(part: unknown, model: string | undefined, tokenizer: Tokenizer): number {
  if (typeof part === 'string') return tokenizer.count(part, model);
  if (part === null || typeof part !== 'object') return 0;
  const p = part as { type?: unknown; text?: unknown; content?: unknown } & Record<string, unknown>;
  if (typeof p.text === 'string') return tokenizer.count(p.text, model);
  if (isImagePart(p.type)) return TOKENS_PER_IMAGE;
  // Files and audio are base64: their text would count some ten times what providers bill.
  const binary = binaryPartTokens(p);
  if (binary !== undefined) return binary;
  // Tool results and the like nest their content; anything else (tool calls, text documents) is
  // counted as its JSON, which over-estimates a little: the safe side for a reservation.
  if (p.content !== undefined) return contentTokens(p.content, model, tokenizer);
  let json: string | undefined;
  try {
    json = JSON.stringify(part);
  } catch {
    json = undefined;
  }
  return json === undefined ? 0 : tokenizer.count(json, model);
}

/**
 * Estimates the input tokens of a request before sending it, the way OpenAI's cookbook counts chat
 * tokens: per message {@link TOKENS_PER_MESSAGE} + role + content (+ name + 1 when named), plus
 * {@link REPLY_PRIMING_TOKENS} once. `system` and `prompt` count as one message each. Content may be a
 * string or an array of parts: text parts (`{ type: 'text', text }`, also `input_text` etc.) are
 * tokenized, image parts cost a flat {@link TOKENS_PER_IMAGE}, files (PDFs) and audio sent as base64
 * are charged by their decoded size, not their base64 text (see {@link binaryPartTokens}: a PDF one
 * token per 32 bytes and at least 1,500, about a page; audio one token per 125 bytes), other parts
 * count as their JSON.
 *
 * The same overhead is applied for every provider: Anthropic and Gemini wrap turns in similar markers,
 * and a few tokens per message is noise next to the content. The result is an estimate to reserve
 * against limits; settle replaces it with the provider's reported usage.
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
  let total = 0;
  let messages = 0;
  if (typeof input.system === 'string') {
    total += TOKENS_PER_MESSAGE + tokenizer.count('system', model) + tokenizer.count(input.system, model);
    messages++;
  }
  const list = input.messages;
  if (list !== undefined) {
    for (let i = 0; i < list.length; i++) {
      const m = list[i];
      if (m === null || typeof m !== 'object') continue;
      total += TOKENS_PER_MESSAGE;
      if (typeof m.role === 'string') total += tokenizer.count(m.role, model);
      total += contentTokens(m.content, model, tokenizer);
      if (typeof m.name === 'string') total += tokenizer.count(m.name, model) + 1;
      messages++;
    }
  }
  if (typeof input.prompt === 'string') {
    total += TOKENS_PER_MESSAGE + tokenizer.count('user', model) + tokenizer.count(input.prompt, model);
    messages++;
  }
  if (messages > 0) total += REPLY_PRIMING_TOKENS;
  return total;
}
