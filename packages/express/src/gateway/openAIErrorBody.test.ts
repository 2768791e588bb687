import { openAIErrorBody, openAITypeOf } from './openAIErrorBody';

describe('openAIErrorBody', () => {
  it('has the OpenAI shape', () => {
    expect(openAIErrorBody('m', 'invalid_request_error', 'model_not_found', 'model')).toEqual({
      error: { message: 'm', type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
    });
  });

  it('types errors the way OpenAI clients expect', () => {
    expect(openAITypeOf('context_length')).toBe('invalid_request_error');
    expect(openAITypeOf('rate_limited')).toBe('rate_limit_error');
    expect(openAITypeOf('overloaded')).toBe('server_error');
  });
});
