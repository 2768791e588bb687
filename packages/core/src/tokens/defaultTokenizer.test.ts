import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';
import {
  bpeTokenCounter,
  defaultTokenizer,
  MAX_EXACT_TOKENIZE_CHARS,
  tokenEncodingFor,
  tokenizerForRequest,
  UNTIMED_TOKENIZE_CHARS,
  type TokenizeBudget,
} from './defaultTokenizer';
import { heuristicTokenCount } from './heuristicTokenCount';

describe('tokenEncodingFor', () => {
  it.each([
    ['gpt-4o', 'o200k_base'],
    ['gpt-4o-mini-2024-07-18', 'o200k_base'],
    ['gpt-4.1-nano', 'o200k_base'],
    ['gpt-5', 'o200k_base'],
    ['gpt-5.4-mini', 'o200k_base'],
    ['gpt-7-preview', 'o200k_base'],
    ['o1', 'o200k_base'],
    ['o3-mini', 'o200k_base'],
    ['o4-mini', 'o200k_base'],
    ['openai/gpt-4o', 'o200k_base'],
    ['ft:gpt-4o-mini:acme::abc123', 'o200k_base'],
    ['GPT-4O', 'o200k_base'],
    [undefined, 'o200k_base'],
    ['gpt-4', 'cl100k_base'],
    ['gpt-4-turbo', 'cl100k_base'],
    ['gpt-4-0613', 'cl100k_base'],
    ['gpt-3.5-turbo', 'cl100k_base'],
    ['gpt-35-turbo', 'cl100k_base'],
    ['claude-sonnet-4-5', 'heuristic'],
    ['anthropic.claude-3-haiku-20240307-v1:0', 'heuristic'],
    ['gemini-2.5-flash', 'heuristic'],
    ['meta-llama/Llama-3.3-70B-Instruct', 'heuristic'],
    ['mistral-large-latest', 'heuristic'],
  ] as const)('%s -> %s', (model, encoding) => {
    expect(tokenEncodingFor(model)).toBe(encoding);
  });
});

describe('defaultTokenizer', () => {
  it('counts exactly with the model encoding', () => {
    expect(defaultTokenizer.count('Hello, world!', 'gpt-4o')).toBe(4);
    expect(defaultTokenizer.count('The quick brown fox jumps over the lazy dog.', 'gpt-4o')).toBe(10);
    expect(defaultTokenizer.count('The quick brown fox jumps over the lazy dog.', 'gpt-4')).toBe(10);
    // The encodings differ on non-English text.
    expect(defaultTokenizer.count('こんにちは、世界', 'gpt-4o')).not.toBe(defaultTokenizer.count('こんにちは、世界', 'gpt-3.5-turbo'));
    expect(defaultTokenizer.count('', 'gpt-4o')).toBe(0);
  });

  it('uses the heuristic for models without a public tokenizer', () => {
    const text = 'The quick brown fox jumps over the lazy dog.'; // 44 chars
    expect(defaultTokenizer.count(text, 'claude-haiku-4-5')).toBe(13);
    expect(defaultTokenizer.count('你好世界', 'gemini-2.5-pro')).toBe(4);
  });

  it('counts special-token strings in user text as plain text instead of throwing', () => {
    expect(defaultTokenizer.count('x <|endoftext|> y', 'gpt-4o')).toBe(9);
    expect(defaultTokenizer.count('<|im_start|>', 'gpt-4')).toBeGreaterThan(1);
  });

  it('counts long texts exactly when they stay within the time budget', () => {
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(1000); // 45k chars, many chunks
    // The default counter (o200k BPE, chunked) on a clock that never moves: the budget is never spent.
    // On the real clock a loaded machine may spend it and extrapolate the rest, which is the point.
    const count = bpeTokenCounter(countO200k, { now: () => 0 });
    expect(count(text)).toBe(countO200k(text));
  });

  it('estimates heuristically above MAX_EXACT_TOKENIZE_CHARS', () => {
    const text = 'abcd '.repeat(MAX_EXACT_TOKENIZE_CHARS / 5 + 1);
    expect(defaultTokenizer.count(text, 'gpt-4o')).toBe(heuristicTokenCount(text));
  });

  it('splits long runs without whitespace, so pathological input stays fast and over-counts only slightly', () => {
    const cjk = '中文字符测试'.repeat(5000); // 30k characters in one BPE piece: seconds when not split
    // BPE is quadratic in a piece's length: no piece it is given is longer than 128 characters.
    let longest = 0;
    bpeTokenCounter(
      (x) => {
        longest = Math.max(longest, x.length);
        return countO200k(x);
      },
      { now: () => 0 },
    )(cjk);
    expect(longest).toBeLessThanOrEqual(128);
    const n = defaultTokenizer.count(cjk, 'gpt-4o');
    const exact = countO200k(cjk.slice(0, 1200)) * 25;
    expect(n).toBeGreaterThanOrEqual(exact * 0.95);
    expect(n).toBeLessThanOrEqual(exact * 1.1);
  });

  it('stops exact counting when the budget is spent and extrapolates the rest at the measured ratio', () => {
    let calls = 0;
    let t = 0;
    const count = bpeTokenCounter(
      (text) => {
        calls++;
        return Math.ceil(text.length / 2); // a fake encoding: 2 chars per token
      },
      { budgetMs: 10, chunkChars: 1000, now: () => (t += 6) },
    );
    const text = 'ab '.repeat(10_000); // 30k chars
    // The first 2 048 characters are untimed: the clock starts after chunk 3 (t=6); chunk 4 ends at t=12
    // (6 ms: within budget), chunk 5 at t=18 (12 ms: over) -> the rest is extrapolated.
    const n = count(text);
    expect(calls).toBe(5);
    expect(n).toBeGreaterThanOrEqual(14_000);
    expect(n).toBeLessThanOrEqual(16_000);
  });

  it('shares one time budget across the strings of a request, then estimates the rest at the ratio measured (denser than the heuristic here)', () => {
    let calls = 0;
    let t = 0;
    const count = bpeTokenCounter(
      (text) => {
        calls++;
        t += 8; // each short string takes 8 ms of BPE
        return Math.ceil(text.length / 2);
      },
      { budgetMs: 20, now: () => t },
    );
    const text = 'abcdefg '.repeat(100); // 800 chars: one chunk, one piece
    const budget: TokenizeBudget = { chars: MAX_EXACT_TOKENIZE_CHARS };
    const counts = Array.from({ length: 10 }, () => count(text, budget));
    // Strings 1-3 (2 400 characters, past the untimed 2 048) are counted before the clock starts, at
    // 24 ms; strings 4-6 start at 24, 32 and 40 ms (within 20 ms of it); from the 7th (48 ms) the
    // budget is spent.
    expect(calls).toBe(6);
    // 2 characters per token measured on 4 800 characters, denser than the heuristic's 3.5: the rest
    // is estimated at 2.
    expect(heuristicTokenCount(text)).toBeLessThan(400);
    expect(counts).toEqual(Array<number>(10).fill(400));
    // Without a shared budget every string gets its own.
    calls = 0;
    for (let i = 0; i < 10; i++) count(text);
    expect(calls).toBe(10);
  });

  it('counts the first UNTIMED_TOKENIZE_CHARS characters of a request exactly, however slow the machine is', () => {
    let t = 0;
    let bpeCalls = 0;
    // A clock that jumps 1 s at every reading: a garbage collection or a busy CPU between two strings.
    const count = bpeTokenCounter(
      (x) => {
        bpeCalls++;
        return countO200k(x);
      },
      { now: () => (t += 1_000) },
    );
    const budget: TokenizeBudget = { chars: MAX_EXACT_TOKENIZE_CHARS };
    const strings = ['You are a helpful assistant.', 'What is the capital of France? '.repeat(20), 'Paris. '.repeat(100), 'And Italy?'.repeat(70)];
    expect(strings.slice(0, 3).join('').length).toBeLessThan(UNTIMED_TOKENIZE_CHARS);
    expect(strings.join('').length).toBeGreaterThanOrEqual(UNTIMED_TOKENIZE_CHARS);
    expect(strings.map((x) => count(x, budget))).toEqual(strings.map((x) => countO200k(x)));
    expect(bpeCalls).toBe(4);
    // Past them the clock started (after the 4th string), and this one spends the time budget at once:
    // the next string is estimated, not counted.
    count('Tell me more about it. '.repeat(100), budget);
    expect(bpeCalls).toBe(4);
  });

  it('shares one character budget across the strings of a request', () => {
    let counted = 0;
    const count = bpeTokenCounter(
      (text) => {
        counted += text.length;
        return 1;
      },
      { now: () => 0 },
    );
    const budget: TokenizeBudget = { chars: MAX_EXACT_TOKENIZE_CHARS };
    const text = 'ab '.repeat(30_000); // 90k chars
    for (let i = 0; i < 4; i++) count(text, budget);
    // Two strings fit in 200k characters; the third and fourth are estimated with the heuristic.
    expect(counted).toBe(2 * text.length);
    expect(budget.chars).toBe(MAX_EXACT_TOKENIZE_CHARS - 2 * text.length);
  });

  it('gives the default tokenizer a per-request budget and leaves other tokenizers as they are', () => {
    const custom = { count: (text: string) => text.length };
    expect(tokenizerForRequest(custom)).toBe(custom);
    const perRequest = tokenizerForRequest(defaultTokenizer);
    expect(perRequest).not.toBe(defaultTokenizer);
    expect(perRequest.count('Hello, world!', 'gpt-4o')).toBe(4);
    expect(perRequest.count('Hello, world!', 'claude-haiku-4')).toBe(heuristicTokenCount('Hello, world!'));
  });

  it('never cuts a surrogate pair', () => {
    const seen: string[] = [];
    const count = bpeTokenCounter((text) => {
      seen.push(text);
      return 1;
    });
    count('😀'.repeat(500));
    const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
    expect(seen.length).toBeGreaterThan(1);
    for (const piece of seen) expect(lone.test(piece)).toBe(false);
  });
});

describe('heuristicTokenCount', () => {
  it('is ceil(chars / 3.5) for alphabetic text and one per ideograph', () => {
    expect(heuristicTokenCount('')).toBe(0);
    expect(heuristicTokenCount('a')).toBe(1);
    expect(heuristicTokenCount('abcdefg')).toBe(2);
    expect(heuristicTokenCount('Hello, world!')).toBe(4);
    expect(heuristicTokenCount('你好')).toBe(2);
    expect(heuristicTokenCount('abcdefg你好')).toBe(4);
  });
});
