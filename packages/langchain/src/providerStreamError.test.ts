import { providerStreamErrorOf } from './providerStreamError';

/** What the openai SDK throws on an in-stream `data: {"error": ...}` chunk: an APIError without a status, the body as `error`. */
function inStreamError(error: { message: string; type: string; code: string | null }): Error {
  return Object.assign(new Error(error.message), { status: undefined, error, code: error.code, type: error.type });
}

describe('providerStreamErrorOf', () => {
  it("keeps the kind, code and retry hint of an error event the provider sent in its stream", () => {
    expect(providerStreamErrorOf(inStreamError({ message: 'Our servers are currently overloaded.', type: 'service_unavailable_error', code: 'server_is_overloaded' }))).toEqual({
      kind: 'overloaded',
      code: 'server_is_overloaded',
    });
    expect(
      providerStreamErrorOf(inStreamError({ message: 'Rate limit reached for m on requests per min (RPM). Please try again in 2s.', type: 'requests', code: 'rate_limit_exceeded' })),
    ).toEqual({ kind: 'rate_limited', code: 'rate_limit_exceeded', retryAfterMs: 2_000 });
    // Anthropic's `event: error`, as @anthropic-ai/sdk throws it.
    expect(providerStreamErrorOf(Object.assign(new Error('Overloaded'), { error: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } }))).toMatchObject({
      kind: 'overloaded',
    });
  });

  it('is undefined for a transport break, a malformed event or an error nobody can place (the stream stays `network`)', () => {
    expect(providerStreamErrorOf(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBeUndefined();
    expect(providerStreamErrorOf(new SyntaxError('Unexpected token } in JSON at position 12'))).toBeUndefined();
    expect(providerStreamErrorOf(inStreamError({ message: 'The server had an error while processing your request.', type: 'server_error', code: null }))).toBeUndefined();
    expect(providerStreamErrorOf(new Error('boom'))).toBeUndefined();
  });
});
