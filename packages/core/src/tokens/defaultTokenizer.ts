import { heuristicTokenCount } from './heuristicTokenCount';
import type { Tokenizer } from './Tokenizer';

/**
 * How {@link defaultTokenizer} counts for a model.
 *
 * @example
 * ```ts
 * const e: TokenEncoding = tokenEncodingFor('gpt-4o'); // 'o200k_base'
 * ```
 */
export type TokenEncoding = 'o200k_base' | 'cl100k_base' | 'heuristic';

/**
 * Above this many characters a string is estimated with {@link heuristicTokenCount} outright, even for
 * OpenAI models, without spending any BPE time on it. Within one request (see
 * {@link tokenizerForRequest}) it bounds the characters of all its strings together: a string longer
 * than what is left of it is estimated with the heuristic, or at the ratio measured on the request
 * when that is denser (see `pastBudget`).
 */
export const MAX_EXACT_TOKENIZE_CHARS = 200_000;

/**
 * Time one {@link defaultTokenizer} call, or one request's calls together (see
 * {@link tokenizerForRequest}), may spend on exact BPE before it estimates the rest. BPE cost
 * depends on content, not only length: 200k characters of English take ~5 ms, but 200k of random
 * CJK characters take ~2.6 s and random ASCII letters ~0.4 s (measured on gpt-tokenizer 4), and any
 * caller can send either. Text is tokenized in chunks of {@link TOKENIZE_CHUNK_CHARS}; once a call has
 * used this budget, the remainder is extrapolated at the higher of two measured tokens-per-character
 * ratios, the last chunk's and the whole counted prefix's (measured ratios track the text's language
 * far better than {@link heuristicTokenCount}). Typical prompts finish well within the budget and stay
 * exact; the first call in a process may reach it while the tokenizer is still cold.
 */
export const TOKENIZE_BUDGET_MS = 20;

/** Chunk size (characters) between budget checks; cut at whitespace when there is some nearby. */
export const TOKENIZE_CHUNK_CHARS = 1024;

/**
 * The first characters of a call, or of a request's calls together, counted exactly before the clock
 * of {@link TOKENIZE_BUDGET_MS} starts: a short prompt is counted exactly however loaded the machine
 * is (a garbage collection or a busy CPU between two of its messages would otherwise spend the time
 * budget on a few hundred characters). 2 048 characters take well under 1 ms on English text and
 * about 30 ms on the densest (random CJK).
 */
export const UNTIMED_TOKENIZE_CHARS = 2_048;

/**
 * Runs of non-whitespace longer than this are tokenized in pieces of this size. BPE is quadratic in the
 * length of one pre-tokenized piece (50k Chinese characters without punctuation: ~12 s in one piece);
 * splitting bounds it, at the price of at most one extra token per cut (an over-estimate, the safe side).
 */
const MAX_RUN = 128;
const LONG_RUN = /\S{129,}/g;

/** Special-token strings in user text are text (as the OpenAI API treats them), never an error. */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

const O200K_MODELS = /^(?:gpt-4o|gpt-4\.1|gpt-4\.5|gpt-oss|gpt-realtime|gpt-audio|gpt-image|chatgpt-|o\d|codex|computer-use|omni-moderation)/;
const CL100K_MODELS = /^(?:gpt-4|gpt-3\.5|gpt-35|text-embedding-3|text-embedding-ada)/;
const GPT_MAJOR = /^gpt-(\d+)/;

/**
 * The encoding {@link defaultTokenizer} uses for a model name. Provider prefixes (`openai/gpt-4o`) and
 * fine-tune prefixes (`ft:gpt-4o-mini:org::id`) are ignored; the name is matched case-insensitively.
 *
 * - `o200k_base`: gpt-4o, gpt-4.1, gpt-4.5, gpt-5 and later, o-series (o1, o3, o4...), gpt-oss,
 *   realtime/audio models; also when no model is given (the current OpenAI default).
 * - `cl100k_base`: gpt-4 (incl. gpt-4-turbo), gpt-3.5, Azure `gpt-35-*`, text-embedding-3/ada.
 * - `heuristic`: everything else (Claude, Gemini, Llama, Mistral, ...), see {@link heuristicTokenCount}.
 *
 * @example
 * ```ts
 * tokenEncodingFor('gpt-4-turbo');      // 'cl100k_base'
 * tokenEncodingFor('claude-sonnet-4');  // 'heuristic'
 * ```
 */
export function tokenEncodingFor(model?: string): TokenEncoding {
  if (model === undefined || model === '') return 'o200k_base';
  let name = model.toLowerCase();
  const slash = name.lastIndexOf('/');
  if (slash >= 0) name = name.slice(slash + 1);
  if (name.startsWith('ft:')) name = name.slice(3);
  if (O200K_MODELS.test(name)) return 'o200k_base';
  if (CL100K_MODELS.test(name)) return 'cl100k_base';
  const major = GPT_MAJOR.exec(name);
  if (major && Number(major[1]) >= 5) return 'o200k_base';
  return 'heuristic';
}

/**
 * What exact BPE one request has left: set on its first count, shared by all its strings (see
 * {@link tokenizerForRequest}). Without one, each string gets a fresh budget.
 *
 * @example
 * ```ts
 * const budget: TokenizeBudget = { chars: MAX_EXACT_TOKENIZE_CHARS };
 * ```
 */
export interface TokenizeBudget {
  /**
   * When the time budget started (the counter's clock): once {@link UNTIMED_TOKENIZE_CHARS}
   * characters were counted exactly; undefined before.
   */
  startedAt?: number;
  /** Characters still allowed exact counting; starts at {@link MAX_EXACT_TOKENIZE_CHARS}. */
  chars: number;
  /**
   * Characters and tokens counted exactly so far: once the budget is spent, later strings are
   * estimated at this ratio when it is denser than the heuristic's (hex, base64, numbers run at
   * 1.5 to 2 characters per token, the heuristic assumes 3.5).
   */
  measuredChars?: number;
  measuredTokens?: number;
}

/**
 * Characters the request must have counted exactly before its measured ratio is trusted for the rest:
 * a few characters (`'Q:'`, one token for two characters) say nothing about a long document after them.
 */
const MIN_MEASURED_CHARS = 2_000;

/**
 * Densest ratio taken from a measurement (tokens per character): BPE rarely goes past one token per
 * 1.5 characters on real text (hex and base64 run at 1.5 to 2); a measurement denser than that is capped.
 */
const MAX_MEASURED_RATIO = 0.7;

/**
 * The estimate of a string past the budget: the heuristic, or the request's measured ratio when that
 * is denser and measured on at least {@link MIN_MEASURED_CHARS} characters (capped at {@link MAX_MEASURED_RATIO}).
 */
function pastBudget(text: string, budget: TokenizeBudget): number {
  const h = heuristicTokenCount(text);
  const chars = budget.measuredChars ?? 0;
  if (!(chars >= MIN_MEASURED_CHARS)) return h;
  const ratio = Math.min(MAX_MEASURED_RATIO, (budget.measuredTokens ?? 0) / chars);
  return Math.max(h, Math.ceil(text.length * ratio));
}

/** Starts `budget`'s time budget once {@link UNTIMED_TOKENIZE_CHARS} characters were counted exactly. */
function startClock(budget: TokenizeBudget, now: () => number): void {
  if (budget.startedAt === undefined && (budget.measuredChars ?? 0) >= UNTIMED_TOKENIZE_CHARS) budget.startedAt = now();
}

/** Adds an exact count of `chars` characters to `budget`'s measured ratio. */
function measured(budget: TokenizeBudget, chars: number, tokens: number): number {
  budget.measuredChars = (budget.measuredChars ?? 0) + chars;
  budget.measuredTokens = (budget.measuredTokens ?? 0) + tokens;
  return tokens;
}

type Count = (text: string, budget?: TokenizeBudget) => number;
type BpeCount = (text: string, options: typeof AS_TEXT) => number;

/** Options of {@link bpeTokenCounter} (tests shrink the budget to exercise the fallback). */
export interface BpeTokenCounterOptions {
  budgetMs?: number;
  chunkChars?: number;
  now?: () => number;
}

/**
 * Wraps a BPE `countTokens` with the latency bounds described on {@link defaultTokenizer}. Given a
 * {@link TokenizeBudget}, the bounds apply to all strings counted with it together: once it is spent,
 * later strings are estimated with {@link heuristicTokenCount}, or at the ratio measured on the
 * request's strings so far when that is denser (data-heavy tool output).
 *
 * @example
 * ```ts
 * const count = bpeTokenCounter(countTokens, { budgetMs: 5 });
 * count('Hello, world!'); // 4
 * const budget: TokenizeBudget = { chars: MAX_EXACT_TOKENIZE_CHARS };
 * for (const m of messages) total += count(m.content, budget); // 5 ms for all of them
 * ```
 */
export function bpeTokenCounter(count: BpeCount, options: BpeTokenCounterOptions = {}): Count {
  const budgetMs = options.budgetMs ?? TOKENIZE_BUDGET_MS;
  const chunk = Math.max(MAX_RUN * 2, options.chunkChars ?? TOKENIZE_CHUNK_CHARS);
  const now = options.now ?? (() => performance.now());
  return (text, shared) => {
    const n = text.length;
    if (n === 0) return 0;
    const budget = shared ?? { chars: MAX_EXACT_TOKENIZE_CHARS };
    if (n > budget.chars) return pastBudget(text, budget);
    if (budget.startedAt !== undefined && now() - budget.startedAt >= budgetMs) return pastBudget(text, budget);
    if (n <= chunk) {
      budget.chars -= n;
      const tokens = measured(budget, n, countPiece(count, text));
      startClock(budget, now);
      return tokens;
    }
    let total = 0;
    let i = 0;
    while (i < n) {
      const j = cutPoint(text, i, Math.min(i + chunk, n));
      const tokens = measured(budget, j - i, countPiece(count, text.slice(i, j)));
      budget.chars -= j - i;
      total += tokens;
      const last = tokens / (j - i);
      i = j;
      const start = budget.startedAt;
      if (start === undefined) startClock(budget, now);
      else if (i < n && now() - start >= budgetMs) {
        return total + Math.ceil(Math.max(last, total / i) * (n - i));
      }
    }
    return total;
  };
}

/**
 * End of a chunk starting at `from`: just before a space that follows a non-space (within 256 chars),
 * so the next chunk starts with " word" exactly as the pre-tokenizer would split it; otherwise a hard
 * cut, never inside a surrogate pair.
 */
function cutPoint(text: string, from: number, to: number): number {
  if (to >= text.length) return text.length;
  for (let k = to; k > to - 256 && k > from + 1; k--) {
    if (text.charCodeAt(k) === 32 && !isSpace(text.charCodeAt(k - 1))) return k;
  }
  return isHighSurrogate(text.charCodeAt(to - 1)) ? to + 1 : to;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 9 || c === 13;
}

/** Counts one chunk, splitting runs of non-whitespace longer than {@link MAX_RUN}. */
function countPiece(count: BpeCount, text: string): number {
  LONG_RUN.lastIndex = 0;
  if (!LONG_RUN.test(text)) return count(text, AS_TEXT);
  let total = 0;
  let from = 0;
  LONG_RUN.lastIndex = 0;
  for (let m = LONG_RUN.exec(text); m !== null; m = LONG_RUN.exec(text)) {
    if (m.index > from) total += count(text.slice(from, m.index), AS_TEXT);
    const end = m.index + m[0].length;
    let i = m.index;
    while (i < end) {
      let j = Math.min(i + MAX_RUN, end);
      if (j < end && isHighSurrogate(text.charCodeAt(j - 1))) j++;
      total += count(text.slice(i, j), AS_TEXT);
      i = j;
    }
    from = end;
  }
  if (from < text.length) total += count(text.slice(from), AS_TEXT);
  return total;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * The BPE encoders are loaded on first use, one per encoding: each holds its whole vocabulary in
 * memory (about 20 MB of heap for o200k, as much for cl100k), which an application that never
 * tokenizes (every request carries `inputTokens`, or only non-OpenAI models) should not pay for, in
 * memory or in garbage-collection time. `require` is synchronous, so the first count is exact too; the
 * ESM build gets a `require` from `createRequire(import.meta.url)` (see this package's tsup config).
 */
function lazyBpe(load: () => BpeCount): Count {
  let count: Count | undefined;
  return (text, budget) => (count ??= bpeTokenCounter(load()))(text, budget);
}

const COUNTERS: Record<TokenEncoding, Count> = {
  o200k_base: lazyBpe(() => (require('gpt-tokenizer/encoding/o200k_base') as { countTokens: BpeCount }).countTokens),
  cl100k_base: lazyBpe(() => (require('gpt-tokenizer/encoding/cl100k_base') as { countTokens: BpeCount }).countTokens),
  heuristic: heuristicTokenCount,
};

const byModel = new Map<string, Count>();
const MAX_CACHED_MODELS = 256;

function counterFor(model: string | undefined): Count {
  if (model === undefined) return COUNTERS.o200k_base;
  let c = byModel.get(model);
  if (c === undefined) {
    c = COUNTERS[tokenEncodingFor(model)];
    if (byModel.size >= MAX_CACHED_MODELS) byModel.clear();
    byModel.set(model, c);
  }
  return c;
}

/**
 * The built-in {@link Tokenizer}: exact BPE counts (via `gpt-tokenizer`, encoders loaded on first
 * use) for OpenAI models, {@link heuristicTokenCount} for the others, chosen per model by
 * {@link tokenEncodingFor}. Latency is bounded whatever the content: strings over
 * {@link MAX_EXACT_TOKENIZE_CHARS} characters are estimated heuristically, a call that has spent
 * {@link TOKENIZE_BUDGET_MS} on BPE estimates the rest, and long runs without whitespace are split
 * (worst case ~40 ms per call). `estimateInputTokens` counts a request's strings through
 * {@link tokenizerForRequest}, so these bounds hold for the whole request, however many messages it
 * has. Special-token strings such as `<|endoftext|>` count as plain text.
 *
 * @example
 * ```ts
 * defaultTokenizer.count('Hello, world!', 'gpt-4o'); // 4
 * defaultTokenizer.count('Hello, world!', 'claude-haiku-4'); // 4 (heuristic)
 * ```
 */
export const defaultTokenizer: Tokenizer = {
  count(text: string, model?: string): number {
    return counterFor(model)(text);
  },
};

/**
 * The tokenizer to count one request's strings with. For {@link defaultTokenizer}, a tokenizer whose
 * calls share one {@link TokenizeBudget} ({@link TOKENIZE_BUDGET_MS} of BPE time, from the first
 * count, and {@link MAX_EXACT_TOKENIZE_CHARS} characters): a request of 1,000 messages is bounded like
 * one long string, not 1,000 times over; once the budget is spent the remaining strings are estimated
 * with {@link heuristicTokenCount}, or at the ratio measured on the request when that is denser (after
 * 2,000 characters measured, at most 0.7 tokens per character). Any other tokenizer (a custom one, the engine's heuristic) is
 * returned as it is: it keeps the plain `count(text, model)` interface.
 *
 * @example
 * ```ts
 * const t = tokenizerForRequest(defaultTokenizer);
 * let total = 0;
 * for (const m of messages) total += t.count(m.content, 'gpt-4o'); // ~20 ms of BPE at most, in all
 * ```
 */
export function tokenizerForRequest(tokenizer: Tokenizer): Tokenizer {
  if (tokenizer !== defaultTokenizer) return tokenizer;
  const budget: TokenizeBudget = { chars: MAX_EXACT_TOKENIZE_CHARS };
  return { count: (text, model) => counterFor(model)(text, budget) };
}
