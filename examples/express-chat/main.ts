/**
 * express-chat: an Express app whose chat endpoint and OpenAI-compatible gateway run through one
 * llm-resilience engine (limits, retries, fallbacks, breakers).
 *
 * Runs against the fake provider by default; set OPENAI_API_KEY to use OpenAI instead
 * (gpt-4o-mini, falling back to gpt-4.1-mini).
 *
 *   npx tsx examples/express-chat/main.ts        # then see the printed curl commands
 *   PORT=4000 OPENAI_API_KEY=sk-... npx tsx examples/express-chat/main.ts
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import OpenAI from 'openai';
import { createResilience, definePolicy, type Resilience } from '@llm-resilience/core';
import { openAIGateway, resilience, resilienceErrorHandler, type UpstreamConfig } from '@llm-resilience/express';
import { createFakeProvider, type FakeProvider } from '@llm-resilience/testing';

/** The key clients of the gateway use in this example (map your own keys to identities). */
export const DEMO_CLIENT_KEY = 'sk-demo-client';

/** Options of {@link startExpressChat}. */
export interface ExpressChatOptions {
  /** Port to listen on; 0 picks a free one. Default `PORT` or 3000. */
  port?: number;
  /** Environment to read keys from. Default `process.env`. */
  env?: Record<string, string | undefined>;
}

/** A running example app. */
export interface ExpressChat {
  url: string;
  engine: Resilience;
  /** The fake provider, when no real key was set. */
  fake?: FakeProvider;
  mode: 'fake' | 'openai';
  close(): Promise<void>;
}

/**
 * Starts the example app (and the fake provider unless `OPENAI_API_KEY` is set).
 *
 * @example
 * ```ts
 * const chat = await startExpressChat({ port: 0 });
 * await fetch(`${chat.url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-user-id': 'u1' }, body: JSON.stringify({ message: 'hi' }) });
 * await chat.close();
 * ```
 */
export async function startExpressChat(options: ExpressChatOptions = {}): Promise<ExpressChat> {
  const env = options.env ?? process.env;
  const realKey = env.OPENAI_API_KEY;
  let fake: FakeProvider | undefined;
  let upstreams: Record<string, UpstreamConfig>;
  let models: { primary: string; backup: string };
  if (realKey) {
    const baseURL = env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1';
    upstreams = { openai: { kind: 'openai', baseURL, apiKey: realKey }, 'openai-backup': { kind: 'openai', baseURL, apiKey: realKey } };
    models = { primary: 'gpt-4o-mini', backup: 'gpt-4.1-mini' };
  } else {
    fake = createFakeProvider({
      seed: 1,
      models: {
        'fast-a': { contextWindow: 128_000, limits: { rpm: 600 }, latency: { firstTokenMs: 30, perTokenMs: 2 } },
        'fast-b': { provider: 'anthropic', contextWindow: 200_000, limits: { rpm: 300 }, latency: { firstTokenMs: 50, perTokenMs: 3 } },
      },
    });
    const { baseURL } = await fake.start();
    upstreams = { openai: { kind: 'openai', baseURL, apiKey: 'fake' }, 'openai-backup': { kind: 'openai', baseURL, apiKey: 'fake' } };
    models = { primary: 'fast-a', backup: 'fast-b' };
  }

  const policy = definePolicy({
    targets: {
      primary: { provider: 'openai', model: models.primary, contextWindow: 128_000, price: { input: 0.15, output: 0.6 } },
      backup: { provider: 'openai-backup', model: models.backup, contextWindow: 128_000, price: { input: 0.4, output: 1.6 } },
    },
    routes: {
      support_reply: { chain: ['primary', 'backup'], priority: 'live', timeout: '20s', audience: 'customer' },
    },
    limits: [{ id: 'user-tokens', scope: ['user'], metric: 'totalTokens', limit: 200_000, window: '1h' }],
  });
  const engine = createResilience(policy);

  // One SDK client per upstream; the engine does the retries, so the SDK must not.
  const clients = Object.fromEntries(
    Object.entries(upstreams).map(([name, u]) => [name, new OpenAI({ apiKey: u.apiKey ?? '', baseURL: u.baseURL, maxRetries: 0 })]),
  );

  const app = express();
  // No app-level express.json(): the gateway parses its own bodies (bodyLimit '4mb', OpenAI-style
  // errors); a parser in front of it would replace both. Each route of the app mounts its own.

  // The in-app endpoint: identity from a header (use your auth here), a per-user request limit.
  const protect = resilience({
    engine,
    identity: (req) => ({ user: req.get('x-user-id') ?? 'anonymous', team: req.get('x-team-id') ?? 'default' }),
    route: 'support_reply',
    limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 10, window: '1m' }],
    standardHeaders: 'draft-7',
  });
  app.post('/chat', express.json(), protect, async (req, res) => {
    const message = String((req.body as { message?: unknown } | undefined)?.message ?? '');
    if (message === '') {
      res.status(400).json({ error: { type: 'invalid_request', message: 'Send { "message": "..." }.' } });
      return;
    }
    const messages = [{ role: 'user' as const, content: message }];
    const { value, record } = await req.resilience.execute(
      'support_reply',
      (target, ctx) =>
        clients[target.provider]!.chat.completions.create({ model: target.model, messages, max_tokens: ctx.maxOutputTokens }, { signal: ctx.signal }),
      { input: { messages }, maxOutputTokens: 300 },
    );
    res.json({ reply: value.choices[0]?.message.content ?? '', model: record.final_model, fallback: record.fallback_used, attempts: record.attempts.length });
  });

  // The gateway: point any OpenAI SDK at <url>/v1 with the demo key.
  app.use(openAIGateway({ engine, upstreams, auth: { [DEMO_CLIENT_KEY]: { user: 'demo', team: 'support' } }, models: { support: 'support_reply' } }));
  app.use(resilienceErrorHandler());

  const port = options.port ?? Number(env.PORT ?? 3000);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    engine,
    mode: fake ? 'fake' : 'openai',
    ...(fake ? { fake } : {}),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await engine.shutdown();
      await fake?.stop();
    },
  };
}

async function main(): Promise<void> {
  const app = await startExpressChat();
  console.log(`express-chat listening on ${app.url} (${app.mode === 'fake' ? 'fake provider' : 'OpenAI'})`);
  console.log(`  curl -s ${app.url}/chat -H 'content-type: application/json' -H 'x-user-id: u1' -d '{"message":"Where is my order?"}'`);
  console.log(`  OpenAI SDK: new OpenAI({ apiKey: '${DEMO_CLIENT_KEY}', baseURL: '${app.url}/v1' }), model 'support'`);
  const stop = () => void app.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
