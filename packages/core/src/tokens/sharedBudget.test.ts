import { createHash } from 'node:crypto';
import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { bpeTokenCounter, type TokenizeBudget } from './defaultTokenizer';
import { estimateInputTokens } from './estimateInputTokens';

/** Deterministic hex text: BPE counts it ~2x heavier than heuristicTokenCount does. */
function hex(chars: number, seed: string): string {
  let s = '';
  let h = seed;
  while (s.length < chars) {
    h = createHash('sha256').update(h).digest('hex');
    s += h;
  }
  return s.slice(0, chars);
}

/** Once a request's shared budget is spent, later strings are estimated at the ratio measured on it when denser than the heuristic. */
describe('a spent request budget does not under-estimate later strings', () => {
  it('a later string is estimated at least at the ratio measured on the request so far (fake clock)', () => {
    // Fake BPE: one token per 2 characters (as hex/base64/number-heavy text really is).
    const fake = (t: string) => Math.ceil(t.length / 2);
    let clock = 0;
    const count = bpeTokenCounter(fake, { budgetMs: 5, chunkChars: 1024, now: () => (clock += 1) });
    const budget: TokenizeBudget = { chars: 200_000 };
    const a = 'ab '.repeat(3000);
    const first = count(a, budget); // spends the time budget, extrapolates at the measured ratio
    const second = count(a, budget); // identical text
    expect(first).toBeGreaterThanOrEqual(fake(a) * 0.9);
    // The heuristic alone (3.5 chars/token) would give 2,572 for 4,500 real tokens.
    expect(second).toBeGreaterThanOrEqual(fake(a) * 0.9);
  });

  it('estimateInputTokens does not under-reserve a request whose data-heavy messages pass the shared char budget', () => {
    const a = hex(150_000, 'a');
    const b = hex(150_000, 'b');
    const input = { messages: [{ role: 'tool', content: a }, { role: 'tool', content: b }] };
    const exact = countO200k(a) + countO200k(b);
    const estimate = estimateInputTokens(input, 'gpt-4o');
    // The second message exceeds the request's remaining 50k characters: the heuristic alone gives ~0.75x.
    expect(estimate).toBeGreaterThanOrEqual(exact * 0.9);
  });
});
