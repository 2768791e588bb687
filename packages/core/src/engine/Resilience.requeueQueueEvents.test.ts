import { ChainExhaustedError, RequestFailedError } from '../errors/ChainExhaustedError';
import { noopMetrics, type QueueMetricEvent } from '../observability/Metrics';
import { http, ok, scripted, setup } from './engineTestKit';
import type { Script } from './engineTestKit';
import type { PolicyInput } from '../policy/schema';

/*
 * A requeued chain (route `onExhausted: 'queue'`) shows its wait as a queue event `enqueued` (reason
 * `exhausted`); every way that wait ends must emit exactly one exit event (`admitted` when the chain
 * runs again, `rejected` with its reason otherwise), on `engine.events` and to the metrics sink, with
 * the scheduler's depth at that moment: a `queue_depth` gauge fed from these events must not drift.
 */

const REQUEUE_ROUTE: PolicyInput['routes'] = { summary: { chain: ['long'], priority: 'batch', onExhausted: 'queue' } };

function requeueEngine(script: Script, routes: PolicyInput['routes'] = REQUEUE_ROUTE, extra: Partial<PolicyInput> = {}) {
  const sunk: QueueMetricEvent[] = [];
  const metrics = { ...noopMetrics, queue: (e: QueueMetricEvent) => void sunk.push(e) };
  const kit = setup(extra, routes, { metrics });
  const emitted: Array<{ event: string; reason?: string; depth: number; waitedMs?: number }> = [];
  kit.engine.events.on('queue', (e) => emitted.push(e));
  const { fn, calls } = scripted(script);
  /** `event:reason:depth` of each queue event emitted. */
  const seen = () => emitted.map((e) => `${e.event}:${e.reason ?? ''}:${e.depth}`);
  /** Enqueued items not yet gone out again, counted from the events (must end at 0). */
  const open = () => emitted.filter((e) => e.event === 'enqueued').length - emitted.filter((e) => e.event !== 'enqueued').length;
  return { ...kit, fn, calls, emitted, sunk, seen, open };
}

describe('Resilience: every requeue wait of an exhausted chain ends with exactly one exit queue event', () => {
  it("emits 'admitted' (with the time waited) when the wait ends and the chain runs again", async () => {
    const t = requeueEngine({ long: [http(503), http(503), ok()] });
    const p = t.engine.execute({ route: 'summary', inputTokens: 10 }, t.fn);
    await t.clock.advance(1_000); // 503, 500 ms backoff, 503: exhausted, waits 30 s (breaker open period)
    expect(t.seen()).toEqual(['enqueued:exhausted:0']);
    await t.clock.advance(30_000);
    const res = await p;
    expect(res.record.outcome).toBe('success');
    expect(t.calls).toEqual(['long', 'long', 'long']);
    expect(t.seen()).toEqual(['enqueued:exhausted:0', 'admitted::0']);
    expect(t.emitted[1]!.waitedMs).toBe(30_000);
    expect(t.sunk).toEqual(t.emitted);
    expect(t.open()).toBe(0);
  });

  it("emits one 'admitted' per requeue wait when the chain is requeued more than once", async () => {
    const t = requeueEngine({ long: [http(503), http(503), http(503), http(503), ok()] });
    const p = t.engine.execute({ route: 'summary', inputTokens: 10 }, t.fn);
    await t.clock.advance(120_000);
    await p;
    expect(t.seen()).toEqual(['enqueued:exhausted:0', 'admitted::0', 'enqueued:exhausted:0', 'admitted::0']);
    expect(t.open()).toBe(0);
  });

  it("emits 'rejected' (reason 'aborted') when the caller aborts during the wait", async () => {
    const t = requeueEngine({ long: [http(503)] });
    const ac = new AbortController();
    const p = t.engine.execute({ route: 'summary', inputTokens: 10, signal: ac.signal }, t.fn).catch((e: unknown) => e);
    await t.clock.advance(1_000);
    await t.clock.advance(2_000);
    ac.abort();
    const err = await p;
    expect(err).toBeInstanceOf(RequestFailedError);
    expect(err).toMatchObject({ code: 'ERR_LLMR_CANCELLED' });
    expect(t.seen()).toEqual(['enqueued:exhausted:0', 'rejected:aborted:0']);
    expect(t.emitted[1]!.waitedMs).toBe(2_500);
    expect(t.sunk).toEqual(t.emitted);
    expect(t.open()).toBe(0);
  });

  it("emits 'rejected' (reason 'shutdown') once when shutdown() ends the wait", async () => {
    const t = requeueEngine({ long: [http(503)] });
    const p = t.engine.execute({ route: 'summary', inputTokens: 10 }, t.fn).catch((e: unknown) => e);
    await t.clock.advance(1_000);
    await t.engine.shutdown();
    expect(await p).toBeInstanceOf(ChainExhaustedError);
    expect(t.seen()).toEqual(['enqueued:exhausted:0', 'rejected:shutdown:0']);
    expect(t.sunk).toEqual(t.emitted);
    expect(t.open()).toBe(0);
  });

  it("emits 'rejected' (reason 'deadline') and throws the chain's error when the wait ends after the deadline (a late timer)", async () => {
    const t = requeueEngine({ long: [http(503), http(503), ok()] });
    const start = t.clock.now();
    const p = t.engine.execute({ route: 'summary', inputTokens: 10, deadline: start + 40_000 }, t.fn).catch((e: unknown) => e);
    await t.clock.advance(1_000); // exhausted at +500: a 30 s wait still ends before the deadline
    expect(t.seen()).toEqual(['enqueued:exhausted:0']);
    t.clock.set(start + 50_000); // the process was suspended: the timer fires past the deadline
    await t.clock.next();
    const err = await p;
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(t.calls).toEqual(['long', 'long']);
    expect(t.seen()).toEqual(['enqueued:exhausted:0', 'rejected:deadline:0']);
    expect(t.sunk).toEqual(t.emitted);
    expect(t.open()).toBe(0);
  });

  it("emits 'rejected' (reason 'max-wait') when the wait ends after the class's maxWait (no deadline)", async () => {
    const t = requeueEngine({ long: [http(503), http(503), ok()] });
    const start = t.clock.now();
    const p = t.engine.execute({ route: 'summary', inputTokens: 10 }, t.fn).catch((e: unknown) => e);
    await t.clock.advance(1_000);
    t.clock.set(start + 600_000); // batch: maxWait 10 min from the start of the request
    await t.clock.next();
    const err = await p;
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(t.calls).toEqual(['long', 'long']);
    expect(t.seen()).toEqual(['enqueued:exhausted:0', 'rejected:max-wait:0']);
    expect(t.open()).toBe(0);
  });

  it("carries the scheduler's depth when the wait ends, not the one it had when the wait began", async () => {
    const routes: PolicyInput['routes'] = { ...REQUEUE_ROUTE, bulk: { chain: ['a'], priority: 'batch' } };
    const t = requeueEngine({ long: [http(503), http(503), ok()] }, routes, {
      trafficClasses: { batch: { priority: 10, reserve: 0 } },
      limits: [{ scope: ['route'], metric: 'requests', limit: 1, window: '5m', match: { route: 'bulk' } }],
    });
    const requeued = t.engine.execute({ route: 'summary', inputTokens: 10 }, t.fn);
    await t.clock.advance(1_000);
    expect(t.seen()).toEqual(['enqueued:exhausted:0']);
    // Another batch request waits in the scheduler's queue (the limit lets one bulk request through per 5 min).
    await t.engine.execute({ route: 'bulk', inputTokens: 10 }, t.fn);
    const queued = t.engine.execute({ route: 'bulk', inputTokens: 10 }, t.fn).catch((e: unknown) => e);
    await t.clock.advance(0);
    expect(t.engine.scheduler.queuedOf('batch')).toBe(1);
    await t.clock.advance(30_000);
    await requeued;
    expect(t.seen()).toEqual(['enqueued:exhausted:0', 'enqueued::1', 'admitted::1']);
    // A gauge fed from the events reads the scheduler's queue.
    expect(t.sunk[t.sunk.length - 1]!.depth).toBe(t.engine.scheduler.queuedOf('batch'));
    await t.engine.shutdown();
    await queued;
    expect(t.open()).toBe(0);
  });
});
