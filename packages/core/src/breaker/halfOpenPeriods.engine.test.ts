import { ChainExhaustedError } from '../errors/ChainExhaustedError';
import { http, ok, setup } from '../engine/engineTestKit';

/** A promise settled from outside: a model call kept in flight until the test ends it. */
function gate() {
  let resolve!: (v: unknown) => void;
  let reject!: (e: unknown) => void;
  const p = new Promise<unknown>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { p, resolve, reject };
}

/**
 * The engine hands each attempt's breaker admission back with its outcome: a half-open probe is
 * accounted in the half-open period that admitted it, never in a later one.
 */
describe('half-open probe periods through the engine', () => {
  it('a probe of an earlier half-open period ending late frees no slot of the next period and counts toward no recovery', async () => {
    const { engine, clock } = setup(
      { breaker: { consecutiveFailures: 1, openFor: '1s', halfOpenProbes: 2, rampUp: 0 } },
      { chat: { chain: ['a'], retry: { maxAttempts: 1 }, timeout: '60s' } },
    );
    const req = { route: 'chat', inputTokens: 10 };
    const state = () => engine.breakers.target('a').state;
    const run = (g: ReturnType<typeof gate>) => {
      const p = engine.execute(req, () => g.p);
      p.catch(() => undefined);
      return p;
    };

    await engine.execute(req, async () => Promise.reject(http(503))).catch(() => undefined);
    expect(state().state).toBe('open');
    await clock.advance(1_100);

    // Period 1: probes P1 and P2; P1 fails and reopens the breaker (for 2 s) while P2 is in flight.
    const g1 = gate();
    const g2 = gate();
    const p1 = run(g1);
    const p2 = run(g2);
    await clock.advance(0);
    expect(state()).toEqual({ state: 'half-open', probesInFlight: 2, probeSuccesses: 0 });
    g1.reject(http(503));
    await p1.catch(() => undefined);
    expect(state()).toMatchObject({ state: 'open', reason: 'probe_failed' });

    // Period 2: probe P3; then P2 of period 1 succeeds.
    await clock.advance(2_100);
    const g3 = gate();
    const p3 = run(g3);
    await clock.advance(0);
    expect(state()).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 0 });
    g2.resolve(ok());
    await p2;
    expect(state()).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 0 });

    // At most halfOpenProbes (2) probes at once: P3 and P4; a fifth call is refused and has no fallback.
    const g4 = gate();
    const p4 = run(g4);
    await clock.advance(0);
    expect(state()).toEqual({ state: 'half-open', probesInFlight: 2, probeSuccesses: 0 });
    let called = false;
    const refused = await engine
      .execute(req, async () => {
        called = true;
        return ok();
      })
      .catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(refused).toBeInstanceOf(ChainExhaustedError);
    expect((refused as ChainExhaustedError).record.skipped).toEqual([
      expect.objectContaining({ target: 'a', reason: 'breaker_open', detail: 'half-open-busy' }),
    ]);

    // The recovery is decided by the period's own probes.
    g3.resolve(ok());
    await p3;
    expect(state()).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 1 });
    g4.resolve(ok());
    await p4;
    expect(state()).toEqual({ state: 'closed' });
  });
});
