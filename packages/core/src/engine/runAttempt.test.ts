import { ManualClock, systemClock } from '../clock';
import { attemptTimers } from './AttemptTimers';
import { AttemptContextImpl, AttemptTimeoutError, runAttempt } from './runAttempt';

/** A promise that never settles on its own (the call ignores its signal). */
const never = <T>() => new Promise<T>(() => undefined);

describe('runAttempt', () => {
  describe('with an injected clock', () => {
    it('resolves with the value of the call', async () => {
      const clock = new ManualClock(0);
      await expect(runAttempt(async () => 42, 1000, undefined, clock)).resolves.toBe(42);
      expect(clock.pending).toBe(0); // the timeout sleep was cancelled
    });

    it('rejects with the error of the call', async () => {
      const clock = new ManualClock(0);
      const boom = new Error('boom');
      await expect(runAttempt(async () => Promise.reject(boom), 1000, undefined, clock)).rejects.toBe(boom);
      expect(clock.pending).toBe(0);
    });

    it('rejects when invoke throws synchronously', async () => {
      const clock = new ManualClock(0);
      const boom = new Error('sync');
      await expect(
        runAttempt(
          () => {
            throw boom;
          },
          1000,
          undefined,
          clock,
        ),
      ).rejects.toBe(boom);
    });

    it('times out a call that ignores its signal and aborts the signal it read', async () => {
      const clock = new ManualClock(0);
      let read: AbortSignal | undefined;
      const p = runAttempt((signal) => {
        read = signal();
        return never<number>();
      }, 500, undefined, clock);
      const settled = expect(p).rejects.toBeInstanceOf(AttemptTimeoutError);
      expect(read?.aborted).toBe(false);
      await clock.advance(500);
      await settled;
      expect(read?.aborted).toBe(true);
      expect(read?.reason).toBeInstanceOf(AttemptTimeoutError);
      expect((read?.reason as AttemptTimeoutError).timeoutMs).toBe(500);
    });

    it('leaves the call that was still running when cut off in holder.unfinished, and nothing when the call settled first', async () => {
      const clock = new ManualClock(0);
      const call = never<number>();
      const timedOut = { unfinished: undefined as Promise<unknown> | undefined };
      const p = runAttempt(() => call, 100, undefined, clock, undefined, timedOut);
      const settled = expect(p).rejects.toBeInstanceOf(AttemptTimeoutError);
      await clock.advance(100);
      await settled;
      expect(timedOut.unfinished).toBe(call);

      const parent = new AbortController();
      const aborted = { unfinished: undefined as Promise<unknown> | undefined };
      const q = runAttempt(() => call, 100, parent.signal, clock, undefined, aborted);
      parent.abort(new Error('caller left'));
      await expect(q).rejects.toThrow('caller left');
      expect(aborted.unfinished).toBe(call);

      const answered = { unfinished: undefined as Promise<unknown> | undefined };
      await expect(runAttempt(async () => 1, 100, undefined, clock, undefined, answered)).resolves.toBe(1);
      const failed = { unfinished: undefined as Promise<unknown> | undefined };
      await expect(runAttempt(async () => Promise.reject(new Error('no')), 100, undefined, clock, undefined, failed)).rejects.toThrow('no');
      expect([answered.unfinished, failed.unfinished]).toEqual([undefined, undefined]);
    });

    it('hands out an already aborted signal when it is first read after the timeout', async () => {
      const clock = new ManualClock(0);
      let getSignal: (() => AbortSignal) | undefined;
      const p = runAttempt((signal) => {
        getSignal = signal;
        return never<number>();
      }, 100, undefined, clock);
      const settled = expect(p).rejects.toBeInstanceOf(AttemptTimeoutError);
      await clock.advance(100);
      await settled;
      const late = getSignal!();
      expect(late.aborted).toBe(true);
      expect(late.reason).toBeInstanceOf(AttemptTimeoutError);
      expect(getSignal!()).toBe(late); // one signal per attempt
    });

    it('follows the caller signal, with its reason', async () => {
      const clock = new ManualClock(0);
      const parent = new AbortController();
      let read: AbortSignal | undefined;
      const p = runAttempt((signal) => {
        read = signal();
        return never<number>();
      }, 1000, parent.signal, clock);
      const reason = new Error('user left');
      parent.abort(reason);
      await expect(p).rejects.toBe(reason);
      expect(read?.reason).toBe(reason);
      expect(clock.pending).toBe(0);
    });

    it('rejects at once, without calling, when the caller signal is already aborted', async () => {
      const clock = new ManualClock(0);
      const parent = new AbortController();
      const reason = new Error('gone');
      parent.abort(reason);
      const invoke = jest.fn(async () => 1);
      await expect(runAttempt(invoke, 1000, parent.signal, clock)).rejects.toBe(reason);
      expect(invoke).not.toHaveBeenCalled();
    });

    it('runs without a timer when the timeout is infinite', async () => {
      const clock = new ManualClock(0);
      let resolve: (v: string) => void = () => undefined;
      const p = runAttempt(() => new Promise<string>((r) => (resolve = r)), Infinity, undefined, clock);
      expect(clock.pending).toBe(0);
      resolve('late');
      await expect(p).resolves.toBe('late');
    });
  });

  describe('with the system clock', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('cancels its timeout once the call settles', async () => {
      const p = runAttempt(async () => 'ok', 60_000, undefined, systemClock);
      expect(attemptTimers.pending).toBe(1);
      await expect(p).resolves.toBe('ok');
      expect(attemptTimers.pending).toBe(0);
      jest.advanceTimersByTime(60_000); // nothing left to fire
      expect(attemptTimers.pending).toBe(0);
    });

    it('times out after timeoutMs and aborts the attempt signal', async () => {
      let read: AbortSignal | undefined;
      const p = runAttempt((signal) => {
        read = signal();
        return never<number>();
      }, 2_000, undefined, systemClock);
      const settled = expect(p).rejects.toBeInstanceOf(AttemptTimeoutError);
      jest.advanceTimersByTime(1_999);
      expect(read?.aborted).toBe(false);
      jest.advanceTimersByTime(1);
      await settled;
      expect(read?.aborted).toBe(true);
    });

    it('with no time left, times out a call that is still pending after the current microtasks', async () => {
      await expect(runAttempt(() => never<number>(), 0, undefined, systemClock)).rejects.toBeInstanceOf(AttemptTimeoutError);
    });
  });
});

describe('AttemptContextImpl', () => {
  it('has deadline and repair only when set', () => {
    const bare = new AttemptContextImpl(1, 1, 'req_1', 'chat', undefined, 300, undefined);
    expect('deadline' in bare).toBe(false);
    expect('repair' in bare).toBe(false);
    const full = new AttemptContextImpl(2, 1, 'req_1', 'chat', 5_000, 300, { reason: 'not JSON' });
    expect(full).toMatchObject({ attempt: 2, targetAttempt: 1, requestId: 'req_1', route: 'chat', deadline: 5_000, maxOutputTokens: 300 });
    expect(full.repair).toEqual({ reason: 'not JSON' });
  });

  it('keeps what the call reports, even through detached functions', () => {
    const ctx = new AttemptContextImpl(1, 1, 'req_1', 'chat', undefined, 300, undefined);
    const { reportHeaders, reportUsage } = ctx;
    reportHeaders({ 'x-ratelimit-remaining-requests': '9' });
    reportUsage({ inputTokens: 12, outputTokens: 3 });
    expect(ctx.reportedHeaders).toEqual({ 'x-ratelimit-remaining-requests': '9' });
    expect(ctx.reportedUsage).toEqual({ inputTokens: 12, outputTokens: 3 });
  });

  it('hands out the running attempt\'s signal', async () => {
    const clock = new ManualClock(0);
    const ctx = new AttemptContextImpl(1, 1, 'req_1', 'chat', undefined, 300, undefined);
    expect(() => ctx.signal).toThrow(/not started/);
    let seen: AbortSignal | undefined;
    await runAttempt((signal) => {
      ctx.signalOf = signal;
      seen = ctx.signal;
      return Promise.resolve('ok');
    }, 1000, undefined, clock);
    expect(seen).toBeInstanceOf(AbortSignal);
    expect(ctx.signal).toBe(seen);
    expect(seen?.aborted).toBe(false);
  });
});
