import express4 from 'express4';
import OpenAI from 'openai';
import request from 'supertest';
import { ManualClock, MemoryLimiterStore } from '@llm-resilience/core';
import { replyTag } from '@llm-resilience/testing';
import { RequestResilience, openAIGateway, resilience, resilienceErrorHandler } from '../src';
import { fetchChatCall, listen, testEngine, useFakeProvider } from './support';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

// The same package on Express 4 (the peer range allows ^4.18): the middleware, the error handler and
// the gateway router, over real sockets.

const provider = useFakeProvider();

/** Express 4 does not pass rejected promises of async handlers to `next`: apps wrap them. */
const asyncHandler =
  (fn: (req: Request, res: Response) => Promise<void>): RequestHandler =>
  (req: Request, res: Response, next: NextFunction) => {
    fn(req, res).catch(next);
  };

const chatCall = (prompt: string) => fetchChatCall(provider.baseURL, prompt);

describe('Express 4', () => {
  it('runs the middleware: inbound limits with headers and a 429, req.resilience.execute, the error handler', async () => {
    expect((require('express4/package.json') as { version: string }).version).toMatch(/^4\./);
    const clock = new ManualClock(1_000_000);
    const engine = testEngine({}, { clock, store: new MemoryLimiterStore({ clock }) });
    const app = express4();
    app.use(express4.json());
    app.use(
      resilience({
        engine,
        identity: (req) => ({ user: req.get('x-user') }),
        validations: false,
        limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 2, window: '1m' }],
      }),
    );
    app.post(
      '/chat',
      asyncHandler(async (req, res) => {
        const { value, record } = await req.resilience.execute('support_reply', chatCall('hi from 4'), { input: { prompt: 'hi from 4' }, maxOutputTokens: 30 });
        res.json({
          reply: value.choices?.[0]?.message.content,
          target: record.final_target,
          user: req.resilience.identity?.user,
          own: Object.prototype.hasOwnProperty.call(req, 'resilience'),
          isContext: req.resilience instanceof RequestResilience,
        });
      }),
    );
    app.use(resilienceErrorHandler());

    const ok = await request(app).post('/chat').set('x-user', 'u4').send({}).expect(200);
    expect(ok.body).toMatchObject({ target: 'fast-a', user: 'u4', own: false, isContext: true });
    expect(ok.body.reply.startsWith(replyTag('fast-a', 'hi from 4'))).toBe(true);
    expect(ok.headers['ratelimit-policy']).toBe('2;w=60');
    expect(ok.headers.ratelimit).toMatch(/^limit=2, remaining=1, reset=\d+$/);

    // An outage of the whole chain reaches the error handler through next(err): 503, customer wording.
    provider.fake.setFaults([{ kind: 'overloaded_503' }]);
    const down = await request(app).post('/chat').set('x-user', 'u4').send({}).expect(503);
    expect(down.body.error).toMatchObject({ type: 'overloaded', code: 'ERR_LLMR_CHAIN_EXHAUSTED' });
    expect(JSON.stringify(down.body)).not.toContain('upstream-secret-key');

    const limited = await request(app).post('/chat').set('x-user', 'u4').send({}).expect(429);
    expect(limited.headers['retry-after']).toBe('30');
    expect(limited.body.error).toMatchObject({ type: 'rate_limited', retry_after_ms: 30_000 });
  });

  it('serves the OpenAI-compatible gateway to the official SDK', async () => {
    const engine = testEngine();
    const app = express4();
    app.use(
      openAIGateway({
        engine,
        upstreams: { primary: { kind: 'openai', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' }, backup: { kind: 'openai', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' } },
        auth: { 'sk-client-4': { user: 'four' } },
        models: { support: 'support_reply' },
      }),
    );
    const { url, close } = await listen(app);
    try {
      const client = new OpenAI({ apiKey: 'sk-client-4', baseURL: `${url}/v1`, maxRetries: 0, timeout: 10_000 });
      const reply = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'four?' }], max_tokens: 20 });
      expect(reply.choices[0]!.message.content!.startsWith(replyTag('fast-a', 'four?'))).toBe(true);
      let streamed = '';
      for await (const chunk of await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'stream four' }], stream: true })) {
        streamed += chunk.choices[0]?.delta.content ?? '';
      }
      expect(streamed.startsWith(replyTag('fast-a', 'stream four'))).toBe(true);
    } finally {
      await close();
    }
  });
});
