import { anthropicOutputConfig, anthropicSampling, anthropicStopSequences, anthropicToolChoice, anthropicTools, assertAnthropicOptions, ANTHROPIC_IGNORED_OPTIONS } from './anthropicOptions';
import type { ChatRequestBody } from './chatTypes';
import type { ChatRequestError } from './ChatRequestError';
import { refusalOf } from './refusalOf';

const base: ChatRequestBody = { model: 'support', messages: [{ role: 'user', content: 'hi' }] };

const refusal = (run: () => unknown): ChatRequestError => refusalOf(run);

describe('assertAnthropicOptions', () => {
  it('refuses options that would change the reply if ignored, naming them', () => {
    const cases: Array<[string, unknown]> = [
      ['n', 2],
      ['logprobs', true],
      ['top_logprobs', 3],
      ['logit_bias', { '50256': -100 }],
      ['audio', { voice: 'alloy', format: 'wav' }],
      ['modalities', ['text', 'audio']],
      ['functions', [{ name: 'f' }]],
      ['function_call', 'auto'],
      ['web_search_options', {}],
      ['moderation', {}],
      ['some_future_option', 1],
    ];
    for (const [param, value] of cases) {
      expect(refusal(() => assertAnthropicOptions({ ...base, [param]: value }))).toMatchObject({ param, openAICode: 'unsupported_parameter' });
    }
    expect(refusal(() => assertAnthropicOptions({ ...base, n: 2 })).message).toBe("Unsupported parameter: 'n' is not supported with model `support`. Only one choice (n: 1) is supported.");
  });

  it('accepts the same options at values that ask for nothing, and the ignored ones', () => {
    expect(() =>
      assertAnthropicOptions({ ...base, n: 1, logprobs: false, top_logprobs: null, logit_bias: {}, audio: null, modalities: ['text'], some_future_option: null }),
    ).not.toThrow();
    const ignored = Object.fromEntries(ANTHROPIC_IGNORED_OPTIONS.map((k) => [k, 1]));
    expect(() => assertAnthropicOptions({ ...base, ...ignored, seed: 7, presence_penalty: 0.5, frequency_penalty: 0.5 })).not.toThrow();
  });
});

describe('anthropicOutputConfig', () => {
  it('maps JSON schemas, passes text and refuses JSON mode without a schema', () => {
    expect(anthropicOutputConfig({ type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' } } }, 'support')).toEqual({
      format: { type: 'json_schema', schema: { type: 'object' } },
    });
    expect(anthropicOutputConfig({ type: 'text' }, 'support')).toBeUndefined();
    expect(anthropicOutputConfig(undefined, 'support')).toBeUndefined();
    expect(refusal(() => anthropicOutputConfig({ type: 'json_object' }, 'support'))).toMatchObject({ param: 'response_format', openAICode: 'unsupported_value' });
    expect(refusal(() => anthropicOutputConfig({ type: 'json_schema' }, 'support'))).toMatchObject({ param: 'response_format.json_schema' });
  });
});

describe('anthropicToolChoice', () => {
  it('maps choices and parallel_tool_calls: false', () => {
    expect(anthropicToolChoice('auto', undefined, true, 'm')).toEqual({ type: 'auto' });
    expect(anthropicToolChoice('required', false, true, 'm')).toEqual({ type: 'any', disable_parallel_tool_use: true });
    expect(anthropicToolChoice(undefined, false, true, 'm')).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(anthropicToolChoice('none', false, true, 'm')).toEqual({ type: 'none' });
    expect(anthropicToolChoice(undefined, false, false, 'm')).toBeUndefined();
    expect(anthropicToolChoice({ type: 'function', function: { name: 'f' } }, true, true, 'm')).toEqual({ type: 'tool', name: 'f' });
  });

  it('refuses a parallel_tool_calls that is not a boolean, with or without tools', () => {
    expect(refusal(() => anthropicToolChoice(undefined, 'false', true, 'm'))).toMatchObject({ param: 'parallel_tool_calls', openAICode: 'invalid_type' });
    expect(refusal(() => anthropicToolChoice('auto', 0, false, 'm'))).toMatchObject({ param: 'parallel_tool_calls', openAICode: 'invalid_type' });
    expect(anthropicToolChoice('auto', null, true, 'm')).toEqual({ type: 'auto' });
  });

  it('refuses allowed-tools and custom choices', () => {
    expect(refusal(() => anthropicToolChoice({ type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } }, undefined, true, 'm'))).toMatchObject({ param: 'tool_choice' });
    expect(refusal(() => anthropicToolChoice({ type: 'custom', custom: { name: 'x' } }, undefined, true, 'm'))).toMatchObject({ param: 'tool_choice' });
  });
});

describe('anthropicSampling', () => {
  it('maps temperature (capped at 1), top_p and top_k, null as absent', () => {
    expect(anthropicSampling({ ...base, temperature: 1.5, top_p: 0.9, top_k: 5 })).toEqual({ temperature: 1, top_p: 0.9, top_k: 5 });
    expect(anthropicSampling({ ...base, temperature: 0, top_p: 0, top_k: 0 })).toEqual({ temperature: 0, top_p: 0, top_k: 0 });
    expect(anthropicSampling({ ...base, temperature: null, top_p: null, top_k: null })).toEqual({});
  });

  it('refuses values of the wrong type or out of range, naming the option', () => {
    const temperature = refusal(() => anthropicSampling({ ...base, temperature: '0' }));
    expect(temperature).toMatchObject({ param: 'temperature', openAICode: 'invalid_type' });
    expect(temperature.message).toBe("Invalid type for 'temperature': expected a number, but got a string instead.");
    const negative = refusal(() => anthropicSampling({ ...base, temperature: -0.5 }));
    expect(negative).toMatchObject({ param: 'temperature', openAICode: 'invalid_value' });
    expect(negative.message).toBe("Invalid value for 'temperature': expected a number from 0 to 2, but got -0.5 instead.");
    expect(refusal(() => anthropicSampling({ ...base, temperature: 3 }))).toMatchObject({ param: 'temperature', openAICode: 'invalid_value' });
    expect(refusal(() => anthropicSampling({ ...base, top_p: true }))).toMatchObject({ param: 'top_p', openAICode: 'invalid_type' });
    expect(refusal(() => anthropicSampling({ ...base, top_p: -0.1 }))).toMatchObject({ param: 'top_p', openAICode: 'invalid_value' });
    expect(refusal(() => anthropicSampling({ ...base, top_k: 2.5 }))).toMatchObject({ param: 'top_k', openAICode: 'invalid_type' });
    expect(refusal(() => anthropicSampling({ ...base, top_k: -1 }))).toMatchObject({ param: 'top_k', openAICode: 'invalid_value' });
  });
});

describe('anthropicTools and anthropicStopSequences', () => {
  it('maps function tools and refuses custom ones', () => {
    expect(anthropicTools([{ type: 'function', function: { name: 'f', description: 'd', strict: true } }], 'm')).toEqual([
      { name: 'f', description: 'd', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(refusal(() => anthropicTools([{ type: 'function', function: { name: 'f' } }, { type: 'custom', custom: { name: 'g' } }], 'm'))).toMatchObject({ param: 'tools[1]' });
  });

  it('gives an input_schema without a type the type "object" Anthropic requires, and refuses parameters that are not an object', () => {
    expect(anthropicTools([{ type: 'function', function: { name: 'now', parameters: {} } }], 'm')).toEqual([{ name: 'now', input_schema: { type: 'object' } }]);
    const props = { city: { type: 'string' } };
    expect(anthropicTools([{ type: 'function', function: { name: 'w', parameters: { properties: props, required: ['city'] } } }], 'm')).toEqual([
      { name: 'w', input_schema: { type: 'object', properties: props, required: ['city'] } },
    ]);
    expect(anthropicTools([{ type: 'function', function: { name: 'w', parameters: { type: 'object', properties: props } } }], 'm')).toEqual([
      { name: 'w', input_schema: { type: 'object', properties: props } },
    ]);
    expect(refusal(() => anthropicTools([{ type: 'function', function: { name: 'w', parameters: 'x' } }], 'm'))).toMatchObject({
      param: 'tools[0].function.parameters',
      openAICode: 'invalid_type',
    });
  });

  it('maps stop and refuses non-string sequences', () => {
    expect(anthropicStopSequences(['a', 'b'])).toEqual(['a', 'b']);
    expect(refusal(() => anthropicStopSequences(['a', 3]))).toMatchObject({ param: 'stop[1]', openAICode: 'invalid_type' });
  });
});
