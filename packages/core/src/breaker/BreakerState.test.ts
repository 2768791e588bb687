import { isBreakerState } from './BreakerState';

describe('isBreakerState', () => {
  it('accepts every well-formed state', () => {
    for (const s of [
      { state: 'closed' },
      { state: 'open', until: 5, reason: 'error_rate' },
      { state: 'half-open', probesInFlight: 1, probeSuccesses: 0 },
      { state: 'ramping', since: 3 },
      { state: 'paused', until: 9 },
    ]) {
      expect(isBreakerState(s)).toBe(true);
    }
  });

  it('rejects malformed states', () => {
    for (const s of [
      null,
      'open',
      {},
      { state: 'tripped' },
      { state: 'open', until: 5 },
      { state: 'open', until: Infinity, reason: 'x' },
      { state: 'half-open', probesInFlight: -1, probeSuccesses: 0 },
      { state: 'half-open', probesInFlight: 0.5, probeSuccesses: 0 },
      { state: 'ramping' },
      { state: 'paused', until: '9' },
    ]) {
      expect(isBreakerState(s)).toBe(false);
    }
  });
});
