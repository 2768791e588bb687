import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { bpeTokenCounter, type TokenizeBudget } from './defaultTokenizer';
import { estimateInputTokens } from './estimateInputTokens';
import { heuristicTokenCount } from './heuristicTokenCount';

/** English-like prose, ~4.6 characters per o200k token (the heuristic assumes 3.5). */
function prose(chars: number): string {
  const words = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'and', 'then', 'runs', 'into', 'forest', 'where', 'it', 'finds', 'a', 'river'];
  let s = '';
  let i = 0;
  while (s.length < chars) {
    s += words[(i * 7 + 3) % words.length] + (i % 12 === 11 ? '. ' : ' ');
    i++;
  }
  return s.slice(0, chars);
}

/*
 * Past the shared budget, later strings are estimated at max(heuristic, measured ratio): the ratio
 * counts only once enough was measured, so one short string (1 char = 1 token) does not set it.
 */
describe('a measured ratio from a tiny sample does not inflate later estimates', () => {
  it('one 1-character string measured first does not turn a 250k-char string into 1 token per character', () => {
    // Fake BPE: 4 characters per token, at least 1 (as real BPE counts a 1-char string).
    const fake = (t: string) => Math.max(1, Math.ceil(t.length / 4));
    const count = bpeTokenCounter(fake, { now: () => 0 });
    const budget: TokenizeBudget = { chars: 200_000 };
    expect(count('Q', budget)).toBe(1);
    const big = 'abcd '.repeat(50_000); // 250k chars: past the 200k character budget
    const estimate = count(big, budget);
    // The real count is 62,500; the heuristic says 71,429. One character of evidence must not make it 250,000.
    expect(estimate).toBe(heuristicTokenCount(big));
    expect(estimate).toBeGreaterThanOrEqual(fake(big));
  });

  it('estimateInputTokens: a short text part before a long document does not push it past a 128k window', () => {
    const doc = prose(300_000);
    const input = { messages: [{ role: 'user', content: [{ type: 'text', text: 'Q:' }, { type: 'text', text: doc }] }] };
    const exact = countO200k('Q:') + countO200k(doc);
    const estimate = estimateInputTokens(input, 'gpt-4o');
    // Without the 'Q:' part the estimate is the heuristic's ~85.7k (1.33x exact); with it, the 6 characters
    // measured first ('user', 'Q:': 3 tokens) set 0.5 tokens/char for 300k characters: ~150k, over gpt-4o's
    // 128k window, so every gpt-4o target would be skipped as context_window although the request fits.
    expect(exact).toBeLessThan(70_000);
    expect(estimate).toBeLessThan(128_000);
    expect(estimate).toBeLessThanOrEqual(exact * 1.5);
  });
});
