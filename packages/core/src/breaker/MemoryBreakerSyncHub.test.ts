import type { BreakerState } from './BreakerState';
import { MemoryBreakerSyncHub } from './MemoryBreakerSyncHub';

describe('MemoryBreakerSyncHub', () => {
  it('delivers a copy of each publish to every other connection, never back to the publisher', () => {
    const hub = new MemoryBreakerSyncHub();
    const a = hub.connect();
    const b = hub.connect();
    const c = hub.connect();
    const got: Record<string, Array<[string, BreakerState]>> = { a: [], b: [], c: [] };
    a.subscribe!((k, s) => got.a!.push([k, s]));
    b.subscribe!((k, s) => got.b!.push([k, s]));
    const sub = c.subscribe!((k, s) => got.c!.push([k, s]));
    const state: BreakerState = { state: 'open', until: 10, reason: 'error_rate' };
    a.publish('target:x', state);
    expect(got.a).toEqual([]);
    expect(got.b).toEqual([['target:x', state]]);
    expect(got.b![0]![1]).not.toBe(state);
    sub.dispose();
    b.publish('provider:p', { state: 'closed' });
    expect(got.c).toEqual([['target:x', state]]);
    expect(got.a).toEqual([['provider:p', { state: 'closed' }]]);
    expect(hub.published).toBe(2);
  });
});
