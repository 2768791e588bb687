import { estimateTokens, replyTag } from '../src';
import { post, rejection, startFake, userMessage, type Started } from './support';

let s: Started;

beforeAll(async () => {
  s = await startFake({
    models: {
      'claude-x': { provider: 'anthropic', contextWindow: 2_000, maxOutputTokens: 1_000, limits: { rpm: 50, itpm: 10_000, otpm: 2_000 } },
    },
  });
});
afterAll(() => s.fake.stop());
beforeEach(() => s.fake.reset());

describe('Anthropic messages with the official @anthropic-ai/sdk', () => {
  it('answers non-streaming requests with a tagged reply, usage and anthropic-ratelimit-* headers', async () => {
    const { data, response } = await s.anthropic.messages
      .create({ model: 'claude-x', max_tokens: 300, system: 'Be brief.', messages: userMessage('Hello Claude') })
      .withResponse();
    const block = data.content[0]!;
    expect(block.type).toBe('text');
    const text = block.type === 'text' ? block.text : '';
    const prompt = 'Be brief.\nHello Claude';
    expect(text.startsWith(`${replyTag('claude-x', prompt)}: `)).toBe(true);
    expect(data.stop_reason).toBe('end_turn');
    expect(data.usage).toMatchObject({ input_tokens: estimateTokens(prompt), output_tokens: estimateTokens(text) });
    expect(response.headers.get('request-id')).toMatch(/^req_fake/);
    expect(response.headers.get('anthropic-ratelimit-requests-limit')).toBe('50');
    expect(response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('49');
    expect(response.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe('1700');
    expect(response.headers.get('anthropic-ratelimit-input-tokens-reset')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(s.fake.counters.tokensByModel['claude-x']).toEqual({ input: estimateTokens(prompt), output: estimateTokens(text) });
  });

  it('streams the full event sequence and the same text', async () => {
    const plain = await s.anthropic.messages.create({ model: 'claude-x', max_tokens: 300, messages: userMessage('stream it') });
    const stream = await s.anthropic.messages.create({ model: 'claude-x', max_tokens: 300, messages: userMessage('stream it'), stream: true });
    const types: string[] = [];
    let text = '';
    let outputTokens = 0;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
      if (event.type === 'message_delta') outputTokens = event.usage.output_tokens;
    }
    expect(types[0]).toBe('message_start');
    expect(types.slice(1, 2)).toEqual(['content_block_start']);
    expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(plain.content[0]!.type === 'text' && plain.content[0]!.text).toBe(text);
    expect(outputTokens).toBe(estimateTokens(text));
  });

  it('works with the SDK stream helper and its final message', async () => {
    const final = await s.anthropic.messages.stream({ model: 'claude-x', max_tokens: 300, messages: userMessage('helper') }).finalMessage();
    expect(final.content[0]!.type === 'text' && final.content[0]!.text.startsWith(replyTag('claude-x', 'helper'))).toBe(true);
    expect(final.usage.output_tokens).toBeGreaterThan(0);
  });

  it('answers JSON when the system prompt asks for it', async () => {
    const r = await s.anthropic.messages.create({ model: 'claude-x', max_tokens: 300, system: 'Reply in JSON only.', messages: userMessage('hi') });
    expect(JSON.parse(r.content[0]!.type === 'text' ? r.content[0]!.text : '')).toEqual({ reply: replyTag('claude-x', 'Reply in JSON only.\nhi') });
  });

  it('answers JSON for output_config.format json_schema', async () => {
    const schema = { type: 'object', properties: { intent: { type: 'string', enum: ['refund', 'other'] } }, required: ['intent'], additionalProperties: false };
    const r = await s.anthropic.messages.create({ model: 'claude-x', max_tokens: 300, messages: userMessage('hi'), output_config: { format: { type: 'json_schema', schema } } });
    expect(JSON.parse(r.content[0]!.type === 'text' ? r.content[0]!.text : '')).toEqual({ intent: 'refund' });
  });

  it('uses a forced tool, streamed and not', async () => {
    const tools = [{ name: 'classify', input_schema: { type: 'object' as const, properties: { label: { type: 'string', enum: ['spam', 'ham'] } }, required: ['label'] } }];
    const r = await s.anthropic.messages.create({ model: 'claude-x', max_tokens: 300, messages: userMessage('hi'), tools, tool_choice: { type: 'tool', name: 'classify' } });
    expect(r.stop_reason).toBe('tool_use');
    expect(r.content[0]).toMatchObject({ type: 'tool_use', name: 'classify', input: { label: 'spam' } });
    const final = await s.anthropic.messages.stream({ model: 'claude-x', max_tokens: 300, messages: userMessage('hi'), tools, tool_choice: { type: 'any' } }).finalMessage();
    expect(final.content[0]).toMatchObject({ type: 'tool_use', name: 'classify', input: { label: 'spam' } });
  });

  it('cuts a forced tool_use at max_tokens with stop_reason max_tokens', async () => {
    const tools = [{ name: 'classify', input_schema: { type: 'object' as const, properties: { label: { type: 'string' }, reason: { type: 'string' } }, required: ['label', 'reason'] } }];
    const r = await s.anthropic.messages.create({ model: 'claude-x', max_tokens: 3, messages: userMessage('hi'), tools, tool_choice: { type: 'tool', name: 'classify' } });
    expect(r.stop_reason).toBe('max_tokens');
    expect(r.usage.output_tokens).toBe(3);
    expect(r.content[0]).toMatchObject({ type: 'tool_use', name: 'classify' });
    const events = await s.anthropic.messages.create({ model: 'claude-x', max_tokens: 3, messages: userMessage('hi'), tools, tool_choice: { type: 'any' }, stream: true });
    let json = '';
    let stop: string | null = null;
    for await (const e of events) {
      if (e.type === 'content_block_delta' && e.delta.type === 'input_json_delta') json += e.delta.partial_json;
      if (e.type === 'message_delta') stop = e.delta.stop_reason;
    }
    expect(json).toHaveLength(12);
    expect(() => JSON.parse(json)).toThrow(SyntaxError);
    expect(stop).toBe('max_tokens');
  });

  it('cuts at max_tokens with stop_reason max_tokens', async () => {
    const r = await s.anthropic.messages.create({ model: 'claude-x', max_tokens: 3, messages: userMessage('long') });
    expect(r.stop_reason).toBe('max_tokens');
    expect(r.usage.output_tokens).toBe(3);
  });

  it('says "prompt is too long" over the window, and names both parts when max_tokens tips it over', async () => {
    const tooLong = (await rejection(s.anthropic.messages.create({ model: 'claude-x', max_tokens: 10, messages: userMessage('x'.repeat(8_100)) }))) as { status: number; message: string };
    expect(tooLong.status).toBe(400);
    expect(tooLong.message).toMatch(/prompt is too long: 2025 tokens > 2000 maximum/);
    const tipped = (await rejection(s.anthropic.messages.create({ model: 'claude-x', max_tokens: 1_000, messages: userMessage('x'.repeat(4_004)) }))) as { message: string };
    expect(tipped.message).toMatch(/input length and `max_tokens` exceed context limit: 1001 \+ 1000 > 2000/);
  });

  it('rejects what the real API rejects: empty messages, a "system" message, a tool_choice naming no tool', async () => {
    const url = `${s.url}/v1/messages`;
    const error = (message: string) => ({ type: 'error', error: { type: 'invalid_request_error', message } });
    const empty = await post(url, { model: 'claude-x', max_tokens: 10, messages: [] });
    expect(empty.status).toBe(400);
    expect(empty.json()).toEqual(error('messages: at least one message is required'));
    const system = await post(url, { model: 'claude-x', max_tokens: 10, messages: [{ role: 'system', content: 'be terse' }, ...userMessage('hi')] });
    expect(system.status).toBe(400);
    expect(system.json()).toEqual(error('messages.0.role: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.'));
    const tools = [{ name: 'classify', input_schema: { type: 'object', properties: {} } }];
    const misnamed = await post(url, { model: 'claude-x', max_tokens: 10, messages: userMessage('hi'), tools, tool_choice: { type: 'tool', name: 'clasify' } });
    expect(misnamed.status).toBe(400);
    expect(misnamed.json()).toEqual(error("tool_choice.name: Tool 'clasify' not found in provided tools"));
    expect(s.fake.counters.responsesByStatus).toEqual({ '400': 3 });
  });

  it('requires max_tokens and rejects unknown models in Anthropic shapes', async () => {
    const missing = await post(`${s.url}/v1/messages`, { model: 'claude-x', messages: userMessage('x') });
    expect(missing.status).toBe(400);
    expect(missing.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } });
    const unknown = (await rejection(s.anthropic.messages.create({ model: 'nope', max_tokens: 5, messages: userMessage('x') }))) as { status: number; error: unknown };
    expect(unknown.status).toBe(404);
    expect(unknown.error).toEqual({ type: 'error', error: { type: 'not_found_error', message: 'model: nope' } });
  });
});
