import { openAIErrorBody, openAITypeForStatus, openAITypeOf } from './openAIErrorBody';

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

  it('makes the type agree with the status actually sent', () => {
    expect(openAITypeForStatus('rate_limited', 429)).toBe('rate_limit_error');
    expect(openAITypeForStatus('rate_limited', 503)).toBe('server_error');
    expect(openAITypeForStatus('rate_limited', 413)).toBe('invalid_request_error');
    expect(openAITypeForStatus('overloaded', 503)).toBe('server_error');
    expect(openAITypeForStatus('invalid_request', 400)).toBe('invalid_request_error');
    expect(openAITypeForStatus('policy_rejected', 422)).toBe('invalid_request_error');
    expect(openAITypeForStatus('cancelled', 499)).toBe('request_cancelled');
  });
});
