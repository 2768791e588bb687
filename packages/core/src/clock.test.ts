import { systemClock } from './clock';

describe('systemClock.sleep', () => {
  afterEach(() => jest.useRealTimers());

  it('waits the whole of a sleep longer than setTimeout takes (24.8 days), instead of 1 ms', async () => {
    jest.useFakeTimers({ now: 0 });
    let done = false;
    const month = 30 * 24 * 3_600_000;
    void systemClock.sleep(month).then(() => (done = true));
    await jest.advanceTimersByTimeAsync(2_147_483_647);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(month - 2_147_483_647 - 1);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it('sleeps forever on Infinity, until its signal aborts', async () => {
    jest.useFakeTimers({ now: 0 });
    const ac = new AbortController();
    let outcome = 'pending';
    void systemClock.sleep(Infinity, ac.signal).then(
      () => (outcome = 'resolved'),
      (e: unknown) => (outcome = `rejected: ${(e as Error).name}`),
    );
    await jest.advanceTimersByTimeAsync(3 * 2_147_483_647);
    expect(outcome).toBe('pending');
    ac.abort();
    await Promise.resolve();
    await Promise.resolve();
    expect(outcome).toBe('rejected: AbortError');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('resolves at once for 0, a negative or NaN wait, and rejects at once when already aborted', async () => {
    await expect(systemClock.sleep(0)).resolves.toBeUndefined();
    await expect(systemClock.sleep(-5)).resolves.toBeUndefined();
    await expect(systemClock.sleep(NaN)).resolves.toBeUndefined();
    await expect(systemClock.sleep(10, AbortSignal.abort(new Error('stop')))).rejects.toThrow('stop');
  });
});
