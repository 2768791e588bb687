import { combineMetrics, guardMetrics, noopMetrics, type LateUsageMetricEvent, type Metrics } from './Metrics';
import { drive, scripted, setup } from '../engine/engineTestKit';
import { attemptRecord, fallbackRecord } from './testRecords';

function recordingSink(log: string[], name: string): Metrics {
  return {
    request: (r) => log.push(`${name}:request:${r.request_id}`),
    attempt: (a, ctx) => log.push(`${name}:attempt:${a.target}:${ctx.route}`),
    breaker: (e) => log.push(`${name}:breaker:${e.key}:${e.to}`),
    queue: (e) => log.push(`${name}:queue:${e.trafficClass}:${e.event}`),
    lateUsage: (e) => log.push(`${name}:lateUsage:${e.target}:${e.outputTokens}`),
  };
}

const LATE: LateUsageMetricEvent = {
  route: 'support_reply',
  priority: 'live',
  target: 'primary',
  provider: 'openai',
  model: 'model_a',
  inputTokens: 800,
  outputTokens: 300,
  costUsd: 0.002,
  estimated: false,
};

const throwing: Metrics = {
  request: () => {
    throw new Error('boom');
  },
  attempt: () => {
    throw new Error('boom');
  },
  breaker: () => {
    throw new Error('boom');
  },
  queue: () => {
    throw new Error('boom');
  },
  lateUsage: () => {
    throw new Error('boom');
  },
};

describe('noopMetrics', () => {
  it('accepts every call and returns nothing', () => {
    expect(noopMetrics.request(fallbackRecord())).toBeUndefined();
    expect(noopMetrics.attempt(attemptRecord(), { route: 'r', priority: 'live' })).toBeUndefined();
    expect(noopMetrics.breaker({ key: 'a', scope: 'target', from: 'closed', to: 'open', reason: 'x', at: 0 })).toBeUndefined();
    expect(noopMetrics.queue({ trafficClass: 'batch', event: 'enqueued', depth: 1 })).toBeUndefined();
    expect(noopMetrics.lateUsage(LATE)).toBeUndefined();
    expect(Object.isFrozen(noopMetrics)).toBe(true);
  });
});

describe('combineMetrics', () => {
  it('sends every call to each sink in order', () => {
    const log: string[] = [];
    const m = combineMetrics(recordingSink(log, 'a'), undefined, recordingSink(log, 'b'));
    m.request(fallbackRecord());
    m.attempt(attemptRecord(), { route: 'support_reply', priority: 'live' });
    m.breaker({ key: 'primary', scope: 'target', from: 'closed', to: 'open', reason: 'error_rate', at: 1 });
    m.queue({ trafficClass: 'batch', event: 'admitted', waitedMs: 5, depth: 0 });
    m.lateUsage!(LATE);
    expect(log).toEqual([
      'a:request:req_123',
      'b:request:req_123',
      'a:attempt:primary:support_reply',
      'b:attempt:primary:support_reply',
      'a:breaker:primary:open',
      'b:breaker:primary:open',
      'a:queue:batch:admitted',
      'b:queue:batch:admitted',
      'a:lateUsage:primary:300',
      'b:lateUsage:primary:300',
    ]);
  });

  it('keeps going when a sink throws, and never throws itself', () => {
    const log: string[] = [];
    const m = combineMetrics(throwing, recordingSink(log, 'after'));
    expect(() => m.request(fallbackRecord())).not.toThrow();
    expect(() => m.attempt(attemptRecord(), { route: 'r', priority: 'live' })).not.toThrow();
    expect(() => m.breaker({ key: 'k', scope: 'provider', from: 'open', to: 'half_open', reason: 'timer', at: 2 })).not.toThrow();
    expect(() => m.queue({ trafficClass: 'live', event: 'rejected', reason: 'deadline', depth: 0 })).not.toThrow();
    expect(() => m.lateUsage!(LATE)).not.toThrow();
    expect(log).toEqual([
      'after:request:req_123',
      'after:attempt:primary:r',
      'after:breaker:k:half_open',
      'after:queue:live:rejected',
      'after:lateUsage:primary:300',
    ]);
  });

  it('accepts partial sinks', () => {
    const seen: string[] = [];
    const m = combineMetrics({ request: (r) => seen.push(r.route) });
    m.queue({ trafficClass: 'batch', event: 'enqueued', depth: 1 });
    m.lateUsage!(LATE); // a sink written before lateUsage existed
    guardMetrics({}).lateUsage(LATE);
    m.request(fallbackRecord());
    expect(seen).toEqual(['support_reply']);
  });
});

describe('guardMetrics', () => {
  it('reports a sink error with the method name instead of throwing', () => {
    const errors: Array<[string, string]> = [];
    const m = guardMetrics(throwing, (e, method) => errors.push([method, (e as Error).message]));
    m.request(fallbackRecord());
    m.queue({ trafficClass: 'batch', event: 'enqueued', depth: 1 });
    m.lateUsage(LATE);
    expect(errors).toEqual([
      ['request', 'boom'],
      ['queue', 'boom'],
      ['lateUsage', 'boom'],
    ]);
  });

  it('survives an error handler that throws', () => {
    const m = guardMetrics(throwing, () => {
      throw new Error('handler broke');
    });
    expect(() => m.breaker({ key: 'k', scope: 'target', from: 'closed', to: 'open', reason: 'x', at: 0 })).not.toThrow();
  });

  it('calls the sink with its own `this`', () => {
    class Sink {
      count = 0;
      request() {
        this.count++;
      }
    }
    const sink = new Sink();
    guardMetrics(sink).request(fallbackRecord());
    expect(sink.count).toBe(1);
  });
});

/** A sink written as `async request(r) { await pushgateway.push(...) }` rejects after the call returned. */
describe('guardMetrics: an asynchronous sink that rejects', () => {
  it('guardMetrics hands the rejection to onError instead of leaving it unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const errors: string[] = [];
      const sink = guardMetrics({ request: (async () => { throw new Error('pushgateway down'); }) as unknown as Metrics['request'] }, (_e, m) => errors.push(m));
      sink.request({} as never);
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      expect(errors).toEqual(['request']);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('the engine reports a rejecting sink to logger.error and leaves no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const logged: string[] = [];
      const metrics = { request: async () => { throw new Error('pushgateway down'); }, attempt() {}, breaker() {}, queue() {} } as unknown as Metrics;
      const { engine, clock } = setup({}, undefined, { metrics, logger: { error: (m) => logged.push(m) } });
      const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn));
      expect(res.record.outcome).toBe('success');
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      expect(logged).toContain('a metrics sink threw; the engine ignored it');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
