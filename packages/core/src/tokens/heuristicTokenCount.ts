/**
 * Characters per token assumed for text in alphabetic scripts.
 *
 * @example
 * ```ts
 * const roughTokens = Math.ceil(text.length / CHARS_PER_TOKEN);
 * ```
 */
export const CHARS_PER_TOKEN = 3.5;

/**
 * A tokenizer-free estimate: `ceil(chars / 3.5)`, where characters from U+2E80 up (CJK, kana, Hangul,
 * and each half of a surrogate pair such as an emoji) count as one token each.
 *
 * Why these numbers: we ship no tokenizer for Claude, Gemini, Llama, Mistral and the like (their
 * vocabularies are not public or not small), and the estimate is only used to *reserve* capacity
 * before the call; the provider's reported usage replaces it at settle. Anthropic documents roughly
 * 3.5 English characters per token and Google about 4, so 3.5 errs on the high side: over-reserving
 * is refunded a moment later, while under-reserving lets a burst overrun the provider's own TPM limit
 * and come back as 429s. Ideographic scripts run close to one token per character on those
 * tokenizers, so dividing them by 3.5 would under-reserve by 3–4×; they count 1 each instead.
 *
 * @example
 * ```ts
 * heuristicTokenCount('Hello, world!'); // 4  (13 chars / 3.5, rounded up)
 * heuristicTokenCount('你好');          // 2
 * ```
 */
export function heuristicTokenCount(text: string): number {
  const n = text.length;
  if (n === 0) return 0;
  let wide = 0;
  for (let i = 0; i < n; i++) {
    if (text.charCodeAt(i) >= 0x2e80) wide++;
  }
  return Math.ceil((n - wide) / CHARS_PER_TOKEN) + wide;
}
