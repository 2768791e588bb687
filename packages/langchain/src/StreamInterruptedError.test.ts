import { classifyError, ResilienceError, type RequestRecord } from '@llm-resilience/core';
import { StreamInterruptedError } from './StreamInterruptedError';

describe('StreamInterruptedError', () => {
  const record = { outcome: 'failure' } as RequestRecord;

  it('is a network failure when the stream broke without a word from the provider', () => {
    const e = new StreamInterruptedError({ target: 'sum-a', chunksReceived: 2, record, cause: new Error('socket hang up') });
    expect(e).toBeInstanceOf(ResilienceError);
    expect(e).toMatchObject({ name: 'StreamInterruptedError', kind: 'network', code: 'ERR_LLMR_STREAM_INTERRUPTED', target: 'sum-a', chunksReceived: 2 });
    expect(e.retryAfterMs).toBeUndefined();
    expect(e.providerCode).toBeUndefined();
    expect(e.message).toBe(
      "The stream from 'sum-a' broke after 2 chunk(s); no fallback is possible once output has reached the caller. Retry the whole request, or use invoke() where a break can still fall back.",
    );
  });

  it("takes the kind, code and retry hint of the provider's own error event", () => {
    const cause = new Error('Rate limit reached');
    const e = new StreamInterruptedError({ target: 'sum-a', chunksReceived: 3, record, cause, provider: { kind: 'rate_limited', code: 'rate_limit_exceeded', retryAfterMs: 1_500 } });
    expect(e).toMatchObject({ kind: 'rate_limited', code: 'ERR_LLMR_STREAM_INTERRUPTED', providerCode: 'rate_limit_exceeded', retryAfterMs: 1_500, cause });
    expect(e.message).toBe(
      "The stream from 'sum-a' broke after 3 chunk(s): the provider ended it with an error (rate_limited, rate_limit_exceeded); no fallback is possible once output has reached " +
        'the caller. Retry the whole request after 2 s, or use invoke() where a break can still fall back.',
    );
    // classifyError (the engine's) keeps its kind and retry hint.
    expect(classifyError(e)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 1_500 });
  });
});
