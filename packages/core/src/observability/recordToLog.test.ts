import { SEED_LOG_FIELDS, toLogRecord } from './recordToLog';
import { fallbackRecord } from './testRecords';

describe('toLogRecord', () => {
  it("puts the seed's fields first, in the seed's order, then the rest", () => {
    const line = toLogRecord(fallbackRecord());
    const keys = Object.keys(line);
    expect(keys.slice(0, 12)).toEqual([
      'request_id',
      'user_id',
      'route',
      'primary_model',
      'final_model',
      'fallback_used',
      'retry_count',
      'error_code',
      'latency_ms',
      'input_tokens',
      'output_tokens',
      'estimated_cost',
    ]);
    expect(keys.slice(0, 12)).toEqual([...SEED_LOG_FIELDS]);
    expect(keys.slice(12)).toEqual([
      'team_id',
      'tenant_id',
      'priority',
      'data_class',
      'final_target',
      'outcome',
      'queue_wait_ms',
      'actual_cost',
      'attempts',
      'skipped',
      'breakers',
      'validation_failures',
      'started_at',
    ]);
  });

  it("serialises like the seed's example", () => {
    const json = JSON.stringify(toLogRecord(fallbackRecord()));
    expect(json.startsWith(
      '{"request_id":"req_123","user_id":"user_456","route":"support_reply","primary_model":"model_a",' +
        '"final_model":"model_b","fallback_used":true,"retry_count":2,"error_code":429,"latency_ms":4200,' +
        '"input_tokens":1800,"output_tokens":420,"estimated_cost":0.02,',
    )).toBe(true);
  });

  it('keeps the seed fields present as null when unknown', () => {
    const { user_id: _u, final_model: _f, error_code: _e, ...rest } = fallbackRecord();
    const line = toLogRecord(rest);
    expect(line.user_id).toBeNull();
    expect(line.final_model).toBeNull();
    expect(line.error_code).toBeNull();
    expect(Object.keys(line).slice(0, 12)).toEqual([...SEED_LOG_FIELDS]);
  });

  it('strips prompt content unless asked, and never changes the record', () => {
    const record = fallbackRecord({ content: { input: 'my secret prompt' } });
    expect(toLogRecord(record)).not.toHaveProperty('content');
    expect(JSON.stringify(toLogRecord(record))).not.toContain('my secret prompt');
    expect(toLogRecord(record, { includeContent: true }).content).toEqual({ input: 'my secret prompt' });
    expect(record.content).toEqual({ input: 'my secret prompt' });
  });
});
