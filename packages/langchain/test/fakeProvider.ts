import { ChatOpenAI, type ChatOpenAIFields } from '@langchain/openai';
import { createFakeProvider, type FakeProvider, type FakeProviderConfig } from '@llm-resilience/testing';
import { createResilience, definePolicy, type PolicyInput, type RequestRecord, type Resilience } from '@llm-resilience/core';

/** A started fake provider and a ChatOpenAI factory pointed at it over real HTTP (no inner retries). */
export interface Provider {
  fake: FakeProvider;
  baseURL: string;
  chat(model: string, fields?: ChatOpenAIFields): ChatOpenAI;
}

export async function startProvider(config: FakeProviderConfig): Promise<Provider> {
  const fake = createFakeProvider(config);
  const { baseURL } = await fake.start();
  return {
    fake,
    baseURL,
    chat: (model, fields = {}) => new ChatOpenAI({ model, apiKey: 'test-key', maxRetries: 0, configuration: { baseURL }, ...fields }),
  };
}

/** Targets on the fake provider: a small summary model and a long-context one. */
export const SUMMARY_TARGETS = {
  'sum-a': { provider: 'openai', model: 'summary-a' },
  'sum-long': { provider: 'openai', model: 'summary-long', contextWindow: 100_000 },
} satisfies PolicyInput['targets'];

/** An engine on the real clock (the fake provider runs on real time), collecting records. */
export function realEngine(extra: Partial<PolicyInput> = {}): { engine: Resilience; records: RequestRecord[] } {
  const policy = definePolicy(
    { targets: SUMMARY_TARGETS, routes: { summary: { chain: ['sum-a', 'sum-long'] } }, ...extra },
    { onWarning: () => undefined },
  );
  const engine = createResilience(policy);
  const records: RequestRecord[] = [];
  engine.events.on('record', (r) => records.push(r));
  return { engine, records };
}

/** Resolves once `records` holds `n` records (a stream's record is emitted after it settles). */
export function recordsReach(engine: Resilience, records: RequestRecord[], n: number): Promise<RequestRecord[]> {
  if (records.length >= n) return Promise.resolve(records);
  return new Promise((resolve) => {
    const sub = engine.events.on('record', () => {
      if (records.length >= n) {
        sub.dispose();
        resolve(records);
      }
    });
  });
}
