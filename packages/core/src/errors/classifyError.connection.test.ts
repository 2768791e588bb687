import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { classifyError } from './classifyError';

describe('an APIConnectionError without a provider error code stays a network failure', () => {
  it.each([
    ['openai, no cause', () => new OpenAI.APIConnectionError({})],
    ['openai, cause ECONNRESET', () => new OpenAI.APIConnectionError({ cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) })],
    ['openai, custom message', () => new OpenAI.APIConnectionError({ message: 'upstream went away' })],
    ['anthropic, no cause', () => new Anthropic.APIConnectionError({})],
    ['anthropic, custom message', () => new Anthropic.APIConnectionError({ message: 'upstream went away' })],
  ])('%s -> network', (_name, make) => {
    expect(classifyError(make()).kind).toBe('network');
  });
  it('service_unavailable_error with a 400 stays invalid_request, with a 500 is overloaded', () => {
    expect(classifyError({ status: 400, error: { type: 'service_unavailable_error' } }).kind).toBe('invalid_request');
    expect(classifyError({ status: 500, error: { type: 'service_unavailable_error' } }).kind).toBe('overloaded');
  });
});
