import { estimateTokens, replyTag } from '../src';
import { post, rejection, startFake, userMessage, type Started } from './support';

let s: Started;

beforeAll(async () => {
  s = await startFake({
    seed: 1,
    models: {
      'fast-a': { contextWindow: 4_000, maxOutputTokens: 500, limits: { rpm: 1000, tpm: 1_000_000 } },
      'fast-b': { contextWindow: 4_000 },
    },
  });
});
afterAll(() => s.fake.stop());
beforeEach(() => s.fake.reset());

describe('OpenAI chat completions with the official openai SDK', () => {
  it('answers non-streaming requests with a tagged reply and exact usage', async () => {
    const prompt = 'Classify this support ticket please.';
    const { data, response } = await s.openai.chat.completions
      .create({ model: 'fast-a', messages: userMessage(prompt), max_tokens: 100 })
      .withResponse();
    const text = data.choices[0]!.message.content!;
    expect(text.startsWith(`${replyTag('fast-a', prompt)}: `)).toBe(true);
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe('fast-a');
    expect(data.choices[0]!.finish_reason).toBe('stop');
    expect(data.usage).toMatchObject({ prompt_tokens: estimateTokens(prompt), completion_tokens: estimateTokens(text), total_tokens: estimateTokens(prompt) + estimateTokens(text) });
    expect(response.headers.get('x-request-id')).toMatch(/^req_fake/);
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('999');
    expect(s.fake.counters).toMatchObject({ requests: 1, requestsByModel: { 'fast-a': 1 }, responsesByStatus: { '200': 1 }, tokensIn: data.usage!.prompt_tokens, tokensOut: data.usage!.completion_tokens });
  });

  it('makes a text reply without max_tokens exactly replyTokens (default 16) tokens long', async () => {
    const r = await s.openai.chat.completions.create({ model: 'fast-b', messages: userMessage('hello') });
    expect(r.usage?.completion_tokens).toBe(16);
    expect(estimateTokens(r.choices[0]!.message.content!)).toBe(16);
  });

  it('tells models apart and is deterministic per prompt', async () => {
    const ask = (model: string) => s.openai.chat.completions.create({ model, messages: userMessage('same prompt') });
    const [a1, a2, b] = await Promise.all([ask('fast-a'), ask('fast-a'), ask('fast-b')]);
    expect(a1.choices[0]!.message.content).toBe(a2.choices[0]!.message.content);
    expect(b.choices[0]!.message.content!.startsWith('[fast-b] reply to')).toBe(true);
    expect(s.fake.counters.requestsByModel).toEqual({ 'fast-a': 2, 'fast-b': 1 });
  });

  it('counts every message of the conversation in the prompt', async () => {
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: [{ type: 'text' as const, text: 'Part one.' }, { type: 'text' as const, text: 'Part two.' }] },
    ];
    const r = await s.openai.chat.completions.create({ model: 'fast-a', messages });
    expect(r.usage!.prompt_tokens).toBe(estimateTokens('You are terse.\nPart one.Part two.'));
  });

  it('streams SSE chunks with the usage in the last chunk when asked', async () => {
    const stream = await s.openai.chat.completions.create({ model: 'fast-a', messages: userMessage('stream me'), stream: true, stream_options: { include_usage: true } });
    let text = '';
    const chunks: Array<{ usage?: unknown; finish?: string | null }> = [];
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      chunks.push({ usage: chunk.usage, finish: chunk.choices[0]?.finish_reason });
    }
    expect(text.startsWith(replyTag('fast-a', 'stream me'))).toBe(true);
    expect(chunks.length).toBeGreaterThan(4);
    expect(chunks.at(-2)!.finish).toBe('stop');
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: estimateTokens('stream me'), completion_tokens: estimateTokens(text) });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(s.fake.counters.tokensOut).toBe(estimateTokens(text));
  });

  it('streams without usage unless asked', async () => {
    const stream = await s.openai.chat.completions.create({ model: 'fast-a', messages: userMessage('x'), stream: true });
    for await (const chunk of stream) expect(chunk.usage).toBeUndefined();
  });

  it('the same text arrives streamed and not streamed', async () => {
    const plain = await s.openai.chat.completions.create({ model: 'fast-b', messages: userMessage('compare') });
    const stream = await s.openai.chat.completions.create({ model: 'fast-b', messages: userMessage('compare'), stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(plain.choices[0]!.message.content);
  });

  it('returns JSON matching a json_schema response_format', async () => {
    const schema = {
      type: 'object',
      properties: { intent: { type: 'string', enum: ['refund_request', 'other'] }, urgency: { type: 'string', enum: ['low', 'high'] }, summary: { type: 'string' } },
      required: ['intent', 'urgency', 'summary'],
      additionalProperties: false,
    };
    const r = await s.openai.chat.completions.create({
      model: 'fast-a',
      messages: userMessage('my order arrived broken'),
      response_format: { type: 'json_schema', json_schema: { name: 'ticket', schema, strict: true } },
    });
    expect(JSON.parse(r.choices[0]!.message.content!)).toEqual({ intent: 'refund_request', urgency: 'low', summary: replyTag('fast-a', 'my order arrived broken') });
  });

  it('returns a JSON object for json_object', async () => {
    const r = await s.openai.chat.completions.create({ model: 'fast-a', messages: userMessage('json please'), response_format: { type: 'json_object' } });
    expect(JSON.parse(r.choices[0]!.message.content!)).toEqual({ reply: replyTag('fast-a', 'json please') });
  });

  it('calls a forced tool with arguments from its schema (non-streaming and streaming)', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'route', parameters: { type: 'object', properties: { queue: { enum: ['billing', 'tech'] } }, required: ['queue'] } } }];
    const tool_choice = { type: 'function' as const, function: { name: 'route' } };
    const r = await s.openai.chat.completions.create({ model: 'fast-a', messages: userMessage('route me'), tools, tool_choice });
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    const call = r.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ queue: 'billing' });
    const stream = await s.openai.chat.completions.create({ model: 'fast-a', messages: userMessage('route me'), tools, tool_choice, stream: true });
    let args = '';
    for await (const chunk of stream) args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
    expect(JSON.parse(args)).toEqual({ queue: 'billing' });
  });

  it('cuts a forced tool call at max_tokens: truncated arguments, finish_reason length (non-streaming and streaming)', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'classify', parameters: { type: 'object', properties: { label: { type: 'string' }, reason: { type: 'string' } }, required: ['label', 'reason'] } } }];
    const r = await s.openai.chat.completions.create({ model: 'fast-a', max_tokens: 3, messages: userMessage('hi'), tools, tool_choice: 'required' });
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage!.completion_tokens).toBe(3);
    const call = r.choices[0]!.message.tool_calls![0]!;
    const args = call.type === 'function' ? call.function.arguments : '';
    expect(args).toHaveLength(12);
    expect(() => JSON.parse(args)).toThrow(SyntaxError);
    const stream = await s.openai.chat.completions.create({ model: 'fast-a', max_tokens: 3, messages: userMessage('hi'), tools, tool_choice: { type: 'function', function: { name: 'classify' } }, stream: true });
    let streamed = '';
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      streamed += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect({ streamed, finish }).toEqual({ streamed: args, finish: 'length' });
  });

  it('cuts the reply at max_tokens with finish_reason length', async () => {
    const r = await s.openai.chat.completions.create({ model: 'fast-a', messages: userMessage('long'), max_tokens: 2 });
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage!.completion_tokens).toBe(2);
  });

  it('rejects unknown models with a 404 model_not_found', async () => {
    const err = (await rejection(s.openai.chat.completions.create({ model: 'nope', messages: userMessage('x') }))) as { status: number; code: string };
    expect(err.status).toBe(404);
    expect(err.code).toBe('model_not_found');
  });

  it('rejects prompts over the context window with context_length_exceeded', async () => {
    const long = 'x'.repeat(4 * 3_950);
    const err = (await rejection(s.openai.chat.completions.create({ model: 'fast-a', messages: userMessage(long), max_tokens: 100 }))) as { status: number; code: string; message: string };
    expect(err.status).toBe(400);
    expect(err.code).toBe('context_length_exceeded');
    expect(err.message).toMatch(/maximum context length is 4000 tokens/);
  });

  it('rejects max_tokens above the model maximum as an invalid request', async () => {
    const err = (await rejection(s.openai.chat.completions.create({ model: 'fast-a', messages: userMessage('x'), max_tokens: 501 }))) as { status: number; param: string };
    expect(err.status).toBe(400);
    expect(err.param).toBe('max_tokens');
  });

  it('answers malformed requests with OpenAI-shaped 400s and unknown paths with 404', async () => {
    const missing = await post(`${s.baseURL}/chat/completions`, { model: 'fast-a' });
    expect(missing.status).toBe(400);
    expect(missing.json()).toEqual({ error: { message: "Missing required parameter: 'messages'.", type: 'invalid_request_error', param: 'messages', code: null } });
    const res = await fetch(`${s.baseURL}/chat/completions`, { method: 'POST', body: '{not json' });
    expect(res.status).toBe(400);
    const unknown = await fetch(`${s.baseURL}/embeddings`, { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(404);
  });

  it('rejects json_object when no message mentions "json", as the real API does', async () => {
    const err = (await rejection(s.openai.chat.completions.create({ model: 'fast-a', messages: userMessage('Classify this ticket'), response_format: { type: 'json_object' } }))) as { status: number; param: string; message: string };
    expect(err.status).toBe(400);
    expect(err.param).toBe('messages');
    expect(err.message).toMatch(/'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'/);
    const ok = await s.openai.chat.completions.create({ model: 'fast-a', messages: [{ role: 'system', content: 'Answer in JSON.' }, { role: 'user', content: 'Classify this ticket' }], response_format: { type: 'json_object' } });
    expect(JSON.parse(ok.choices[0]!.message.content!)).toHaveProperty('reply');
  });

  it('rejects what the real API rejects: stream_options without stream, empty messages, a tool_choice naming no tool', async () => {
    const url = `${s.baseURL}/chat/completions`;
    const streamOptions = await post(url, { model: 'fast-a', messages: userMessage('hi'), stream_options: { include_usage: true } });
    expect(streamOptions.status).toBe(400);
    expect(streamOptions.json()).toEqual({ error: { message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.", type: 'invalid_request_error', param: 'stream_options', code: null } });
    const empty = await post(url, { model: 'fast-a', messages: [] });
    expect(empty.status).toBe(400);
    expect(empty.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'messages', message: expect.stringContaining("Invalid 'messages': empty array") } });
    const tools = [{ type: 'function', function: { name: 'classify', parameters: { type: 'object', properties: {} } } }];
    const misnamed = await post(url, { model: 'fast-a', messages: userMessage('hi'), tools, tool_choice: { type: 'function', function: { name: 'clasify' } } });
    expect(misnamed.status).toBe(400);
    expect(misnamed.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'tool_choice', message: expect.stringContaining("function 'clasify' is not one of the functions in 'tools'") } });
    const noTools = await post(url, { model: 'fast-a', messages: userMessage('hi'), tool_choice: 'required' });
    expect(noTools.json()).toMatchObject({ error: { param: 'tool_choice', message: "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified." } });
    expect(s.fake.counters.responsesByStatus).toEqual({ '400': 4 });
  });

  it('lists the configured models', async () => {
    const list = await s.openai.models.list();
    expect(list.data.map((m) => m.id)).toEqual(['fast-a', 'fast-b']);
  });
});

describe('apiKey and defaultModel', () => {
  it('requires the configured key and serves unknown models from defaultModel', async () => {
    const t = await startFake({ apiKey: 'secret', models: {}, defaultModel: { contextWindow: 1000 } });
    try {
      const err = (await rejection(t.openai.chat.completions.create({ model: 'any', messages: userMessage('x') }))) as { status: number; code: string };
      expect(err.status).toBe(401);
      expect(err.code).toBe('invalid_api_key');
      const OpenAI = (await import('openai')).default;
      const ok = new OpenAI({ apiKey: 'secret', baseURL: t.baseURL, maxRetries: 0 });
      const r = await ok.chat.completions.create({ model: 'whatever-1', messages: userMessage('x') });
      expect(r.choices[0]!.message.content!.startsWith('[whatever-1] reply to')).toBe(true);
    } finally {
      await t.fake.stop();
    }
  });

  it('requires the key on GET /v1/models too', async () => {
    const t = await startFake({ apiKey: 'secret', models: { m: { contextWindow: 1000 } } });
    try {
      const anonymous = await fetch(`${t.baseURL}/models`);
      expect(anonymous.status).toBe(401);
      expect(await anonymous.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
      expect((await fetch(`${t.baseURL}/models`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      const bearer = await fetch(`${t.baseURL}/models`, { headers: { authorization: 'Bearer secret' } });
      expect(await bearer.json()).toMatchObject({ object: 'list', data: [{ id: 'm' }] });
      expect((await fetch(`${t.baseURL}/models`, { headers: { 'x-api-key': 'secret' } })).status).toBe(200);
    } finally {
      await t.fake.stop();
    }
  });
});
