import { ResilienceError } from '@llm-resilience/core';
import type { AttemptRun } from './attemptRun';
import { AttemptVerdicts } from './AttemptVerdicts';
import { OutputValidationError } from './OutputValidationError';

function fakeRun(): AttemptRun & { ended: unknown[]; failed: unknown[] } {
  const ended: unknown[] = [];
  const failed: unknown[] = [];
  return {
    name: 'attempt:a#1',
    callbacks: undefined as never,
    ended,
    failed,
    end: async (o) => void ended.push(o),
    fail: async (e) => void failed.push(e),
  };
}

const attemptEvent = (attempt: number, outcome: 'success' | 'error' | 'invalid_output', errorKind?: string) => ({
  requestId: 'r',
  route: 'chat',
  attempt: { target: 'a', provider: 'p', model: 'm', attempt, targetAttempt: attempt, startedAt: 0, latencyMs: 1, outcome, waitedMs: 0, ...(errorKind ? { errorKind } : {}) },
});

describe('AttemptVerdicts', () => {
  it("ends a held run on its attempt's success, fails it on the validation event (after its invalid_output record)", async () => {
    const v = new AttemptVerdicts();
    const first = fakeRun();
    v.hold(1, 'a', first, 'reply 1');
    v.onEvent('attempt', attemptEvent(2, 'success')); // another attempt's record: not this run's verdict
    v.onEvent('attempt', attemptEvent(1, 'invalid_output'));
    expect(first.ended.length + first.failed.length).toBe(0);
    v.onEvent('validation', { requestId: 'r', route: 'chat', target: 'a', reason: 'the reply is not valid JSON', action: 'fallback' });
    await v.settle('rejected');
    expect(first.ended).toEqual([]);
    expect(first.failed).toHaveLength(1);
    expect(first.failed[0]).toBeInstanceOf(OutputValidationError);
    expect(first.failed[0]).toMatchObject({ kind: 'validation_failed', target: 'a', reason: 'the reply is not valid JSON' });

    const second = fakeRun();
    v.hold(2, 'a', second, 'reply 2');
    v.onEvent('attempt', attemptEvent(2, 'success'));
    await v.settle('rejected'); // nothing held any more
    expect(second.ended).toEqual(['reply 2']);
    expect(second.failed).toEqual([]);
  });

  it('fails a held run with the kind the engine recorded when it failed the attempt after its reply', async () => {
    const v = new AttemptVerdicts();
    const run = fakeRun();
    v.hold(3, 'a', run, 'reply');
    v.onEvent('attempt', attemptEvent(3, 'error', 'unknown'));
    await v.settle('accepted');
    expect(run.ended).toEqual([]);
    expect(run.failed[0]).toBeInstanceOf(ResilienceError);
    expect(run.failed[0]).toMatchObject({ kind: 'unknown' });
  });

  it('without a verdict, settles a held run from what the engine did next', async () => {
    const accepted = new AttemptVerdicts();
    const ok = fakeRun();
    accepted.hold(1, 'a', ok, 'reply');
    await accepted.settle('accepted');
    expect(ok.ended).toEqual(['reply']);

    const rejected = new AttemptVerdicts();
    const bad = fakeRun();
    rejected.hold(1, 'a', bad, 'reply');
    await rejected.settle('rejected');
    expect(bad.failed[0]).toBeInstanceOf(OutputValidationError);
    expect(bad.failed[0]).toMatchObject({ kind: 'validation_failed' });
  });
});
