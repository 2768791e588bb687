/**
 * Usage of replies the provider answered (and billed) but that were rejected: by the route's `output`
 * schema (the engine validates), by the adapter's `output` schema, or because the wrapped runnable
 * could not parse them (withStructuredOutput's parser), in invoke() and in a stream that had not yet
 * yielded anything. The adapter reports their usage before the attempt fails, and the engine charges it to the limits instead of refunding the reservation, so a
 * TPM limit mirroring the provider's keeps counting what the provider counts.
 */
import type { Runnable } from '@langchain/core/runnables';
import { z } from 'zod';
import { withResilience } from '../src';
import { realEngine, startProvider, type Provider } from './fakeProvider';

let p: Provider;
beforeAll(async () => {
  p = await startProvider({
    models: { 'summary-a': { contextWindow: 2_000, replyTokens: 24 }, 'summary-long': { contextWindow: 100_000, replyTokens: 24 } },
  });
});
afterAll(() => p.fake.stop());
beforeEach(() => {
  p.fake.setFaults([]);
  p.fake.reset();
});

const Json = z.object({ reply: z.string() });
// ~5 input tokens + 30 reserved output per call on summary-a: a limit of 100 tokens admits about three.
const limits = [{ scope: ['model'], metric: 'totalTokens', limit: 100, window: '1m', match: { model: 'summary-a' } }] as const;

type RejectedBy = 'route schema' | 'adapter schema' | 'parser (route schema)' | 'parser (no route schema)' | 'parser, streamed';

/** Tokens the provider billed on summary-a after `n` calls whose replies on summary-a are all rejected. */
async function billedOnPrimaryAfter(n: number, by: RejectedBy): Promise<number> {
  const parsed = by.startsWith('parser');
  if (parsed) p.fake.setFaults([{ model: 'summary-a', kind: 'invalid_json_reply' }]);
  const routeSchema = by === 'route schema' || by === 'parser (route schema)';
  const { engine } = realEngine({
    limits: [...limits] as never,
    routes: { summary: { chain: ['sum-a', 'sum-long'], ...(routeSchema ? { output: Json } : {}) } },
  });
  // JSON mode parses after the model run ended, so the run's usage is known when the parse fails.
  const primary: Runnable<string, unknown> = parsed ? p.chat('summary-a').withStructuredOutput(Json, { method: 'jsonMode' }) : p.chat('summary-a');
  const fallback: Runnable<string, unknown> = parsed
    ? p.chat('summary-long').withStructuredOutput(Json, { method: 'jsonMode' })
    : p.chat('summary-long', { modelKwargs: { response_format: { type: 'json_object' } } });
  const safe = withResilience(primary, {
    engine,
    route: 'summary',
    fallbacks: [fallback],
    maxOutputTokens: 30,
    ...(by === 'adapter schema' ? { output: Json } : {}),
  });
  // JSON mode needs the word "json" in the messages (the real API answers 400 without it).
  for (let i = 0; i < n; i++) {
    if (by === 'parser, streamed') for await (const _ of await safe.stream(`JSON question ${i}`));
    else await safe.invoke(`JSON question ${i}`);
  }
  const t = p.fake.counters.tokensByModel['summary-a'] ?? { input: 0, output: 0 };
  return t.input + t.output;
}

describe('withResilience(ChatOpenAI): usage of a reply that was answered, then rejected', () => {
  it.each<RejectedBy>(['route schema', 'adapter schema', 'parser (route schema)', 'parser (no route schema)', 'parser, streamed'])(
    'rejected by the %s: charged to the limits, so summary-a never receives more than the limit',
    async (by) => {
      const billed = await billedOnPrimaryAfter(6, by);
      expect(billed).toBeGreaterThan(0);
      expect(billed).toBeLessThanOrEqual(100);
    },
  );
});
