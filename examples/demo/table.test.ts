import type { RouteRow } from './stats';
import { formatMs, formatSuccessRate, formatTable } from './table';

function row(over: Partial<RouteRow>): RouteRow {
  return {
    route: 'chat', requests: 0, success: 0, retries: 0, fallbacks: 0, absorbed429: 0, p50Ms: 0, p95Ms: 0, costUsd: 0,
    downgraded: 0, invalidOutputs: 0, queued: 0, skipped: {}, failures: {}, ...over,
  };
}

describe('formatSuccessRate', () => {
  it('prints one decimal, and "-" (or the given text) without requests', () => {
    expect(formatSuccessRate(198, 200)).toBe('99.0%');
    expect(formatSuccessRate(2000, 2000)).toBe('100.0%');
    expect(formatSuccessRate(0, 0)).toBe('-');
    expect(formatSuccessRate(0, 0, '100.0%')).toBe('100.0%');
  });

  it('never prints 100.0% while a request failed, nor 0.0% while one succeeded', () => {
    expect(formatSuccessRate(1999, 2000)).toBe('99.9%'); // 99.95 would round up to 100.0
    expect(formatSuccessRate(99_999, 100_000)).toBe('99.9%');
    expect(formatSuccessRate(1, 20_000)).toBe('0.1%');
    expect(formatSuccessRate(0, 5)).toBe('0.0%');
  });
});

describe('formatTable', () => {
  it('does not print 100.0% success for a route where a request failed', () => {
    const r = row({ requests: 2000, success: 1999, failures: { overloaded: 1 } });
    const table = formatTable([r], r);
    expect(table).not.toContain('100.0%');
    expect(table).toContain('99.9%');
  });

  it('prints "-" for the success and latencies of a route with no requests', () => {
    const empty = row({ route: 'records', requests: 0 });
    const busy = row({ route: 'chat', requests: 4, success: 4, p50Ms: 120, p95Ms: 2_400 });
    const lines = formatTable([empty, busy], busy).split('\n');
    expect(lines[2]!.split(/\s+/)).toEqual(['records', '0', '-', '0', '0', '0', '-', '-', '$0.0000']);
    expect(lines[3]!.split(/\s+/)).toEqual(['chat', '4', '100.0%', '0', '0', '0', '120ms', '2.4s', '$0.0000']);
  });
});

describe('formatMs', () => {
  it('prints milliseconds below a second, seconds above', () => {
    expect(formatMs(850)).toBe('850ms');
    expect(formatMs(2_400)).toBe('2.4s');
  });
});
