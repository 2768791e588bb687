import { ManualClock } from '../clock';
import { Limiter } from '../limits/Limiter';
import { MemoryLimiterStore } from '../limits/MemoryLimiterStore';
import { holdsSlot, TargetWaiters } from './TargetWaiters';

/** 'pending', 'resolved' or 'rejected' once the microtasks queued so far have run. */
async function stateOf(p: Promise<unknown>): Promise<string> {
  let state = 'pending';
  p.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  await new Promise((r) => setImmediate(r));
  return state;
}

const gpt = { provider: 'openai', model: 'gpt-4o' };
const mini = { provider: 'openai', model: 'gpt-4o-mini' };
const claude = { provider: 'anthropic', model: 'claude' };

describe('TargetWaiters', () => {
  it('wakes the oldest waiter with the same provider or model, one per release, before its poll is due', async () => {
    const clock = new ManualClock(0);
    const waiters = new TargetWaiters(clock);
    const first = waiters.wait(gpt, 250);
    const other = waiters.wait(claude, 250);
    const second = waiters.wait(mini, 250);
    expect(waiters.size).toBe(3);

    waiters.released(gpt);
    expect(await stateOf(first)).toBe('resolved');
    expect(await stateOf(second)).toBe('pending'); // one release frees one slot

    waiters.released({ provider: 'openai', model: 'another' }); // same provider: the mini waiter
    expect(await stateOf(second)).toBe('resolved');
    expect(await stateOf(other)).toBe('pending');
    expect(clock.now()).toBe(0);

    waiters.released(gpt); // nobody waits on openai any more: the anthropic waiter keeps waiting
    expect(await stateOf(other)).toBe('pending');
    await clock.advance(250);
    expect(await stateOf(other)).toBe('resolved');
    expect(waiters.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("rejects with the caller's abort reason, whether the signal aborts before or during the wait", async () => {
    const waiters = new TargetWaiters(new ManualClock(0));
    const ac = new AbortController();
    const waiting = waiters.wait(gpt, 1_000, ac.signal);
    const reason = new Error('caller gone');
    ac.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(waiters.wait(gpt, 1_000, ac.signal)).rejects.toBe(reason);
    expect(waiters.size).toBe(0);
  });

  it('holdsSlot: only a reservation with an in-flight concurrency rule gives a slot back', async () => {
    const clock = new ManualClock(0);
    const limiter = new Limiter(
      [
        { id: 'slots', scope: ['model'], metric: 'concurrency', limit: 2, windowMs: 0 },
        { id: 'tpm', scope: ['provider'], metric: 'totalTokens', limit: 1_000, windowMs: 60_000 },
        { id: 'daily-calls', scope: ['provider'], metric: 'requests', limit: 100, windowMs: 86_400_000, fixedWindow: true },
      ],
      new MemoryLimiterStore({ clock }),
      { clock },
    );
    const estimate = { inputTokens: 10, outputTokens: 10, costUsd: 0 };
    const withSlot = await limiter.reserve({ provider: 'openai', model: 'gpt-4o' }, estimate, 'target');
    const withoutSlot = await limiter.reserve({ provider: 'openai' }, estimate, 'target'); // no model: the slots rule does not apply
    if (!withSlot.ok || !withoutSlot.ok) throw new Error('both reservations should pass');
    expect(holdsSlot(withSlot)).toBe(true);
    expect(holdsSlot(withoutSlot)).toBe(false);
  });
});
