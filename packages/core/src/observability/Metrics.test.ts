import { combineMetrics, guardMetrics, noopMetrics, type LateUsageMetricEvent, type Metrics, type QueueMetricEvent } from './Metrics';
import { drive, http, scripted, setup } from '../engine/engineTestKit';
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

  it('calls every sink when one throws, then throws its error on for the caller\'s guard', () => {
    const log: string[] = [];
    const m = combineMetrics(throwing, recordingSink(log, 'after'));
    expect(() => m.request(fallbackRecord())).toThrow('boom');
    expect(() => m.attempt(attemptRecord(), { route: 'r', priority: 'live' })).toThrow('boom');
    expect(() => m.breaker({ key: 'k', scope: 'provider', from: 'open', to: 'half_open', reason: 'timer', at: 2 })).toThrow('boom');
    expect(() => m.queue({ trafficClass: 'live', event: 'rejected', reason: 'deadline', depth: 0 })).toThrow('boom');
    expect(() => m.lateUsage!(LATE)).toThrow('boom');
    expect(log).toEqual([
      'after:request:req_123',
      'after:attempt:primary:r',
      'after:breaker:k:half_open',
      'after:queue:live:rejected',
      'after:lateUsage:primary:300',
    ]);
  });

  it('throws an AggregateError when several sinks throw, after calling all of them', () => {
    const log: string[] = [];
    const m = combineMetrics(throwing, recordingSink(log, 'middle'), throwing);
    let error: unknown;
    try {
      m.request(fallbackRecord());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors.map((e: Error) => e.message)).toEqual(['boom', 'boom']);
    expect(log).toEqual(['middle:request:req_123']);
  });

  it('reports the rejection of an async sink through the promise it returns, leaving none unhandled', async () => {
    const log: string[] = [];
    const m = combineMetrics({ request: async () => Promise.reject(new Error('async boom')) }, recordingSink(log, 'after'));
    const result = m.request(fallbackRecord()) as unknown as Promise<void>;
    await expect(result).rejects.toThrow('async boom');
    expect(log).toEqual(['after:request:req_123']);
    const reported: unknown[] = [];
    guardMetrics(m, (e) => reported.push(e)).request(fallbackRecord());
    await new Promise((resolve) => setImmediate(resolve));
    expect(reported.map((e) => (e as Error).message)).toEqual(['async boom']);
  });

  it('sends the error of a sink inside it to the engine logger', async () => {
    const errors: unknown[] = [];
    const logger = { error: (...args: unknown[]) => errors.push(args), warn: () => {}, info: () => {}, debug: () => {} };
    const log: string[] = [];
    const broken = { request: () => { throw new Error('sink broke'); } };
    const { engine, clock } = setup({}, undefined, { metrics: combineMetrics(broken, recordingSink(log, 'after')), logger });
    const { fn } = scripted({});
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(errors).toEqual([['a metrics sink threw; the engine ignored it', { method: 'request', error: 'Error: sink broke' }]]);
    expect(log.filter((l) => l.startsWith('after:request'))).toHaveLength(1);
  });

  it('sends the error of a sink inside it to console.error when the engine has no logger', async () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const broken = { attempt: () => { throw new Error('sink broke'); } };
      const { engine, clock } = setup({}, undefined, { metrics: combineMetrics(broken) });
      const { fn } = scripted({});
      await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
      expect(spy).toHaveBeenCalledWith(expect.stringContaining("metrics sink's attempt() threw"), expect.objectContaining({ message: 'sink broke' }));
    } finally {
      spy.mockRestore();
    }
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

describe('queue events of a requeued chain (onExhausted: queue)', () => {
  it('the shutdown rejection of a requeue wait carries waitedMs, as much as the record\'s queue wait', async () => {
    const { engine, clock, records } = setup({}, { summary: { chain: ['long'], priority: 'batch', onExhausted: 'queue' } });
    const events: QueueMetricEvent[] = [];
    engine.events.on('queue', (e) => events.push(e));
    const { fn } = scripted({ long: [http(503), http(503), http(503)] });
    const outcome = engine.execute({ route: 'summary', inputTokens: 10 }, fn).catch((e: unknown) => e);
    await clock.advance(1_000); // the chain is exhausted: the requeue wait starts
    await clock.advance(500);
    await engine.shutdown();
    await outcome;
    expect(events.map((e) => [e.event, e.reason])).toEqual([
      ['enqueued', 'exhausted'],
      ['rejected', 'shutdown'],
    ]);
    const rejected = events[1]!;
    expect(records[0]!.queue_wait_ms).toBeGreaterThan(0);
    expect(rejected.waitedMs).toBe(records[0]!.queue_wait_ms);
  });
});
