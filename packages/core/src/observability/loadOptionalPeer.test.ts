import { loadOptionalPeer, MissingPeerDependencyError } from './loadOptionalPeer';

describe('loadOptionalPeer', () => {
  it('loads an installed package', () => {
    const prom = loadOptionalPeer<typeof import('prom-client')>('prom-client', 'PrometheusMetrics');
    expect(typeof prom.Registry).toBe('function');
  });

  it('explains how to fix a missing package', () => {
    let error: unknown;
    try {
      loadOptionalPeer('@llm-resilience/not-installed-anywhere', 'OpenTelemetryMetrics');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MissingPeerDependencyError);
    const e = error as MissingPeerDependencyError;
    expect(e.code).toBe('ERR_LLMR_MISSING_PEER');
    expect(e.packageName).toBe('@llm-resilience/not-installed-anywhere');
    expect(e.message).toContain('Install @llm-resilience/not-installed-anywhere to use OpenTelemetryMetrics');
  });
});
