import { createResilience, definePolicy } from '@llm-resilience/core';
import { RequestEventRouter } from './RequestEventRouter';

const engine = () =>
  createResilience(definePolicy({ targets: { a: { provider: 'openai', model: 'm' } }, routes: { chat: { chain: ['a'] } } }, { onWarning: () => undefined }));

describe('RequestEventRouter', () => {
  it('routes each request id to its watcher and unsubscribes when nobody watches', () => {
    const e = engine();
    const router = RequestEventRouter.of(e);
    expect(RequestEventRouter.of(e)).toBe(router);
    const seen1: string[] = [];
    const seen2: string[] = [];
    const stop1 = router.watch('r1', (name) => seen1.push(name));
    const stop2 = router.watch('r2', (name) => seen2.push(name));
    e.events.emit('fallback', { requestId: 'r1', route: 'chat', from: 'a', kind: 'overloaded' });
    e.events.emit('retry', { requestId: 'r2', route: 'chat', target: 'a', attempt: 1, kind: 'rate_limited', delayMs: 50, source: 'hint' });
    e.events.emit('skip', { requestId: 'r3', route: 'chat', target: 'a', reason: 'breaker_open' });
    e.events.emit('attempt', {
      requestId: 'r1',
      route: 'chat',
      attempt: { target: 'a', provider: 'openai', model: 'm', attempt: 1, targetAttempt: 1, startedAt: 0, latencyMs: 1, outcome: 'success', waitedMs: 0 },
    });
    expect(seen1).toEqual(['fallback', 'attempt']);
    expect(seen2).toEqual(['retry']);
    expect(router.size).toBe(2);
    stop1();
    stop1();
    stop2();
    expect(router.size).toBe(0);
    e.events.emit('fallback', { requestId: 'r1', route: 'chat', from: 'a', kind: 'overloaded' });
    expect(seen1).toEqual(['fallback', 'attempt']);
  });
});
