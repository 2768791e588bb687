import { ResilienceError, type RequestRecord } from '@llm-resilience/core';
import { InvalidStreamOutputError } from './InvalidStreamOutputError';
import { StreamInterruptedError } from './StreamInterruptedError';

describe('InvalidStreamOutputError', () => {
  const record = { outcome: 'failure' } as RequestRecord;

  it('is a validation failure with its own code, caught where broken streams are caught', () => {
    const cause = new SyntaxError('Unexpected token');
    const e = new InvalidStreamOutputError({ target: 'sum-a', chunksReceived: 3, record, cause, reason: 'the reply is not valid JSON' });
    expect(e).toBeInstanceOf(StreamInterruptedError);
    expect(e).toBeInstanceOf(ResilienceError);
    expect(e).toMatchObject({ name: 'InvalidStreamOutputError', kind: 'validation_failed', code: 'ERR_LLMR_STREAM_INVALID_OUTPUT', target: 'sum-a', chunksReceived: 3, record, cause });
    expect(e.message).toBe(
      "The reply streamed from 'sum-a' was rejected after 3 chunk(s): the reply is not valid JSON. No fallback is possible once output has reached the caller: " +
        'retry the whole request, or use invoke() where an invalid reply can still fall back.',
    );
  });

  it('may have no cause (a reply whose tool calls were cut off ended whole)', () => {
    const e = new InvalidStreamOutputError({ target: 'sum-a', chunksReceived: 5, record, reason: "the reply's tool call arguments are not valid JSON" });
    expect(e).toMatchObject({ kind: 'validation_failed', code: 'ERR_LLMR_STREAM_INVALID_OUTPUT', reason: "the reply's tool call arguments are not valid JSON" });
    expect('cause' in e).toBe(false);
  });
});
