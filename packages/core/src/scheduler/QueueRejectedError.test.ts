import { ResilienceError } from '../errors/ResilienceError';
import { QUEUE_REJECT_REASONS, QueueRejectedError } from './QueueRejectedError';

describe('QueueRejectedError', () => {
  it('is a ResilienceError with a stable code; aborted is cancelled, the rest rate_limited', () => {
    for (const reason of QUEUE_REJECT_REASONS) {
      const e = new QueueRejectedError({ reason, trafficClass: 'batch', waitedMs: 1_200 });
      expect(e).toBeInstanceOf(ResilienceError);
      expect(e.name).toBe('QueueRejectedError');
      expect(e.code).toBe('ERR_LLMR_QUEUE_REJECTED');
      expect(e.kind).toBe(reason === 'aborted' ? 'cancelled' : 'rate_limited');
      expect(e.reason).toBe(reason);
      expect(e.trafficClass).toBe('batch');
      expect(e.waitedMs).toBe(1_200);
      expect(e.message).toContain('"batch"');
    }
  });

  it('says what happened and what to do', () => {
    const full = new QueueRejectedError({ reason: 'queue-full', trafficClass: 'batch', waitedMs: 0, maxQueue: 10_000 });
    expect(full.message).toBe(
      'The queue of traffic class "batch" is full (maxQueue 10000), so the work was not queued. ' +
        'Retry later, slow down the producer, or raise maxQueue for the class.',
    );
    const early = new QueueRejectedError({
      reason: 'deadline',
      trafficClass: 'live',
      waitedMs: 0,
      retryAfterMs: 3_000,
      limitReason: 'user:requests:60000',
      early: true,
    });
    expect(early.message).toBe(
      'Work in traffic class "live" was rejected after 0 ms: the earliest possible admission is after its deadline ' +
        '(limiter: user:requests:60000). It could pass in 3.0 s. Give the request a later deadline, fall back to another target, or reduce load.',
    );
    expect(early.retryAfterMs).toBe(3_000);
    expect(early.limitReason).toBe('user:requests:60000');
    const wait = new QueueRejectedError({ reason: 'max-wait', trafficClass: 'batch', waitedMs: 600_000, maxWaitMs: 600_000 });
    expect(wait.message).toContain("waited the class's maxWait of 10 min without getting capacity");
  });

  it('keeps the abort reason as cause', () => {
    const reason = new Error('client went away');
    const e = new QueueRejectedError({ reason: 'aborted', trafficClass: 'live', waitedMs: 5, cause: reason });
    expect(e.cause).toBe(reason);
  });
});
