import { MemoryLimiterStore } from '../limits/MemoryLimiterStore';
import type { LimiterStore } from '../limits/LimiterStore';
import { http, ok, setup } from './engineTestKit';
import { ManualClock } from '../clock';

/**
 * An engine whose target `a` opens after one failure for 1 s, with a concurrency limit on a store
 * whose `adjust` rejects while `failProbeWhileStoreIsDown` runs a failing call.
 */
function probeSetup() {
  const mem = new MemoryLimiterStore({ clock: new ManualClock(1_000_000) });
  let rejectAdjust = false;
  const store: LimiterStore = {
    reserve: (c) => mem.reserve(c),
    adjust: (a) => (rejectAdjust ? Promise.reject(new Error('store down')) : mem.adjust(a)),
  };
  const { engine, clock } = setup(
    {
      breaker: { consecutiveFailures: 1, openFor: '1s', halfOpenProbes: 1, rampUp: 0 },
      limits: [{ id: 'slot', scope: ['model'], metric: 'concurrency', limit: 10 }],
    },
    { chat: { chain: ['a'], retry: { maxAttempts: 1 }, timeout: '60s' } },
    { store },
  );
  const failProbeWhileStoreIsDown = async (): Promise<void> => {
    rejectAdjust = true;
    await engine.execute({ route: 'chat', inputTokens: 10 }, async () => Promise.reject(http(503))).catch(() => undefined);
    rejectAdjust = false;
  };
  return { engine, clock, failProbeWhileStoreIsDown };
}

/*
 * A failed attempt must reach the breaker even when giving back its target-scoped reservation fails
 * (a store blip): otherwise a half-open probe slot is never freed and the breaker never recovers.
 */
describe('Resilience: the breaker verdict when the limiter store fails to take a reservation back', () => {
  it('a failed half-open probe reopens the breaker even when releasing its reservation rejects', async () => {
    const { engine, clock, failProbeWhileStoreIsDown } = probeSetup();
    const req = { route: 'chat', inputTokens: 10 };
    const state = () => engine.breakers.target('a').state;

    await engine.execute(req, async () => Promise.reject(http(503))).catch(() => undefined);
    expect(state().state).toBe('open');
    await clock.advance(1_100);

    // The probe fails with a 503 while the store cannot take the slot back.
    await failProbeWhileStoreIsDown();
    // The probe's verdict must be applied: a failed probe reopens the breaker.
    expect(state()).toMatchObject({ state: 'open', reason: 'probe_failed' });
  });

  it('the breaker recovers later instead of staying half-open-busy forever', async () => {
    const { engine, clock, failProbeWhileStoreIsDown } = probeSetup();
    const req = { route: 'chat', inputTokens: 10 };
    await engine.execute(req, async () => Promise.reject(http(503))).catch(() => undefined);
    await clock.advance(1_100);
    await failProbeWhileStoreIsDown();

    // Long after any open period (capped at 8 x openFor), a healthy target must be probed and close.
    await clock.advance(60_000);
    const calls: string[] = [];
    const r = await engine
      .execute(req, async (t) => {
        calls.push(t.id);
        return ok();
      })
      .catch((e: unknown) => e);
    expect(calls).toEqual(['a']);
    expect(engine.breakers.target('a').state.state).toBe('closed');
    expect(r).not.toBeInstanceOf(Error);
  });

  it('logs the failed give-back and goes on to the fallback, which answers', async () => {
    const mem = new MemoryLimiterStore({ clock: new ManualClock(1_000_000) });
    const store: LimiterStore = {
      reserve: (c) => mem.reserve(c),
      adjust: (a) => (a.some((x) => x.delta < 0) ? Promise.reject(new Error('store down')) : mem.adjust(a)),
    };
    const logged: string[] = [];
    const { engine } = setup(
      { limits: [{ id: 'slot', scope: ['model'], metric: 'concurrency', limit: 10 }] },
      { chat: { chain: ['a', 'b'], retry: { perKind: { overloaded: 0 } } } },
      { store, logger: { error: (m) => logged.push(m) } },
    );
    const res = await engine.execute({ route: 'chat', inputTokens: 10 }, async (t) => (t.id === 'a' ? Promise.reject(http(503)) : ok()));
    // b answered: the request succeeds though the store failed to take its slot back too (logged).
    expect(res.record).toMatchObject({ outcome: 'success', final_target: 'b' });
    expect(logged).toEqual(["giving back a failed attempt's reservation failed", 'settling a request failed']);
  });
});
