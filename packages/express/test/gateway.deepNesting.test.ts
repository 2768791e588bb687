import express from 'express';
import OpenAI from 'openai';
import type { RequestRecord } from '@llm-resilience/core';
import { openAIGateway, type OpenAIGatewayOptions } from '../src';
import { listen, testEngine, useFakeProvider } from './support';

/*
 * A body nested thousands of levels deep (~40 KB, far under bodyLimit) parses, but overflows the
 * stack of JSON.stringify in each attempt. Charged to the upstreams as failures (kind `unknown`),
 * ~30 such requests from one client opened the breakers for every client. The gateway refuses it
 * as the client's 400 before the engine runs, on OpenAI-compatible and Anthropic routes alike.
 */

const provider = useFakeProvider();

const PROMPT = 'my secret prompt text';

async function start(options: Partial<OpenAIGatewayOptions> = {}) {
  const engine = testEngine();
  const records: RequestRecord[] = [];
  engine.events.on('record', (r) => void records.push(r));
  const app = express();
  app.use(
    openAIGateway({
      engine,
      upstreams: {
        primary: { kind: 'openai', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' },
        backup: { kind: 'openai', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' },
        anthropic: { kind: 'anthropic', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' },
      },
      auth: { 'sk-mallory': { user: 'mallory' }, 'sk-alice': { user: 'alice' } },
      models: { support: 'support_reply' },
      ...options,
    }),
  );
  const { url, close } = await listen(app);
  // Raw fetch: the SDK itself cannot JSON.stringify such a body.
  const post = async (body: string) => {
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-mallory', 'content-type': 'application/json' }, body });
    return { status: res.status, text: await res.text() };
  };
  const alice = new OpenAI({ apiKey: 'sk-alice', baseURL: `${url}/v1`, maxRetries: 0, timeout: 10_000 });
  return { engine, records, url, close, post, alice };
}

const nested = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
const chatBody = (model: string, extra: string) => `{"model":"${model}","messages":[{"role":"user","content":"${PROMPT}"}],${extra}}`;

describe('openAIGateway refuses a body nested too deeply to forward, as the client’s fault', () => {
  it('answers 400 invalid_request_error naming the field, with no engine run, no upstream call and no prompt in the message', async () => {
    const gw = await start();
    try {
      const res = await gw.post(chatBody('support', `"extra":${nested(20_000)}`));
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text)).toEqual({
        error: {
          message: "Invalid value for 'extra': it nests arrays and objects more than 128 levels deep; the gateway forwards at most 128.",
          type: 'invalid_request_error',
          param: 'extra',
          code: 'invalid_value',
        },
      });
      expect(res.text).not.toContain(PROMPT);
      expect(gw.records).toEqual([]);
      expect(provider.fake.counters.requests).toBe(0);
    } finally {
      await gw.close();
    }
  });

  it('refuses it on a route to an Anthropic upstream too, deep inside a tool schema the translation would copy', async () => {
    const gw = await start();
    try {
      const tools = `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":${nested(20_000)}}}}}]`;
      const res = await gw.post(chatBody('claude', tools));
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text)).toMatchObject({ error: { type: 'invalid_request_error', param: 'tools', code: 'invalid_value' } });
      expect(res.text).not.toContain(PROMPT);
      expect(gw.records).toEqual([]);
      expect(provider.fake.counters.requests).toBe(0);
    } finally {
      await gw.close();
    }
  });

  it('does not let one client open the breakers for everyone else', async () => {
    const gw = await start();
    try {
      for (let i = 0; i < 30; i++) expect((await gw.post(chatBody('support', `"extra":${nested(20_000)}`))).status).toBe(400);
      const { data: r, response } = await gw.alice.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'hello' }] }).withResponse();
      expect(r.choices[0]!.message.content!.startsWith('[fast-a]')).toBe(true);
      expect(response.headers.get('x-llm-resilience-attempts')).toBe('1');
      expect(provider.fake.counters.requests).toBe(1);
    } finally {
      await gw.close();
    }
  });

  it('forwards nesting up to the limit, through the official SDK, to OpenAI-compatible and Anthropic upstreams', async () => {
    const sent: unknown[] = [];
    const gw = await start({
      fetch: (input, init) => {
        sent.push(JSON.parse(String(init?.body)));
        return fetch(input, init);
      },
    });
    try {
      // Body (1) > tools (2) > [0] (3) > function (4) > parameters (5) > properties (6) > x (7): 121 more levels reach 128.
      const deepest = JSON.parse(nested(121)) as unknown;
      const toolWith = (x: unknown): OpenAI.ChatCompletionTool => ({ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { x: { type: 'array', default: x } } } } });
      const tools = [toolWith(deepest)];
      const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'hi' }];
      const openai = await gw.alice.chat.completions.create({ model: 'support', messages, tools });
      expect(openai.choices[0]!.message).toBeDefined();
      const claude = await gw.alice.chat.completions.create({ model: 'claude', messages, tools });
      expect(claude.choices[0]!.message).toBeDefined();
      expect(sent).toHaveLength(2);
      expect(JSON.stringify(sent)).toContain(nested(121));
      // One level more is refused.
      const err = await gw.alice.chat.completions.create({ model: 'support', messages, tools: [toolWith([deepest])] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err).toMatchObject({ status: 400, param: 'tools', code: 'invalid_value' });
    } finally {
      await gw.close();
    }
  });
});
