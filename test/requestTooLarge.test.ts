/**
 * An OpenAI 429 "Request too large" (one request exceeds the model's TPM on its own: 429
 * `rate_limit_exceeded`, no retry hint, "The input or output tokens must be reduced in order to run
 * successfully"), end to end through the Express gateway (official openai SDK) against the fake
 * provider's real tpm limit. classifyError makes it `rate_limited` with `retryAfterMs: Infinity`
 * ("never", as our own limiter says for a request larger than its bucket): never retried on the same
 * target (the hint is over any maxHint), fallen back from, no verdict for the breakers (no 429 pause),
 * and 413 without Retry-After when it ends the chain (docs/concepts/errors.md).
 */
import { express, OpenAI } from './support/gatewayDeps';
import { createFakeProvider, replyTag, type FakeProvider } from '@llm-resilience/testing';
import { createResilience, definePolicy, type Resilience } from '@llm-resilience/core';
import { openAIGateway, resilienceErrorHandler } from '@llm-resilience/express';
import { listen } from '../packages/express/test/support';

let fake: FakeProvider;
let baseURL: string;
beforeAll(async () => {
  fake = createFakeProvider({
    seed: 5,
    models: {
      // A real per-minute token limit well below the context window: 1 000 TPM, 16 000 context.
      'gpt-a': { contextWindow: 16_000, limits: { rpm: 1_000, tpm: 1_000 } },
      'gpt-big': { contextWindow: 16_000 },
    },
  });
  ({ baseURL } = await fake.start());
});
afterAll(() => fake.stop());
beforeEach(() => fake.reset());

async function gateway() {
  const engine: Resilience = createResilience(
    definePolicy(
      {
        targets: {
          'gpt-a': { provider: 'openai', model: 'gpt-a', contextWindow: 16_000 },
          'gpt-big': { provider: 'openai-big', model: 'gpt-big', contextWindow: 16_000 },
        },
        // Default retry rules (perKind, breaker), only the backoff shortened so the test does not sleep.
        routes: {
          r: { chain: ['gpt-a', 'gpt-big'], retry: { backoff: { strategy: 'constant', delay: '1ms' } } },
          solo: { chain: ['gpt-a'], retry: { backoff: { strategy: 'constant', delay: '1ms' } } },
        },
      },
      { onWarning: () => undefined },
    ),
  );
  const retries: unknown[] = [];
  const breaker: Array<{ to: string }> = [];
  engine.events.on('retry', (e) => retries.push(e));
  engine.events.on('breaker', (e) => breaker.push(e));
  const app = express();
  app.use(
    openAIGateway({
      engine,
      auth: { 'sk-alice': { user: 'alice' }, 'sk-bob': { user: 'bob' } },
      upstreams: { openai: { kind: 'openai', baseURL }, 'openai-big': { kind: 'openai', baseURL } },
    }),
  );
  app.use(resilienceErrorHandler());
  const server = await listen(app);
  const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 10_000 });
  return { engine, retries, breaker, alice: client('sk-alice'), bob: client('sk-bob'), close: server.close };
}

/** ~2 000 tokens by the fake's estimate: fits the 16 000 context window, but alone exceeds the 1 000 TPM. */
const HUGE = 'lorem ipsum dolor '.repeat(450);

describe('a 429 "Request too large" (one request over the TPM on its own) through the gateway', () => {
  it('is not retried on the same target: one call, then the next target answers', async () => {
    const gw = await gateway();
    try {
      const r = await gw.alice.chat.completions.create({ model: 'r', messages: [{ role: 'user', content: HUGE }], max_tokens: 20 });
      expect(r.choices[0]!.message.content!.startsWith(replyTag('gpt-big', HUGE))).toBe(true);
      // One call to gpt-a: the same request keeps failing, and retries would burn its RPM.
      expect(fake.counters.requestsByModel['gpt-a']).toBe(1);
      expect(gw.retries).toEqual([]);
    } finally {
      await gw.close();
    }
  });

  it("pauses neither the target nor its provider: bob's small prompt is still served by gpt-a", async () => {
    const gw = await gateway();
    try {
      await gw.alice.chat.completions.create({ model: 'r', messages: [{ role: 'user', content: HUGE }], max_tokens: 20 });
      // gpt-a is healthy (it has TPM for a small prompt): no rateLimitPauseAfter pause of it or of 'openai'.
      expect(gw.breaker.filter((b) => b.to === 'paused')).toEqual([]);
      const r = await gw.bob.chat.completions.create({ model: 'r', messages: [{ role: 'user', content: 'hello' }], max_tokens: 20 });
      expect(r.choices[0]!.message.content!.startsWith(replyTag('gpt-a', 'hello'))).toBe(true);
    } finally {
      await gw.close();
    }
  });

  it('answers 413 without Retry-After when no target of the chain can take it, so the client does not retry', async () => {
    const gw = await gateway();
    try {
      const err = await gw.alice.chat.completions
        .create({ model: 'solo', messages: [{ role: 'user', content: HUGE }], max_tokens: 20 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      const e = err as InstanceType<typeof OpenAI.APIError>;
      expect(e.status).toBe(413);
      expect(e.headers?.get('retry-after') ?? null).toBeNull();
      expect(fake.counters.requestsByModel['gpt-a']).toBe(1);
      expect(gw.retries).toEqual([]);
    } finally {
      await gw.close();
    }
  });
});
