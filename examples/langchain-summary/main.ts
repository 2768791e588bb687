/**
 * langchain-summary: a long-document summary chain (prompt | ChatOpenAI | string parser) wrapped with
 * `.withResilience()`:
 *
 * - a small, fast model summarizes ordinary documents;
 * - documents too long for its context window go straight to a long-context model (the policy knows
 *   both windows, so the small model is skipped without a call);
 * - when the small model has an outage, the request falls back to the long-context one;
 * - a batch of summaries larger than the small model's token quota runs at `batch` priority, queued
 *   behind its token budget (limits that mirror the provider's) instead of bursting into 429s; the
 *   same batch sent straight to the provider, without the engine, collects 429s.
 *
 * Runs against the fake provider by default, on a clock that runs {@link FAKE_TIME_SPEED} times faster
 * than real time (engine and provider alike), so a minute of quota refill takes two real seconds;
 * set OPENAI_API_KEY to use OpenAI instead (gpt-4o-mini, long context gpt-4.1; OPENAI_BASE_URL for
 * another compatible endpoint), in real time.
 *
 *   npx tsx examples/langchain-summary/main.ts
 */
import '@llm-resilience/langchain/augment';
import { StringOutputParser } from '@langchain/core/output_parsers';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { ChatOpenAI } from '@langchain/openai';
import { performance } from 'node:perf_hooks';
import { createResilience, definePolicy, systemClock, type Clock, type RequestRecord } from '@llm-resilience/core';
import { createFakeProvider, type FakeProvider, type FakeProviderConfig } from '@llm-resilience/testing';

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

/** The batch step, as the example reports it. */
export interface SummaryBatch {
  count: number;
  /** Requests per policy target that answered. */
  targets: Record<string, number>;
  priorities: string[];
  /** Real time the batch took. */
  wallMs: number;
  /** Tokens (input + output) the batch's summaries used, as the provider reported them. */
  tokens: number;
  /** Time the batch took by the engine's clock (with the fake provider: scenario time, {@link FAKE_TIME_SPEED}x real). */
  clockMs: number;
  /** Requests that waited for the small model's budget (our limiter) before their call. */
  waited: number;
  /** Longest such wait, by the engine's clock. */
  longestWaitMs: number;
  /** Provider answers 429 during the batch (fake provider only). */
  http429?: number;
  /**
   * The same batch, chain and concurrency without the engine, against a fresh fake provider with the
   * same limits (fake provider only): how many inputs failed, and how many calls it answered 429.
   */
  withoutEngine?: { failed: number; http429: number };
}

/** What the example did. */
export interface SummaryReport {
  mode: 'fake' | 'openai';
  single: SummaryLine[];
  batch: SummaryBatch;
}

const SMALL_WINDOW = 4_000;
const MAX_OUTPUT = 300;
/** Batch items in flight at once. */
const BATCH_CONCURRENCY = 6;
/**
 * The small model's provider quota: the fake provider's, mirrored a little under it by the policy.
 * The default batch (12 documents, ~270 tokens each once served, ~520 reserved while in flight) needs
 * well over one minute's TPM. With OpenAI, copy your tier's RPM/TPM here.
 */
export const SMALL_QUOTA = { rpm: 120, tpm: 2_000 } as const;

/**
 * With the fake provider, the engine and the provider read one clock that runs this many times faster
 * than real time: per-minute quotas refill every 2 real seconds, and the batch's minute and a half of
 * waiting for the small model's budget takes about 3 real seconds.
 */
export const FAKE_TIME_SPEED = 30;

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

/**
 * A clock `speed` times faster than real time, from now on: what the engine and the fake provider
 * share, so the provider's quotas refill and the engine's mirror of them drains at the same pace.
 */
function timeLapseClock(speed: number): Clock {
  const startedAt = Date.now();
  const realStart = performance.now();
  const now = () => Math.floor(startedAt + (performance.now() - realStart) * speed);
  return {
    now,
    async sleep(ms, signal) {
      const until = now() + ms;
      do await systemClock.sleep(Math.max(1, (until - now()) / speed), signal);
      while (now() < until);
    },
  };
}

/** The fake provider's models (and the small model's outage, unless `withFaults` is false). */
function fakeScenario(withFaults: boolean): FakeProviderConfig {
  return {
    seed: 3,
    models: {
      'summary-small': {
        contextWindow: SMALL_WINDOW,
        replyTokens: 60,
        limits: { ...SMALL_QUOTA, algorithm: 'bucket' },
        latency: { firstTokenMs: 20, perTokenMs: 1 },
      },
      'summary-long': { contextWindow: 128_000, replyTokens: 80, limits: { rpm: 60, tpm: 200_000 }, latency: { firstTokenMs: 60, perTokenMs: 1 } },
    },
    // The small model's first two calls hit an outage (503): watch the first summary fall back.
    faults: withFaults ? [{ model: 'summary-small', kind: 'overloaded_503', count: 2 }] : [],
  };
}

/**
 * The batch step without the engine: the plain chain's own `batch()` (same documents, same
 * concurrency, no retries) against a fresh fake provider with the same limits.
 */
async function batchWithoutEngine(batchDocs: Array<{ document: string }>): Promise<{ failed: number; http429: number }> {
  const fake = createFakeProvider(fakeScenario(false), { clock: timeLapseClock(FAKE_TIME_SPEED) });
  const { baseURL } = await fake.start();
  try {
    const model = new ChatOpenAI({ model: 'summary-small', apiKey: 'fake-key', maxRetries: 0, maxTokens: MAX_OUTPUT, configuration: { baseURL } });
    const plain = prompt.pipe(model).pipe(new StringOutputParser());
    const out = await plain.batch(batchDocs, { maxConcurrency: BATCH_CONCURRENCY }, { returnExceptions: true });
    return { failed: out.filter((o) => o instanceof Error).length, http429: fake.counters.rateLimited };
  } finally {
    await fake.stop();
  }
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
  const clock = realKey ? systemClock : timeLapseClock(FAKE_TIME_SPEED);
  if (realKey) {
    baseURL = env.OPENAI_BASE_URL;
  } else {
    fake = createFakeProvider(fakeScenario(true), { clock });
    baseURL = (await fake.start()).baseURL;
  }

  try {
    const policy = definePolicy({
      targets: {
        small: { provider: 'openai', model: models.small, contextWindow: realKey ? 128_000 : SMALL_WINDOW, price: { input: 0.15, output: 0.6 } },
        long: { provider: 'openai', model: models.long, contextWindow: realKey ? 1_000_000 : 128_000, price: { input: 2, output: 8 } },
      },
      routes: {
        // maxLimiterWait: a summary waits up to 2 minutes for the small model's budget rather than
        // going to the dearer long model (a `live` route's default is 1 s).
        summary: { chain: ['small', 'long'], priority: 'live', timeout: '60s', audience: 'internal', retry: { maxLimiterWait: '2m' } },
      },
      // Mirror the small model's provider limits (a little under them), so batches queue instead of
      // collecting 429s. `onFailure: 'keep'`: a failed call keeps its tokens charged, as the provider does.
      limits: [
        { id: 'small-rpm', scope: ['model'], metric: 'requests', limit: SMALL_QUOTA.rpm - 1, window: '1m', match: { model: models.small } },
        { id: 'small-tpm', scope: ['model'], metric: 'totalTokens', limit: Math.floor(SMALL_QUOTA.tpm * 0.99), window: '1m', match: { model: models.small }, onFailure: 'keep' },
      ],
    });
    const engine = createResilience(policy, { clock });

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
    const clockStarted = clock.now();
    const batchDocs = Array.from({ length: options.batchSize ?? 12 }, (_, i) => ({ document: `${contract(6 + (i % 5))}\nRef ${i}.` }));
    await safe.batch(batchDocs, { maxConcurrency: BATCH_CONCURRENCY });
    const wallMs = Date.now() - started;
    const clockMs = clock.now() - clockStarted;
    sub.dispose();
    const http429 = fake ? fake.counters.rateLimited - before : undefined;
    const targets: Record<string, number> = {};
    for (const r of records) targets[r.final_target ?? 'none'] = (targets[r.final_target ?? 'none'] ?? 0) + 1;
    // No attempt of the batch failed, so what an attempt waited was our limiter holding it back.
    const waits = records.map((r) => r.queue_wait_ms + r.attempts.reduce((sum, a) => sum + a.waitedMs, 0));
    return {
      mode: realKey ? 'openai' : 'fake',
      single,
      batch: {
        count: records.length,
        targets,
        priorities: [...new Set(records.map((r) => r.priority))],
        wallMs,
        tokens: records.reduce((sum, r) => sum + r.input_tokens + r.output_tokens, 0),
        clockMs,
        waited: waits.filter((w) => w > 0).length,
        longestWaitMs: Math.max(0, ...waits),
        ...(http429 !== undefined ? { http429, withoutEngine: await batchWithoutEngine(batchDocs) } : {}),
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
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const took = report.mode === 'fake' ? `${seconds(b.clockMs)} of scenario time (${seconds(b.wallMs)} real)` : seconds(b.wallMs);
  console.log(`batch: ${b.count} summaries at priority ${b.priorities.join(', ')} in ${took}, served by ${JSON.stringify(b.targets)}, ${b.tokens} tokens`);
  console.log(`    ${b.waited} waited for the small model's budget (longest ${seconds(b.longestWaitMs)})${b.http429 !== undefined ? `, ${b.http429} answered 429` : ''}`);
  if (b.withoutEngine) {
    console.log(`    the same batch without the engine: ${b.withoutEngine.http429} answered 429, ${b.withoutEngine.failed} of ${b.count} summaries failed`);
  }
}

if (require.main === module) {
  runSummaryExample().then(print, (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
