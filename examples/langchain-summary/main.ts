/**
 * langchain-summary: a long-document summary chain (prompt | ChatOpenAI | string parser) wrapped with
 * `.withResilience()`:
 *
 * - a small, fast model summarizes ordinary documents;
 * - documents too long for its context window go straight to a long-context model (the policy knows
 *   both windows, so the small model is skipped without a call);
 * - when the small model has an outage, the request falls back to the long-context one;
 * - a batch of summaries runs at `batch` priority, queued behind the small model's token budget
 *   (limits that mirror the provider's) instead of bursting into 429s.
 *
 * Runs against the fake provider by default; set OPENAI_API_KEY to use OpenAI instead
 * (gpt-4o-mini, long context gpt-4.1; OPENAI_BASE_URL for another compatible endpoint).
 *
 *   npx tsx examples/langchain-summary/main.ts
 */
import '@llm-resilience/langchain/augment';
import { StringOutputParser } from '@langchain/core/output_parsers';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { ChatOpenAI } from '@langchain/openai';
import { createResilience, definePolicy, type RequestRecord } from '@llm-resilience/core';
import { createFakeProvider, type FakeProvider } from '@llm-resilience/testing';

/** Options of {@link runSummaryExample}. */
export interface SummaryExampleOptions {
  /** Environment to read keys from. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Documents in the batch step. Default 12. */
  batchSize?: number;
}

/** One summarized document, as the example reports it. */
export interface SummaryLine {
  document: string;
  chars: number;
  /** The policy target that answered. */
  target: string;
  fallbackUsed: boolean;
  /** Why earlier targets were not used (`overloaded`, `context_window`, ...). */
  why: string[];
  inputTokens: number;
  outputTokens: number;
  summary: string;
}

/** What the example did. */
export interface SummaryReport {
  mode: 'fake' | 'openai';
  single: SummaryLine[];
  batch: { count: number; targets: Record<string, number>; priorities: string[]; wallMs: number; http429?: number };
}

const SMALL_WINDOW = 4_000;
const MAX_OUTPUT = 300;

const prompt = ChatPromptTemplate.fromMessages([
  ['system', 'You summarize documents for busy readers. Answer with three short bullet points.'],
  ['human', '{document}'],
]);

function contract(paragraphs: number): string {
  const clauses = [
    'The Supplier shall deliver the Services described in Schedule 1 with reasonable skill and care.',
    'Invoices are payable within thirty days of receipt; late payments accrue interest at 4% a year.',
    'Either party may terminate this Agreement on ninety days written notice to the other party.',
    'Neither party limits its liability for death or personal injury caused by its negligence.',
  ];
  return Array.from({ length: paragraphs }, (_, i) => `${i + 1}. ${clauses[i % clauses.length]}`).join('\n');
}

function line(name: string, document: string, summary: string, r: RequestRecord): SummaryLine {
  const why = [
    ...r.skipped.map((s) => `${s.target} skipped: ${s.reason}`),
    ...r.attempts.filter((a) => a.outcome !== 'success').map((a) => `${a.target} failed: ${a.errorKind ?? a.outcome}`),
  ];
  return {
    document: name,
    chars: document.length,
    target: r.final_target ?? '',
    fallbackUsed: r.fallback_used,
    why,
    inputTokens: r.input_tokens,
    outputTokens: r.output_tokens,
    summary,
  };
}

/**
 * Runs the example end to end and reports what happened (starts the fake provider unless
 * `OPENAI_API_KEY` is set, and stops it at the end).
 *
 * @example
 * ```ts
 * const report = await runSummaryExample({ env: {} });
 * report.single.map((s) => `${s.document} -> ${s.target}`);
 * ```
 */
export async function runSummaryExample(options: SummaryExampleOptions = {}): Promise<SummaryReport> {
  const env = options.env ?? process.env;
  const realKey = env.OPENAI_API_KEY;
  let fake: FakeProvider | undefined;
  let baseURL: string | undefined;
  const models = realKey ? { small: 'gpt-4o-mini', long: 'gpt-4.1' } : { small: 'summary-small', long: 'summary-long' };
  if (realKey) {
    baseURL = env.OPENAI_BASE_URL;
  } else {
    fake = createFakeProvider({
      seed: 3,
      models: {
        'summary-small': {
          contextWindow: SMALL_WINDOW,
          replyTokens: 60,
          limits: { rpm: 120, tpm: 20_000, algorithm: 'bucket' },
          latency: { firstTokenMs: 20, perTokenMs: 1 },
        },
        'summary-long': { contextWindow: 128_000, replyTokens: 80, limits: { rpm: 60, tpm: 200_000 }, latency: { firstTokenMs: 60, perTokenMs: 1 } },
      },
      // The small model's first two calls hit an outage (503): watch the first summary fall back.
      faults: [{ model: 'summary-small', kind: 'overloaded_503', count: 2 }],
    });
    baseURL = (await fake.start()).baseURL;
  }

  try {
    const policy = definePolicy({
      targets: {
        small: { provider: 'openai', model: models.small, contextWindow: realKey ? 128_000 : SMALL_WINDOW, price: { input: 0.15, output: 0.6 } },
        long: { provider: 'openai', model: models.long, contextWindow: realKey ? 1_000_000 : 128_000, price: { input: 2, output: 8 } },
      },
      routes: {
        summary: { chain: ['small', 'long'], priority: 'live', timeout: '60s', audience: 'internal' },
      },
      // Mirror the small model's provider limits (a little under them), so batches queue instead of
      // collecting 429s. With real OpenAI, copy your tier's RPM/TPM here.
      limits: [
        { id: 'small-rpm', scope: ['model'], metric: 'requests', limit: 119, window: '1m', match: { model: models.small } },
        { id: 'small-tpm', scope: ['model'], metric: 'totalTokens', limit: 19_900, window: '1m', match: { model: models.small } },
      ],
    });
    const engine = createResilience(policy);

    // The engine owns retries: the models must not retry on their own.
    const chat = (model: string) =>
      new ChatOpenAI({ model, apiKey: realKey ?? 'fake-key', maxRetries: 0, maxTokens: MAX_OUTPUT, ...(baseURL ? { configuration: { baseURL } } : {}) });
    const summarize = prompt.pipe(chat(models.small)).pipe(new StringOutputParser());
    const summarizeLong = prompt.pipe(chat(models.long)).pipe(new StringOutputParser());
    const safe = summarize.withResilience({
      engine,
      route: 'summary',
      fallbacks: [summarizeLong],
      maxOutputTokens: MAX_OUTPUT,
      identity: { team: 'legal' },
    });

    const single: SummaryLine[] = [];
    const docs: Array<[string, string]> = [
      ['meeting note (small model down)', 'Team sync: the vendor review moves to Friday; Ana owns the follow-up email.'],
      ['full contract (too long for the small model)', contract(400)],
      ['short contract', contract(8)],
    ];
    for (const [name, document] of docs) {
      const { value, record } = await safe.invokeWithResult({ document });
      single.push(line(name, document, value, record));
    }

    const records: RequestRecord[] = [];
    const sub = engine.events.on('record', (r) => records.push(r));
    const before = fake?.counters.rateLimited ?? 0;
    const started = Date.now();
    const batchDocs = Array.from({ length: options.batchSize ?? 12 }, (_, i) => ({ document: `${contract(6 + (i % 5))}\nRef ${i}.` }));
    await safe.batch(batchDocs, { maxConcurrency: 6 });
    const wallMs = Date.now() - started;
    sub.dispose();
    const targets: Record<string, number> = {};
    for (const r of records) targets[r.final_target ?? 'none'] = (targets[r.final_target ?? 'none'] ?? 0) + 1;
    return {
      mode: realKey ? 'openai' : 'fake',
      single,
      batch: {
        count: records.length,
        targets,
        priorities: [...new Set(records.map((r) => r.priority))],
        wallMs,
        ...(fake ? { http429: fake.counters.rateLimited - before } : {}),
      },
    };
  } finally {
    await fake?.stop();
  }
}

function print(report: SummaryReport): void {
  console.log(`langchain-summary (${report.mode} provider)\n`);
  for (const s of report.single) {
    console.log(`${s.document} (${s.chars} chars) -> ${s.target}${s.fallbackUsed ? ' (fallback)' : ''}, ${s.inputTokens} in / ${s.outputTokens} out`);
    for (const w of s.why) console.log(`    ${w}`);
    console.log(`    ${s.summary.slice(0, 100)}${s.summary.length > 100 ? '…' : ''}\n`);
  }
  const b = report.batch;
  console.log(
    `batch: ${b.count} summaries at priority ${b.priorities.join(', ')} in ${b.wallMs} ms, served by ${JSON.stringify(b.targets)}` +
      (b.http429 !== undefined ? `, ${b.http429} answered 429` : ''),
  );
}

if (require.main === module) {
  runSummaryExample().then(print, (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
