/**
 * The gateway serves clients still on the `openai` v4 SDK (node-fetch transport, its own SSE parser,
 * plain-object headers), installed beside v7 under the alias `openai4`: replies, streams with usage,
 * a stream cut after its first token, and the 429 and 503 answers reach it as v4's own error classes.
 */
import express from 'express';
import OpenAI4 from 'openai4';
import { replyTag } from '@llm-resilience/testing';
import { openAIGateway, resilienceErrorHandler } from '../src';
import { listen, nextRecord, rejection, testEngine, useFakeProvider } from './support';

const provider = useFakeProvider();

async function startGateway(engine = testEngine()) {
  const app = express();
  app.use(
    openAIGateway({
      engine,
      upstreams: {
        primary: { kind: 'openai', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' },
        backup: { kind: 'openai', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' },
      },
      auth: { 'sk-client-v4': { user: 'v4-user' } },
      models: { support: 'support_reply' },
    }),
  );
  app.use(resilienceErrorHandler());
  const { url, close } = await listen(app);
  const client = new OpenAI4({ apiKey: 'sk-client-v4', baseURL: `${url}/v1`, maxRetries: 0, timeout: 10_000 });
  return { engine, client, close };
}

const ask = (content: string) => [{ role: 'user' as const, content }];

describe('openAIGateway with an openai v4 client', () => {
  it('answers, streams with the usage chunk, and falls back during an outage', async () => {
    const gw = await startGateway();
    try {
      const recorded = nextRecord(gw.engine);
      const reply = await gw.client.chat.completions.create({ model: 'support', messages: ask('v4 here'), max_tokens: 40 });
      expect(reply.choices[0]!.message.content!.startsWith(replyTag('fast-a', 'v4 here'))).toBe(true);
      expect(await recorded).toMatchObject({ user_id: 'v4-user', outcome: 'success', final_target: 'fast-a', output_tokens: reply.usage!.completion_tokens });

      let text = '';
      let usage: { completion_tokens: number } | undefined;
      for await (const chunk of await gw.client.chat.completions.create({ model: 'support', messages: ask('v4 stream'), stream: true, stream_options: { include_usage: true } })) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      expect(text.startsWith(replyTag('fast-a', 'v4 stream'))).toBe(true);
      expect(usage?.completion_tokens).toBeGreaterThan(0);

      provider.fake.setFaults([{ model: 'fast-a', kind: 'overloaded_503' }]);
      const fallback = await gw.client.chat.completions.create({ model: 'support', messages: ask('v4 outage') });
      expect(fallback.choices[0]!.message.content!.startsWith(replyTag('fast-b', 'v4 outage'))).toBe(true);
    } finally {
      provider.fake.setFaults([]);
      await gw.close();
    }
  });

  it('throws on a stream cut after its first token, never ending it cleanly', async () => {
    const gw = await startGateway();
    try {
      provider.fake.setFaults([{ model: 'fast-a', kind: 'stream_cut', afterChunks: 2 }]);
      let text = '';
      const stream = await gw.client.chat.completions.create({ model: 'support', messages: ask('v4 cut'), stream: true });
      const err = await rejection(
        (async () => {
          for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        })(),
      );
      expect(err).toBeInstanceOf(OpenAI4.APIError);
      expect((err as Error).message).toContain('The reply was interrupted. Please try again.');
      expect(text.startsWith('[fast-a]')).toBe(true);
    } finally {
      provider.fake.setFaults([]);
      await gw.close();
    }
  });

  it('gets the 429 of a policy limit as RateLimitError with Retry-After, and an exhausted chain as a 503', async () => {
    const gw = await startGateway(testEngine({ limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 1, window: '1m' }] }));
    try {
      await gw.client.chat.completions.create({ model: 'support', messages: ask('one') });
      const limited = await rejection(gw.client.chat.completions.create({ model: 'support', messages: ask('two') }));
      expect(limited).toBeInstanceOf(OpenAI4.RateLimitError);
      const headers = (limited as InstanceType<typeof OpenAI4.APIError>).headers as Record<string, string>;
      expect(Number(headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await gw.close();
    }
    const down = await startGateway();
    try {
      provider.fake.setFaults([{ kind: 'overloaded_503' }]);
      const err = await rejection(down.client.chat.completions.create({ model: 'support', messages: ask('x') }));
      expect(err).toBeInstanceOf(OpenAI4.InternalServerError);
      expect((err as InstanceType<typeof OpenAI4.APIError>).status).toBe(503);
      expect(JSON.stringify((err as InstanceType<typeof OpenAI4.APIError>).error)).not.toContain('upstream-secret-key');
    } finally {
      provider.fake.setFaults([]);
      await down.close();
    }
  });
});
