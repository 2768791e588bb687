import { ManualClock } from '../clock';
import type { ErrorKind } from '../errors/ErrorKind';
import type { BreakerPolicy } from '../policy/Policy';
import { BreakerRegistry } from './BreakerRegistry';

const policy: BreakerPolicy = {
  windowMs: 120_000,
  errorRate: 0.2,
  minimumCalls: 10,
  consecutiveFailures: 5,
  slowCallMs: 30_000,
  slowCallRate: 0.5,
  openForMs: 30_000,
  halfOpenProbes: 3,
  rampUpMs: 30_000,
  rateLimitPauseAfter: 3,
  failOn: new Set<ErrorKind>(['overloaded', 'timeout', 'network', 'unknown', 'quota_exhausted', 'auth']),
};

/** One slow model of a multi-model provider trips only its own breaker, as one failing model does. */
describe('BreakerRegistry: a slow model and its provider', () => {
  it("one slow model of a multi-model provider trips only its own breaker, not the provider's", () => {
    const clock = new ManualClock(1_000_000);
    const registry = new BreakerRegistry({ policy, clock, providerTargets: { openai: 2 }, onError: () => {} });
    // fast-a answers, but every answer takes 31 s (>= slowCall): its own breaker opens on slow_calls.
    for (let i = 0; i < 10; i++) {
      const admission = registry.admit('fast-a', 'openai');
      if (!admission.allowed) break;
      registry.record('fast-a', 'openai', { latencyMs: 31_000, admission });
    }
    expect(registry.stateOf('fast-a')).toBe('open');
    // The sibling model of the same provider never misbehaved: it must stay usable as a fallback
    // (docs: "one overloaded model only trips its own breaker"; a timing-out model does not count either).
    expect(registry.provider('openai').state.state).toBe('closed');
    expect(registry.admit('fast-c', 'openai').allowed).toBe(true);
  });

  it('a slow model is treated like a timing-out one: neither opens the provider breaker alone', () => {
    const clock = new ManualClock(1_000_000);
    const timingOut = new BreakerRegistry({ policy, clock, providerTargets: { openai: 2 }, onError: () => {} });
    const slow = new BreakerRegistry({ policy, clock, providerTargets: { openai: 2 }, onError: () => {} });
    for (let i = 0; i < 10; i++) {
      const a1 = timingOut.admit('fast-a', 'openai');
      if (a1.allowed) timingOut.record('fast-a', 'openai', { kind: 'timeout', latencyMs: 30_000, admission: a1 });
      const a2 = slow.admit('fast-a', 'openai');
      if (a2.allowed) slow.record('fast-a', 'openai', { latencyMs: 30_000, admission: a2 });
    }
    expect(timingOut.provider('openai').state.state).toBe('closed');
    expect(slow.provider('openai').state.state).toBe('closed');
  });
});
