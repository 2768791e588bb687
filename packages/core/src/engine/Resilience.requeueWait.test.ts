import { http, scripted, setup } from './engineTestKit';

describe('Resilience: queue_wait_ms of a requeued chain whose wait is cut short', () => {
  it('counts only the time the request actually waited when shutdown() ends the requeue wait', async () => {
    const { engine, clock, records } = setup({}, { summary: { chain: ['long'], priority: 'batch', onExhausted: 'queue' } });
    const { fn } = scripted({ long: [http(503), http(503), http(503)] });
    const outcome = engine.execute({ route: 'summary', inputTokens: 10 }, fn).catch((e: unknown) => e);
    await clock.advance(1_000); // chain exhausted: waits (30 s breaker open period) to run again
    const waitStart = clock.now();
    await clock.advance(500);
    await engine.shutdown();
    await outcome;
    const waited = clock.now() - waitStart;
    expect(records).toHaveLength(1);
    // The wait lasted ~500 ms, not the 30 s it was planned for.
    expect(records[0]!.queue_wait_ms).toBeLessThanOrEqual(waited + 1_000);
  });

  it('counts only the time the request actually waited when the caller aborts the requeue wait', async () => {
    const { engine, clock, records } = setup({}, { summary: { chain: ['long'], priority: 'batch', onExhausted: 'queue' } });
    const { fn } = scripted({ long: [http(503), http(503), http(503)] });
    const ac = new AbortController();
    const outcome = engine.execute({ route: 'summary', inputTokens: 10, signal: ac.signal }, fn).catch((e: unknown) => e);
    await clock.advance(1_000);
    await clock.advance(500);
    ac.abort();
    await outcome;
    expect(records).toHaveLength(1);
    expect(records[0]!.queue_wait_ms).toBeLessThanOrEqual(2_000);
  });
});
