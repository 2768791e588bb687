/** batch() of withResilience(ChatOpenAI) against the fake provider with a real concurrency limit. */
import { withResilience } from '../src';
import { realEngine, startProvider, type Provider } from './fakeProvider';

let p: Provider;

beforeAll(async () => {
  p = await startProvider({
    models: {
      'summary-a': { contextWindow: 2_000, limits: { concurrency: 2 }, latency: { firstTokenMs: 30 } },
      'summary-long': { contextWindow: 100_000 },
    },
  });
});
afterAll(() => p.fake.stop());
beforeEach(() => p.fake.reset());

const docs = Array.from({ length: 8 }, (_, i) => `Summarize document ${i}.`);

describe('withResilience(ChatOpenAI).batch against the fake provider', () => {
  it('the provider limit is real: a plain batch bursts into 429s', async () => {
    const results = await p.chat('summary-a').batch(docs, {}, { returnExceptions: true });
    expect(results.filter((r) => r instanceof Error).length).toBeGreaterThan(0);
    expect(p.fake.counters.rateLimited).toBeGreaterThan(0);
  });

  it('queues at batch priority behind a limit mirroring the provider: no 429, no fallback, results in order', async () => {
    const { engine, records } = realEngine({
      limits: [{ scope: ['model'], metric: 'concurrency', limit: 2, match: { model: 'summary-a' } }],
    });
    const safe = withResilience(p.chat('summary-a'), { engine, route: 'summary', fallbacks: [p.chat('summary-long')] });
    const outs = await safe.batch(docs, { maxConcurrency: 8 });
    expect(outs).toHaveLength(8);
    for (const o of outs) expect(String(o.content)).toContain("[summary-a]");
    expect(p.fake.counters.rateLimited).toBe(0);
    expect(p.fake.counters.requestsByModel).toEqual({ 'summary-a': 8 });
    expect(records.map((r) => r.priority)).toEqual(Array(8).fill('batch'));
    expect(records.every((r) => !r.fallback_used)).toBe(true);
    expect(records.some((r) => r.attempts[0]!.waitedMs > 0)).toBe(true);
  });
});
