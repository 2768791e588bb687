import { AnthropicStreamTranslator, finishReason, fromAnthropicMessage, toAnthropicRequest } from './anthropicTranslate';
import type { ChatChunk, ChatRequestBody } from './chatTypes';
import type { ChatRequestError } from './ChatRequestError';
import { refusalOf } from './refusalOf';

const refusal = (body: ChatRequestBody): ChatRequestError => refusalOf(() => toAnthropicRequest(body, 'claude-x', 100, false), 'toAnthropicRequest()');

describe('toAnthropicRequest', () => {
  it('moves system prompts out, merges turns and maps tool calls and results', () => {
    const out = toAnthropicRequest(
      {
        model: 'alias',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: [{ type: 'text', text: 'Use JSON.' }] },
          { role: 'user', content: 'Weather?' },
          { role: 'user', content: [{ type: 'text', text: 'In Paris.' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] },
          { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
        ],
        stop: 'END',
        temperature: 1.7,
        top_p: 0.9,
        tools: [{ type: 'function', function: { name: 'weather', description: 'Weather by city', parameters: { type: 'object' } } }],
        tool_choice: 'required',
      },
      'claude-x',
      300,
      true,
    );
    expect(out).toEqual({
      model: 'claude-x',
      max_tokens: 300,
      stream: true,
      system: 'Be brief.\n\nUse JSON.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather?' },
            { type: 'text', text: 'In Paris.' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
          ],
        },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'sunny' }] },
      ],
      stop_sequences: ['END'],
      temperature: 1,
      top_p: 0.9,
      tools: [{ name: 'weather', description: 'Weather by city', input_schema: { type: 'object' } }],
      tool_choice: { type: 'any' },
    });
  });

  it('maps URL images, named tool choice and JSON-schema response formats', () => {
    const out = toAnthropicRequest(
      {
        model: 'a',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/img.png' } }] }],
        tool_choice: { type: 'function', function: { name: 'f' } },
        response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' } } },
      },
      'm',
      10,
      false,
    );
    expect(out.messages).toEqual([{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://x/img.png' } }] }]);
    expect(out.tool_choice).toEqual({ type: 'tool', name: 'f' });
    expect(out.output_config).toEqual({ format: { type: 'json_schema', schema: { type: 'object' } } });
    expect(out.stream).toBeUndefined();
  });
});

describe('toAnthropicRequest: nothing is dropped silently', () => {
  it('translates PDF files, the end-user id, top_k and parallel_tool_calls, leaving out ignored hints', () => {
    const out = toAnthropicRequest(
      {
        model: 'support',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarise.' }, { type: 'file', file: { filename: 'c.pdf', file_data: 'data:application/pdf;base64,JVBE' } }] }],
        user: 'end-user-7',
        top_k: 5,
        seed: 42,
        presence_penalty: 0.3,
        tools: [{ type: 'function', function: { name: 'f' } }],
        parallel_tool_calls: false,
      },
      'claude-x',
      100,
      false,
    );
    expect(out).toEqual({
      model: 'claude-x',
      max_tokens: 100,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Summarise.' },
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' }, title: 'c.pdf' },
          ],
        },
      ],
      top_k: 5,
      tools: [{ name: 'f', input_schema: { type: 'object', properties: {} } }],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      metadata: { user_id: 'end-user-7' },
    });
  });

  it('refuses untranslatable messages, roles and options, naming their path and the client model only', () => {
    const ask = [{ role: 'user', content: 'hi' }];
    expect(refusal({ model: 'support', messages: [null as never] })).toMatchObject({ param: 'messages[0]' });
    expect(refusal({ model: 'support', messages: [{ role: 'user', content: 42 }] })).toMatchObject({ param: 'messages[0].content' });
    expect(refusal({ model: 'support', messages: [{ role: 'critic', content: 'x' }] })).toMatchObject({ param: 'messages[0].role', openAICode: 'unsupported_value' });
    expect(refusal({ model: 'support', messages: [{ role: 'system', content: 'Be brief.' }] })).toMatchObject({ param: 'messages', openAICode: 'invalid_value' });
    expect(refusal({ model: 'support', messages: [{ role: 'tool', content: 'sunny' }] })).toMatchObject({ param: 'messages[0].tool_call_id' });
    expect(refusal({ model: 'support', messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }, ...ask] })).toMatchObject({
      param: 'messages[0].content[0]',
    });
    expect(refusal({ model: 'support', messages: ask, n: 3 })).toMatchObject({ param: 'n', openAICode: 'unsupported_parameter' });
    expect(refusal({ model: 'support', messages: ask, logprobs: true })).toMatchObject({ param: 'logprobs' });
    expect(refusal({ model: 'support', messages: ask, response_format: { type: 'json_object' } })).toMatchObject({ param: 'response_format' });
    const audio = refusal({ model: 'support', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'UklG', format: 'wav' } }] }] });
    expect(audio.message).toContain('model `support`');
    expect(audio.message).not.toContain('claude-x');
  });
});

describe('toAnthropicRequest: tool definitions and tool call ids', () => {
  const translate = (body: Partial<ChatRequestBody>) => toAnthropicRequest({ model: 'alias', messages: [{ role: 'user', content: 'hi' }], ...body }, 'claude-x', 100, false);
  type Msg = { role: string; content: Array<{ type: string; id?: string; tool_use_id?: string }> };

  it('gives input_schema a type "object" when the OpenAI parameters schema has none', () => {
    const out = translate({ tools: [{ type: 'function', function: { name: 'now', parameters: {} } }] });
    expect(out.tools).toEqual([{ name: 'now', input_schema: { type: 'object' } }]);
  });

  it('maps tool call ids outside the alphabet Anthropic accepts, the same in tool_use and tool_result', () => {
    const out = translate({
      messages: [
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
            { id: 'functions.get_weather/0', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
            { id: 'call_ok-1', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'functions.get_weather:0', content: 'sunny' },
        { role: 'tool', tool_call_id: 'functions.get_weather/0', content: 'rainy' },
        { role: 'tool', tool_call_id: 'call_ok-1', content: 'windy' },
      ],
    });
    const msgs = out.messages as Msg[];
    const useIds = msgs[1]!.content.map((b) => b.id!);
    const resultIds = msgs[2]!.content.map((b) => b.tool_use_id!);
    for (const id of useIds) expect(id).toMatch(/^[a-zA-Z0-9_-]+$/);
    expect(useIds[0]).toMatch(/^functions_get_weather_0_/);
    expect(new Set(useIds).size).toBe(3);
    expect(useIds[2]).toBe('call_ok-1');
    expect(resultIds).toEqual(useIds);
  });

  it('gives legacy function_call turns unique ids and pairs each function message with the latest unanswered call of its name', () => {
    const out = translate({
      messages: [
        { role: 'user', content: 'a?' },
        { role: 'assistant', content: null, function_call: { name: 'lookup', arguments: '{"q":"a"}' } },
        { role: 'function', name: 'lookup', content: 'A' },
        { role: 'user', content: 'b?' },
        { role: 'assistant', content: null, function_call: { name: 'lookup', arguments: '{"q":"b"}' } },
        { role: 'function', name: 'lookup', content: 'B' },
      ],
    });
    const blocks = (out.messages as Msg[]).flatMap((m) => m.content);
    expect(blocks.filter((b) => b.type === 'tool_use').map((b) => b.id)).toEqual(['lookup_1', 'lookup_2']);
    expect(blocks.filter((b) => b.type === 'tool_result').map((b) => b.tool_use_id)).toEqual(['lookup_1', 'lookup_2']);
  });
});

describe('toAnthropicRequest: whitespace Anthropic refuses', () => {
  const translate = (messages: ChatRequestBody['messages']) => toAnthropicRequest({ model: 'alias', messages }, 'claude-x', 100, false);
  type Msg = { role: string; content: Array<{ type: string; text?: string }> };

  it('leaves out whitespace-only user and assistant texts', () => {
    const out = translate([
      { role: 'user', content: 'hi' },
      { role: 'user', content: [{ type: 'text', text: ' ' }] },
      { role: 'assistant', content: '\n' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'done' },
      { role: 'user', content: 'again' },
    ]);
    expect(out.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'hi' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'f', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'done' }, { type: 'text', text: 'again' }] },
    ]);
  });

  it('trims trailing whitespace of a final assistant turn (a prefill), and only of that one', () => {
    const out = translate([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'Hello. ' },
      { role: 'user', content: 'more' },
      { role: 'assistant', content: ' Sure, \n' },
    ]);
    const msgs = out.messages as Msg[];
    expect(msgs[1]!.content).toEqual([{ type: 'text', text: 'Hello. ' }]);
    expect(msgs.at(-1)).toEqual({ role: 'assistant', content: [{ type: 'text', text: ' Sure,' }] });
  });
});

describe('toAnthropicRequest: sampling options of the wrong type or range are refused', () => {
  const translate = (extra: Record<string, unknown>) => () =>
    toAnthropicRequest({ model: 'alias', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f' } }], ...extra }, 'claude-x', 100, false);

  it.each([
    ['temperature', '0'],
    ['top_p', '0.1'],
    ['top_k', '5'],
    ['parallel_tool_calls', 'false'],
  ])('refuses %s given as a string', (param, value) => {
    expect(refusalOf(translate({ [param]: value }))).toMatchObject({ param, openAICode: 'invalid_type' });
  });

  it.each([
    ['temperature', -1],
    ['temperature', 2.5],
    ['top_p', 1.5],
    ['top_k', -1],
  ])('refuses %s out of range (%p) rather than moving it into range', (param, value) => {
    expect(refusalOf(translate({ [param]: value }))).toMatchObject({ param, openAICode: 'invalid_value' });
  });

  it('caps a temperature from 1 to 2 at 1 and takes null as absent', () => {
    expect(translate({ temperature: 2 })().temperature).toBe(1);
    expect(translate({ temperature: 0 })().temperature).toBe(0);
    const out = translate({ temperature: null, top_p: null, top_k: null, parallel_tool_calls: null })();
    expect(out).not.toHaveProperty('temperature');
    expect(out).not.toHaveProperty('top_p');
    expect(out.tool_choice).toBeUndefined();
  });
});

describe('fromAnthropicMessage', () => {
  it('builds a chat.completion with usage (cache tokens are prompt tokens) and tool calls', () => {
    expect(
      fromAnthropicMessage(
        {
          id: 'msg_1',
          model: 'claude-x',
          content: [{ type: 'text', text: 'Calling.' }, { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } }],
          stop_reason: 'tool_use',
          usage: { input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 7 },
        },
        42,
      ),
    ).toEqual({
      id: 'msg_1',
      object: 'chat.completion',
      created: 42,
      model: 'claude-x',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Calling.', refusal: null, tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
          finish_reason: 'tool_calls',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 15, completion_tokens: 7, total_tokens: 22, prompt_tokens_details: { cached_tokens: 5 } },
    });
  });

  it('reports cache reads as prompt_tokens_details.cached_tokens, all cache tokens still counted as prompt tokens', () => {
    const c = fromAnthropicMessage(
      { id: 'msg_1', model: 'claude-x', content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', usage: { input_tokens: 10, cache_creation_input_tokens: 100, cache_read_input_tokens: 800, output_tokens: 5 } },
      0,
    );
    expect(c.usage).toEqual({ prompt_tokens: 910, completion_tokens: 5, total_tokens: 915, prompt_tokens_details: { cached_tokens: 800 } });
  });

  it('maps stop reasons', () => {
    expect(finishReason('end_turn')).toBe('stop');
    expect(finishReason('max_tokens')).toBe('length');
    expect(finishReason('refusal')).toBe('content_filter');
    expect(finishReason(undefined)).toBe('stop');
  });
});

describe('AnthropicStreamTranslator', () => {
  it('turns a text stream into OpenAI chunks with a final usage chunk', () => {
    const t = new AnthropicStreamTranslator(7);
    const out: ChatChunk[] = [];
    const push = (data: Record<string, unknown>) => out.push(...t.push(undefined, data));
    push({ type: 'message_start', message: { id: 'msg_1', model: 'claude-x', usage: { input_tokens: 12, output_tokens: 1 } } });
    push({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    push({ type: 'ping' });
    push({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } });
    push({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'lo' } });
    push({ type: 'content_block_stop', index: 0 });
    expect(t.finished).toBe(false);
    push({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } });
    push({ type: 'message_stop' });
    expect(t.finished).toBe(true);
    expect(out.map((c) => [c.choices[0]?.delta, c.choices[0]?.finish_reason ?? null, c.usage ?? null])).toEqual([
      [{ role: 'assistant', content: '' }, null, null],
      [{ content: 'Hel' }, null, null],
      [{ content: 'lo' }, null, null],
      [{}, 'stop', null],
      [undefined, null, { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14, prompt_tokens_details: { cached_tokens: 0 } }],
    ]);
    expect(out.every((c) => c.id === 'msg_1' && c.model === 'claude-x' && c.created === 7 && c.object === 'chat.completion.chunk')).toBe(true);
  });

  it('reports cache reads of the stream as prompt_tokens_details.cached_tokens in the final usage chunk', () => {
    const t = new AnthropicStreamTranslator(0);
    t.push(undefined, { type: 'message_start', message: { id: 'm', model: 'c', usage: { input_tokens: 10, cache_creation_input_tokens: 100, cache_read_input_tokens: 800, output_tokens: 1 } } });
    t.push(undefined, { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 5 } });
    const last = t.push(undefined, { type: 'message_stop' }).at(-1)!;
    expect(last.usage).toEqual({ prompt_tokens: 910, completion_tokens: 5, total_tokens: 915, prompt_tokens_details: { cached_tokens: 800 } });
    expect(t.usage).toEqual(last.usage);
  });

  it('streams tool use as tool_calls deltas indexed per tool', () => {
    const t = new AnthropicStreamTranslator(0);
    t.push('message_start', { type: 'message_start', message: { id: 'm', model: 'c', usage: { input_tokens: 1 } } });
    const start = t.push('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_9', name: 'f', input: {} } });
    const delta = t.push('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"a":' } });
    expect(start[0]!.choices[0]!.delta).toEqual({ tool_calls: [{ index: 0, id: 'toolu_9', type: 'function', function: { name: 'f', arguments: '' } }] });
    expect(delta[0]!.choices[0]!.delta).toEqual({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] });
  });

  it('throws the payload of an error event', () => {
    const t = new AnthropicStreamTranslator(0);
    expect(() => t.push('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })).toThrow(
      expect.objectContaining({ type: 'overloaded_error' }) as unknown as Error,
    );
  });
});
