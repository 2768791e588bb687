import { valueFromSchema } from './jsonFromSchema';
import { createRandom, hashText } from './random';

/**
 * The fake provider's token estimate: `ceil(characters / 4)`. Prompt tokens, reply tokens, `usage`
 * and every limit use it, so tests can compute expected numbers exactly.
 *
 * @example
 * ```ts
 * estimateTokens('hello world'); // 3
 * ```
 */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * What the request asked the reply to look like.
 *
 * @example
 * ```ts
 * const f: ReplyFormat = { type: 'json_schema', schema: { type: 'object', properties: {} } };
 * ```
 */
export type ReplyFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; schema: unknown }
  | { type: 'tool'; name: string; schema: unknown };

/**
 * Inputs of {@link buildReply}.
 *
 * @example
 * ```ts
 * const input: ReplyInput = { model: 'm', promptText: 'hi', format: { type: 'text' }, maxTokens: 100, replyTokens: 16, seed: 1, invalidJson: false };
 * ```
 */
export interface ReplyInput {
  model: string;
  /** All prompt text, concatenated; its hash tags the reply. */
  promptText: string;
  format: ReplyFormat;
  maxTokens: number | undefined;
  replyTokens: number;
  seed: number;
  /** The `invalid_json_reply` fault: JSON was asked for, answer with something that is not JSON. */
  invalidJson: boolean;
}

/**
 * A generated reply. `text` is empty for tool calls.
 *
 * @example
 * ```ts
 * const { text, outputTokens, finish } = buildReply(input);
 * ```
 */
export interface Reply {
  text: string;
  toolCall?: { id: string; name: string; arguments: string; input: unknown };
  outputTokens: number;
  finish: 'stop' | 'length' | 'tool';
}

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa'];
/** Every length from MIN_WORD to MAX_WORD has a word in WORDS: {@link prose} relies on it. */
const MIN_WORD = 4;
const MAX_WORD = 8;

/**
 * The reply prefix that tells a test who answered which prompt: `[model] reply to <8-hex hash>`.
 *
 * @example
 * ```ts
 * replyTag('fast-a', 'hello'); // '[fast-a] reply to 4f9f2cab'
 * ```
 */
export function replyTag(model: string, promptText: string): string {
  return `[${model}] reply to ${hashText(promptText)}`;
}

/**
 * `[model] reply to <hash>: words...` of exactly `replyTokens × 4` characters, so exactly `replyTokens`
 * tokens by {@link estimateTokens}; when the tag alone is longer, just the tag, a colon and a period.
 */
function prose(input: ReplyInput): string {
  const tag = replyTag(input.model, input.promptText);
  const rnd = createRandom((parseInt(hashText(input.promptText), 16) ^ input.seed) >>> 0);
  const pick = (words: readonly string[]): string => words[Math.floor(rnd() * words.length)]!;
  let text = `${tag}:`;
  // Room left before the final '.'; each word takes 1 + 4..8 characters.
  let room = input.replyTokens * 4 - 1 - text.length;
  // Random words while at least one whole word would still fit after them ...
  for (;;) {
    const word = pick(WORDS);
    if (room - (1 + word.length) < MIN_WORD + 1) break;
    text += ` ${word}`;
    room -= 1 + word.length;
  }
  // ... then one or two words that fill the rest exactly (room is 5..13 here when the tag fits).
  while (room >= MIN_WORD + 1) {
    const length = room <= MAX_WORD + 1 ? room - 1 : Math.min(MAX_WORD, room - 1 - (MIN_WORD + 1));
    text += ` ${pick(WORDS.filter((w) => w.length === length))}`;
    room -= 1 + length;
  }
  // Fewer than 4 characters short is still the same token count; exactly 4 short would be one less.
  if (room === 4) text += ' ok';
  return text + '.';
}

/**
 * A deterministic reply: the same model, prompt, format and seed always give the same reply.
 * Text replies are `[model] reply to <hash>: words...`; JSON replies match the schema (strings carry
 * the tag); replies longer than `maxTokens` (text, JSON and forced tool-call arguments alike) are cut
 * and finish with `length`.
 *
 * @example
 * ```ts
 * const r = buildReply({ model: 'fast-a', promptText: 'hi', format: { type: 'text' }, maxTokens: undefined, replyTokens: 16, seed: 1, invalidJson: false });
 * r.text.startsWith('[fast-a] reply to'); // true
 * ```
 */
export function buildReply(input: ReplyInput): Reply {
  const tag = replyTag(input.model, input.promptText);
  const { format } = input;
  if (format.type === 'tool' && !input.invalidJson) {
    const value = valueFromSchema(format.schema, tag);
    const args = JSON.stringify(value);
    const id = `call_${hashText(tag + format.name)}`;
    const cut = cutAt(args, input.maxTokens);
    // Cut arguments are not valid JSON; the parsed input is then empty, as the real APIs leave it.
    if (cut !== undefined) return { text: '', toolCall: { id, name: format.name, arguments: cut, input: {} }, outputTokens: estimateTokens(cut), finish: 'length' };
    return { text: '', toolCall: { id, name: format.name, arguments: args, input: value }, outputTokens: estimateTokens(args), finish: 'tool' };
  }
  let text: string;
  if (format.type === 'text') text = prose(input);
  else if (input.invalidJson) text = `Sure! Here is the JSON you asked for:\n{"reply": "${tag}"`;
  else if (format.type === 'json_schema') text = JSON.stringify(valueFromSchema(format.schema, tag));
  else text = JSON.stringify({ reply: tag });
  const cut = cutAt(text, input.maxTokens);
  if (cut !== undefined) return { text: cut, outputTokens: estimateTokens(cut), finish: 'length' };
  return { text, outputTokens: estimateTokens(text), finish: 'stop' };
}

/** The first `maxTokens` tokens of `text`, or undefined when it fits. */
function cutAt(text: string, maxTokens: number | undefined): string | undefined {
  if (maxTokens === undefined || estimateTokens(text) <= maxTokens) return undefined;
  return text.slice(0, maxTokens * 4);
}

/**
 * Splits reply text into stream chunks of about one word each.
 *
 * @example
 * ```ts
 * chunkText('a bc d'); // ['a ', 'bc ', 'd']
 * ```
 */
export function chunkText(text: string): string[] {
  const parts = text.match(/\S+\s*|\s+/g) ?? [];
  return parts.length ? parts : [text];
}
