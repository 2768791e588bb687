/**
 * Counts tokens in a piece of text for a model. Used to estimate a request's input tokens before it is
 * sent, so that token limits are reserved up front (then settled with the provider's real usage).
 * Implementations must be synchronous and fast: the engine calls them on every request.
 *
 * @example
 * ```ts
 * const words: Tokenizer = { count: (text) => text.split(/\s+/).filter(Boolean).length };
 * createResilience(policy, { tokenizer: words });
 * ```
 */
export interface Tokenizer {
  /** Tokens in `text` as `model` would count them (`model` as named in the policy's target). */
  count(text: string, model?: string): number;
}
