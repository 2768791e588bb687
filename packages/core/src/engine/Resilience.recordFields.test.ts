import { Registry } from 'prom-client';
import { z } from 'zod';
import { ChainExhaustedError } from '../errors/ChainExhaustedError';
import { PrometheusMetrics } from '../observability/PrometheusMetrics';
import { drive, http, ok, scripted, setup } from './engineTestKit';

/** The sample lines of one metric family (no HELP/TYPE comments). */
function lines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('records of requests that fail', () => {
  it('record the time a request spent queued when the queue rejects it', async () => {
    const { engine, clock, records } = setup(
      { limits: [{ scope: ['user'], metric: 'concurrency', limit: 1 }] },
      { bulk: { chain: ['a', 'b'], priority: 'batch' } },
    );
    const queueEvents: Array<{ event: string; waitedMs?: number }> = [];
    engine.events.on('queue', (e) => queueEvents.push(e));
    const { fn } = scripted({});
    // A stream holds the user's only concurrency slot until completed.
    const held = await drive(clock, engine.execute({ route: 'bulk', identity: { user: 'u' }, inputTokens: 10, stream: true }, fn));
    const t0 = clock.now();
    const err = await drive(clock, engine.execute({ route: 'bulk', identity: { user: 'u' }, inputTokens: 10, deadline: t0 + 5000 }, fn)).catch((e: unknown) => e);
    held.complete();
    const rejected = queueEvents.find((e) => e.event === 'rejected')!;
    expect(rejected.waitedMs).toBeGreaterThan(0);
    expect((err as Error).name).toBe('QueueRejectedError');
    expect(records[0]).toMatchObject({ outcome: 'failure', queue_wait_ms: rejected.waitedMs });
  });

  it('mark fallback_used when the calls went to a fallback (the primary skipped), as fallbacks_total counts it', async () => {
    // Chain [b, a]: b is not approved for 'internal' and is skipped; a is called twice and fails.
    const registry = new Registry();
    const { engine, clock } = setup({}, { chat: { chain: ['b', 'a'] } }, { metrics: new PrometheusMetrics({ registry }) });
    const { fn, calls } = scripted({ a: [http(503)] });
    const err = await drive(clock, engine.execute({ route: 'chat', dataClass: 'internal', inputTokens: 10 }, fn)).catch((e: unknown) => e);
    expect(calls).toEqual(['a', 'a']);
    expect(lines(await registry.metrics(), 'llm_resilience_fallbacks_total')).toEqual(['llm_resilience_fallbacks_total{route="chat",target="a"} 1']);
    expect((err as ChainExhaustedError).record.fallback_used).toBe(true);
  });

  it("do not announce nor count a 'retry-stricter' repair when no attempt is left for it", async () => {
    const Intent = z.object({ intent: z.string() });
    const { engine, clock } = setup({}, { cls: { chain: ['a'], output: Intent, onInvalidOutput: 'retry-stricter', retry: { maxAttempts: 1 } } });
    const actions: string[] = [];
    engine.events.on('validation', (e) => actions.push(e.action));
    const { fn, calls } = scripted({ a: [ok('not json')] });
    const err = await drive(clock, engine.execute({ route: 'cls', inputTokens: 10 }, fn)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(calls).toEqual(['a']);
    expect((err as ChainExhaustedError).record.retry_count).toBe(0);
    // The chain moves on (here: it ends), as after a failed call with no attempt left.
    expect(actions).toEqual(['fallback']);
  });
});
