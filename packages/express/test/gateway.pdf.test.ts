/**
 * The gateway with base64 PDF `file` parts (sent to Anthropic as `document` blocks). The engine's
 * token estimate charges such a file by its decoded size (core's `binaryPartTokens`), not as its
 * base64 text: counted as text, a 600 KB PDF came to ~230 000 tokens, so the gateway refused it as
 * longer than a 200k context window (400 context_length) and token limits denied it, although the
 * provider bills a few thousand tokens.
 */
import { randomBytes } from 'node:crypto';
import express from 'express';
import OpenAI from 'openai';
import { createResilience, definePolicy, type LimitRuleInput, type Resilience } from '@llm-resilience/core';
import { openAIGateway } from '../src';
import { listen, nextRecord } from './support';

/** What the Anthropic upstream answers: the provider's own count of the prompt, PDF included. */
const REPLY = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-x',
  content: [{ type: 'text', text: 'The contract is about a lease.' }],
  stop_reason: 'end_turn',
  usage: { input_tokens: 4_200, output_tokens: 8 },
};

/** A PDF of `kb` KB whose content does not compress (like a scan), as a data URL. */
const pdfDataURL = (kb: number) => `data:application/pdf;base64,${Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(kb * 1024)]).toString('base64')}`;

interface Started {
  engine: Resilience;
  client: OpenAI;
  upstreamBodies: Array<{ messages: Array<{ content: Array<{ type: string }> }> }>;
  close: () => Promise<void>;
}

async function start(limits: LimitRuleInput[] = []): Promise<Started> {
  const engine = createResilience(
    definePolicy(
      {
        targets: { claude: { provider: 'anthropic', model: 'claude-x', contextWindow: 200_000 } },
        routes: { docs: { chain: ['claude'] } },
        limits,
      },
      { onWarning: () => undefined },
    ),
  );
  const upstreamBodies: Started['upstreamBodies'] = [];
  const anthropic: typeof fetch = async (_url, init) => {
    upstreamBodies.push(JSON.parse(String(init?.body)) as Started['upstreamBodies'][number]);
    return new Response(JSON.stringify(REPLY), { status: 200, headers: { 'content-type': 'application/json' } });
  };
  const app = express();
  app.use(
    openAIGateway({
      engine,
      upstreams: { anthropic: { kind: 'anthropic', baseURL: 'http://anthropic.invalid/v1', apiKey: 'k' } },
      auth: { 'sk-client': { user: 'alice' } },
      fetch: anthropic,
    }),
  );
  const { url, close } = await listen(app);
  const client = new OpenAI({ apiKey: 'sk-client', baseURL: `${url}/v1`, maxRetries: 0, timeout: 10_000 });
  return { engine, client, upstreamBodies, close };
}

const askAbout = (pdf: string): OpenAI.ChatCompletionMessageParam[] => [
  {
    role: 'user',
    content: [
      { type: 'text', text: 'Summarise the attached contract.' },
      { type: 'file', file: { filename: 'contract.pdf', file_data: pdf } },
    ],
  },
];

describe('openAIGateway with a base64 PDF file part', () => {
  it('sends a 600 KB PDF to a 200k-context Anthropic target instead of refusing it as too long', async () => {
    const gw = await start();
    try {
      const recorded = nextRecord(gw.engine);
      const reply = await gw.client.chat.completions.create({ model: 'docs', max_tokens: 200, messages: askAbout(pdfDataURL(600)) });
      expect(reply.choices[0]!.message.content).toBe('The contract is about a lease.');
      expect(gw.upstreamBodies).toHaveLength(1);
      expect(gw.upstreamBodies[0]!.messages[0]!.content.map((c) => c.type)).toEqual(['text', 'document']);
      // Settle replaced the estimate with what the provider counted.
      expect(await recorded).toMatchObject({ outcome: 'success', input_tokens: 4_200 });
    } finally {
      await gw.close();
    }
  });

  it('admits it under an input-token limit that its base64 text alone would exceed', async () => {
    // About 19 000 tokens estimated for the PDF (600 KB / 32); its base64 text would be ~234 000.
    const gw = await start([{ id: 'user-input-tpm', scope: ['user'], metric: 'inputTokens', limit: 50_000, window: '1m' }]);
    try {
      for (let i = 0; i < 2; i++) {
        const reply = await gw.client.chat.completions.create({ model: 'docs', max_tokens: 200, messages: askAbout(pdfDataURL(600)) });
        expect(reply.choices[0]!.message.content).toBe('The contract is about a lease.');
      }
      expect(gw.upstreamBodies).toHaveLength(2);
    } finally {
      await gw.close();
    }
  });
});
