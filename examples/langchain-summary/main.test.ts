import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSummaryExample, SMALL_QUOTA } from './main';

describe('examples/langchain-summary against the fake provider', () => {
  it('falls back on an outage, skips the small model for a long document, and queues a batch larger than the quota without 429s', async () => {
    const report = await runSummaryExample({ env: {}, batchSize: 10 });
    expect(report.mode).toBe('fake');
    const [outage, long, short] = report.single;

    expect(outage).toMatchObject({ target: 'long', fallbackUsed: true, why: ['small failed: overloaded', 'small failed: overloaded'] });
    expect(outage!.summary.startsWith('[summary-long] reply to')).toBe(true);

    expect(long).toMatchObject({ target: 'long', fallbackUsed: true, why: ['small skipped: context_window'] });
    expect(long!.inputTokens).toBeGreaterThan(4_000);

    expect(short).toMatchObject({ target: 'small', fallbackUsed: false, why: [] });
    expect(short!.summary.startsWith('[summary-small] reply to')).toBe(true);
    expect(short!.outputTokens).toBeGreaterThan(0);

    const { batch } = report;
    expect(batch).toMatchObject({ count: 10, targets: { small: 10 }, priorities: ['batch'], http429: 0 });
    // The batch is larger than a minute of the small model's quota...
    expect(batch.tokens).toBeGreaterThan(SMALL_QUOTA.tpm);
    // ...so the engine held part of it back until the provider's bucket had refilled...
    expect(batch.waited).toBeGreaterThan(0);
    expect(batch.longestWaitMs).toBeGreaterThan(0);
    // ...where the same batch sent straight to the provider collects 429s.
    expect(batch.withoutEngine?.http429).toBeGreaterThan(0);
    expect(batch.withoutEngine?.failed).toBeGreaterThan(0);
  });

  it("README's sample output shows the per-document lines the example prints (target, characters, tokens in / out)", async () => {
    const readme = readFileSync(join(__dirname, 'README.md'), 'utf8');
    const documented = readme.match(/^.+ \(\d+ chars\) -> .+, \d+ in \/ \d+ out$/gm);
    const report = await runSummaryExample({ env: {} });
    // The same format as main.ts prints; the fake provider is seeded, so these lines do not vary.
    const printed = report.single.map((s) => `${s.document} (${s.chars} chars) -> ${s.target}${s.fallbackUsed ? ' (fallback)' : ''}, ${s.inputTokens} in / ${s.outputTokens} out`);
    expect(printed).toHaveLength(3);
    expect(documented).toEqual(printed);
  }, 30_000);
});
