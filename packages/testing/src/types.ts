/**
 * Public types of `@llm-resilience/testing`. Everything in a {@link FakeProviderConfig} is plain JSON,
 * so a scenario can live in a file and be loaded by the CLI.
 */

/**
 * Every fault the fake provider can inject. See {@link FAULT_KINDS} for the list at run time.
 *
 * @example
 * ```ts
 * const kind: FaultKind = 'overloaded_529';
 * ```
 */
export type FaultKind =
  | 'rate_limit'
  | 'rate_limit_no_hint'
  | 'overloaded_503'
  | 'overloaded_529'
  | 'server_error_500'
  | 'timeout'
  | 'hang'
  | 'connection_reset'
  | 'stream_cut'
  | 'stream_error'
  | 'malformed_json'
  | 'context_length'
  | 'insufficient_quota'
  | 'content_filter'
  | 'slow_first_token'
  | 'slow_tokens'
  | 'invalid_json_reply'
  | 'auth';

/**
 * The error a `stream_error` fault sends inside a stream, after the 200 (written in the endpoint's own
 * format): `overloaded` is Anthropic's `overloaded_error` / OpenAI's `server_is_overloaded`,
 * `rate_limit` is `rate_limit_error` / `rate_limit_exceeded`, `server_error` is `api_error` /
 * `server_error`. A request that does not stream gets the same error as an HTTP response instead
 * (529 or 503, 429, 500); its 429 carries the `rate_limit` fault's headers (`retry-after`, default 1 s,
 * and the request limit exhausted until then).
 *
 * @example
 * ```ts
 * const rule: FaultRule = { kind: 'stream_error', errorType: 'rate_limit', afterChunks: 3 };
 * const type: StreamErrorType = 'overloaded';
 * ```
 */
export type StreamErrorType = 'overloaded' | 'rate_limit' | 'server_error';

/**
 * Which provider's semantics a model follows. It picks the default limit algorithm: `openai` uses
 * fixed windows (a minute, a day), `anthropic` uses continuously replenished token buckets.
 * The wire format (and so the header style) follows the endpoint that was called.
 *
 * @example
 * ```ts
 * const p: FakeProviderKind = 'anthropic';
 * ```
 */
export type FakeProviderKind = 'openai' | 'anthropic';

/**
 * Per-model limits. Every field is optional; a missing field means "no limit".
 *
 * @example
 * ```ts
 * const limits: FakeModelLimits = { rpm: 60, tpm: 40_000, rpd: 10_000, concurrency: 4 };
 * ```
 */
export interface FakeModelLimits {
  /** Requests per minute. */
  rpm?: number;
  /** Tokens per minute: input estimate + `max_tokens`, charged when the request arrives. */
  tpm?: number;
  /** Input tokens per minute (Anthropic's ITPM). */
  itpm?: number;
  /**
   * Output tokens per minute (Anthropic's OTPM): `max_tokens` reserved, adjusted at the end with buckets.
   * Without `max_tokens` the real output is charged at the end, and the request is refused while OTPM is used up.
   */
  otpm?: number;
  /** Requests per day. Always a fixed day window. */
  rpd?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /**
   * `window`: fixed windows from the scenario epoch (OpenAI-like; rejected requests count toward RPM/RPD,
   * `max_tokens` is never refunded). `bucket`: token buckets refilled continuously (Anthropic-like; unused
   * `max_tokens` is refunded when a reply completes, failed requests keep their charge). Default: `bucket`
   * for `provider: 'anthropic'`, else `window`.
   */
  algorithm?: 'window' | 'bucket';
}

/**
 * Latency of a model. Either a fixed first-token time plus uniform jitter, or a log-normal
 * distribution given by its median and 95th percentile. Each output token adds `perTokenMs`.
 * Defaults are all 0 (instant replies).
 *
 * @example
 * ```ts
 * const fixed: FakeLatency = { firstTokenMs: 20, perTokenMs: 1, jitterMs: 5 };
 * const dist: FakeLatency = { distribution: { p50: 300, p95: 1200 }, perTokenMs: 10 };
 * ```
 */
export interface FakeLatency {
  firstTokenMs?: number;
  perTokenMs?: number;
  jitterMs?: number;
  /** Time to first token, log-normal with this median (`p50`) and 95th percentile (`p95`), in ms. */
  distribution?: { p50: number; p95: number };
}

/**
 * One model the fake provider serves.
 *
 * @example
 * ```ts
 * const model: FakeModelConfig = { provider: 'openai', contextWindow: 8_000, maxOutputTokens: 1_000, limits: { rpm: 3 } };
 * ```
 */
export interface FakeModelConfig {
  /** Default `openai`. */
  provider?: FakeProviderKind;
  /** Input estimate + `max_tokens` above this is rejected with a context-length error. */
  contextWindow: number;
  /** `max_tokens` above this is rejected as an invalid request. */
  maxOutputTokens?: number;
  /** Length of a text reply in tokens, exactly (before `max_tokens` truncation), unless the reply tag alone is longer. Default 16. */
  replyTokens?: number;
  limits?: FakeModelLimits;
  latency?: FakeLatency;
}

/**
 * A scripted fault: which requests it hits (model, time window, probability, every n-th, at most
 * `count` times) and what it does. Time is in seconds since the scenario epoch (`start()`).
 * The first rule in the list that fires wins.
 *
 * @example
 * ```ts
 * // from t=10s to t=40s, model A answers 503
 * const rule: FaultRule = { model: 'model-a', from: 10, to: 40, kind: 'overloaded_503' };
 * ```
 */
export interface FaultRule {
  kind: FaultKind;
  /** A configured model name, or `'*'` (the default) for every model. */
  model?: string;
  /** Start of the window in seconds since the epoch, inclusive. Default 0. */
  from?: number;
  /** End of the window in seconds since the epoch, exclusive. Default: forever. */
  to?: number;
  /** Chance in [0, 1] that a matching request is hit. Default 1. */
  probability?: number;
  /** Hit only every n-th matching request (the n-th, 2n-th, ...). */
  every?: number;
  /** Stop after hitting this many requests. */
  count?: number;
  /**
   * Sends `retry-after` / `retry-after-ms` with this value (any error fault; for `stream_error` only on
   * a request that does not stream, since a stream's headers went out with its 200). Default 1 for a
   * 429: the `rate_limit` fault, and a `stream_error` of `errorType` `rate_limit` that does not stream
   * (both also send the request limit exhausted until then).
   */
  retryAfterSeconds?: number;
  /** `timeout`: how long before answering (default 60 000). `slow_first_token`: extra delay (default 2 000). */
  delayMs?: number;
  /** `slow_tokens`: delay per output token (default 50). */
  perTokenMs?: number;
  /**
   * `stream_cut`: content chunks sent before the socket is destroyed. `stream_error`: content chunks
   * sent before the error event. Default: half of them; at most all but the last.
   */
  afterChunks?: number;
  /** `stream_error`: which error the stream ends with (default `overloaded`). */
  errorType?: StreamErrorType;
  /** `content_filter`: `openai` (`content_policy_violation`, default) or `azure` (`content_filter`). */
  variant?: 'openai' | 'azure';
}

/**
 * A scenario: the models, their limits and latency, and the fault timeline.
 *
 * @example
 * ```ts
 * const config: FakeProviderConfig = {
 *   seed: 42,
 *   models: { 'fast-a': { contextWindow: 16_000, limits: { rpm: 60 } } },
 *   faults: [{ model: 'fast-a', from: 10, to: 40, kind: 'overloaded_503' }],
 * };
 * ```
 */
export interface FakeProviderConfig {
  /** Seed of every random choice (fault probabilities, jitter, latency samples). Default 1. */
  seed?: number;
  /** When set, requests must send it (`Authorization: Bearer …` or `x-api-key`), else 401. */
  apiKey?: string;
  models: Record<string, FakeModelConfig>;
  /**
   * Settings for models not listed in `models`. Without it, unknown models get a 404 `model_not_found`.
   * Each unknown name gets its own limit state.
   */
  defaultModel?: FakeModelConfig;
  faults?: FaultRule[];
}

/**
 * A time source: milliseconds since the epoch. The core's `Clock` and `ManualClock` fit.
 *
 * @example
 * ```ts
 * const clock: FakeClock = { now: () => Date.now() };
 * ```
 */
export interface FakeClock {
  now(): number;
}

/**
 * In-process options that are not part of the JSON scenario.
 *
 * @example
 * ```ts
 * const fake = createFakeProvider(config, { clock: new ManualClock(0) });
 * ```
 */
export interface FakeProviderOptions {
  /** Drives limits, fault windows and reset headers. Latency sleeps always use real timers. Default `Date.now`. */
  clock?: FakeClock;
  /** Clock time (ms) of scenario t=0. Default: `clock.now()` when `start()` is called. */
  epochMs?: number;
}

/**
 * What reached the fake provider. A snapshot: read `fake.counters` again for fresh values.
 *
 * @example
 * ```ts
 * expect(fake.counters.requestsByModel['fast-a']).toBe(3);
 * expect(fake.counters.rateLimited).toBe(1);
 * ```
 */
export interface FakeProviderCounters {
  /** Requests received on the chat endpoints (including rejected ones). */
  requests: number;
  /** Any model name is a safe key (`__proto__` and `constructor` included). */
  requestsByModel: Record<string, number>;
  /** Responses by HTTP status (`'200'`, `'429'`, ...). Destroyed sockets have no status. */
  responsesByStatus: Record<string, number>;
  /** 429 responses sent, from limits and from faults. */
  rateLimited: number;
  /** Input tokens of replies served to completion. */
  tokensIn: number;
  /** Output tokens of replies served to completion. */
  tokensOut: number;
  tokensByModel: Record<string, { input: number; output: number }>;
  /** Sockets destroyed by the `connection_reset` fault. */
  connectionResets: number;
  /** Replies cut off midway by the `stream_cut` fault. */
  streamsCut: number;
  /** Streams ended by an in-stream error event (the `stream_error` fault; its non-streaming requests get an HTTP error and are not counted here). */
  streamErrors: number;
  /** How often each fault was applied. */
  faults: Partial<Record<FaultKind, number>>;
}

/**
 * Where a started fake provider listens.
 *
 * @example
 * ```ts
 * const { baseURL } = await fake.start();
 * const openai = new OpenAI({ apiKey: 'test', baseURL });        // OpenAI SDK: baseURL
 * const anthropic = new Anthropic({ apiKey: 'test', baseURL: url }); // Anthropic SDK: url (it adds /v1)
 * ```
 */
export interface FakeProviderAddress {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `url + '/v1'`, what the OpenAI SDK and `ChatOpenAI` expect. */
  baseURL: string;
  port: number;
}

/**
 * A fake provider: start it, point an SDK at it, assert on its counters, stop it.
 *
 * @example
 * ```ts
 * const fake = createFakeProvider(config);
 * const { baseURL } = await fake.start();
 * // ... requests ...
 * await fake.stop();
 * ```
 */
export interface FakeProvider {
  /**
   * Listens on `127.0.0.1` (port 0 = any free port, the default) and sets the scenario epoch. Rejects
   * while already started or starting.
   */
  start(opts?: { port?: number; host?: string }): Promise<FakeProviderAddress>;
  /** Closes the server and destroys every socket, including hanging requests and keep-alive ones. */
  stop(): Promise<void>;
  /** A snapshot of what reached the provider. */
  readonly counters: FakeProviderCounters;
  /** Clears counters, limit state and fault state, re-seeds the random source, restarts the id sequence and moves the epoch to now. */
  reset(): void;
  /** Replaces the fault timeline (validated). Fault state starts afresh. */
  setFaults(faults: FaultRule[]): void;
  /** Appends one fault rule (validated). */
  addFault(fault: FaultRule): void;
  /** Seconds since the scenario epoch, by the injected clock. */
  elapsedSeconds(): number;
  /** The validated configuration. */
  readonly config: FakeProviderConfig;
}
