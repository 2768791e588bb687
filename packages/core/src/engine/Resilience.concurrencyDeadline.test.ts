import { QueueRejectedError } from '../scheduler/QueueRejectedError';
import { drive, ok, setup } from './engineTestKit';

describe('admission of request-scoped concurrency near a deadline', () => {
  // A taken slot's 250 ms wait is only when to look again (the slot frees when a call ends, which
  // notify() reports): a request with less time left is not rejected early on it.
  it('admits a live request whose deadline is 200 ms away when the slot frees after 50 ms', async () => {
    const { engine, clock } = setup({ limits: [{ id: 'chat-inflight', scope: ['route'], metric: 'concurrency', limit: 1 }] }, { chat: { chain: ['a'] } });
    let answer!: (v: unknown) => void;
    const first = engine.execute({ route: 'chat', inputTokens: 10 }, () => new Promise((r) => (answer = r)));
    await clock.advance(0);
    const second = engine
      .execute({ route: 'chat', inputTokens: 10, deadline: clock.now() + 200 }, async () => ok('second'))
      .catch((e: unknown) => e);
    await clock.advance(50);
    answer(ok('first'));
    await drive(clock, first);
    const r = await drive(clock, second);
    expect(r).not.toBeInstanceOf(QueueRejectedError);
    expect(r).toMatchObject({ value: ok('second') });
  });
});
