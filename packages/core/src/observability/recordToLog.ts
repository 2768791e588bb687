import type { RequestRecord } from '../engine/types';

/**
 * The seed's log fields, in the seed's order (step 9 of the article).
 *
 * @example
 * ```ts
 * SEED_LOG_FIELDS[0]; // 'request_id'
 * ```
 */
export const SEED_LOG_FIELDS = [
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
] as const;

/**
 * One log line: the seed's fields first and always present (`null` when unknown, e.g. `error_code` on
 * success), then the rest of the record in its own order.
 *
 * @example
 * ```ts
 * const line: LogRecord = toLogRecord(record);
 * line.final_model; // 'model_b' or null
 * ```
 */
export type LogRecord = {
  [K in (typeof SEED_LOG_FIELDS)[number]]: Exclude<RequestRecord[K], undefined> | null;
} & Omit<Partial<RequestRecord>, (typeof SEED_LOG_FIELDS)[number]>;

/**
 * Options of {@link toLogRecord}.
 *
 * @example
 * ```ts
 * toLogRecord(record, { includeContent: true });
 * ```
 */
export interface ToLogRecordOptions {
  /** Keep `content` (prompt text) when the record has it. Default `false`: prompts stay out of logs. */
  includeContent?: boolean;
}

/**
 * Turns a request record into a log object whose keys come in the seed's order (`request_id`, `user_id`,
 * `route`, `primary_model`, `final_model`, `fallback_used`, `retry_count`, `error_code`, `latency_ms`,
 * `input_tokens`, `output_tokens`, `estimated_cost`), followed by the other fields. `content` is dropped
 * unless `includeContent` is set. The record itself is not modified.
 *
 * @example
 * ```ts
 * engine.events.on('record', (r) => console.log(JSON.stringify(toLogRecord(r))));
 * // {"request_id":"req_123","user_id":"user_456","route":"support_reply",...,"estimated_cost":0.014,"priority":"live",...}
 * ```
 */
export function toLogRecord(record: RequestRecord, options: ToLogRecordOptions = {}): LogRecord {
  const out: Record<string, unknown> = {};
  const seed = new Set<string>(SEED_LOG_FIELDS);
  for (const field of SEED_LOG_FIELDS) out[field] = record[field] ?? null;
  for (const [key, value] of Object.entries(record)) {
    if (seed.has(key) || value === undefined) continue;
    if (key === 'content' && !options.includeContent) continue;
    out[key] = value;
  }
  return out as LogRecord;
}
