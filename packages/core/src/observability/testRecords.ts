import type { AttemptRecord, RequestRecord } from '../engine/types';

/**
 * Test fixtures: a request that hit two 429s on its primary and was served by the fallback.
 *
 * @example
 * ```ts
 * const r = fallbackRecord({ outcome: 'failure' });
 * ```
 */
export function fallbackRecord(overrides: Partial<RequestRecord> = {}): RequestRecord {
  const attempts: AttemptRecord[] = [
    attemptRecord({ attempt: 1, targetAttempt: 1, outcome: 'error', errorKind: 'rate_limited', status: 429, latencyMs: 200 }),
    attemptRecord({ attempt: 2, targetAttempt: 2, outcome: 'error', errorKind: 'rate_limited', status: 429, latencyMs: 300, waitedMs: 1000 }),
    attemptRecord({ target: 'backup', provider: 'anthropic', model: 'model_b', attempt: 3, targetAttempt: 1, latencyMs: 1500 }),
  ];
  return {
    request_id: 'req_123',
    user_id: 'user_456',
    team_id: 'team_secret',
    tenant_id: 'tenant_secret',
    route: 'support_reply',
    priority: 'live',
    data_class: 'internal',
    primary_model: 'model_a',
    final_model: 'model_b',
    final_target: 'backup',
    fallback_used: true,
    retry_count: 2,
    error_code: 429,
    outcome: 'success',
    latency_ms: 4200,
    queue_wait_ms: 0,
    input_tokens: 1800,
    output_tokens: 420,
    estimated_cost: 0.02,
    actual_cost: 0.014,
    attempts,
    skipped: [{ target: 'eu-only', reason: 'data_class' }],
    breakers: { primary: 'closed', backup: 'closed' },
    validation_failures: 0,
    started_at: 1_700_000_000_000,
    ...overrides,
  };
}

/**
 * Test fixture: one attempt on the `primary` target (OpenAI, `model_a`), successful unless overridden.
 *
 * @example
 * ```ts
 * const a = attemptRecord({ outcome: 'invalid_output' });
 * ```
 */
export function attemptRecord(overrides: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    target: 'primary',
    provider: 'openai',
    model: 'model_a',
    attempt: 1,
    targetAttempt: 1,
    startedAt: 1_700_000_000_000,
    latencyMs: 250,
    outcome: 'success',
    waitedMs: 0,
    ...overrides,
  };
}
