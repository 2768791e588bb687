import type { Clock } from '../clock';
import type { ClassifiedError, ErrorKind, RateLimitSnapshot } from '../errors/ErrorKind';
import type { LimiterStore } from '../limits/LimiterStore';
import type { ResolvedTarget } from '../policy/Policy';
import type { Tokenizer } from '../tokens/Tokenizer';

/**
 * Who a request is for. Each value keys the limits and budgets whose scope names it.
 *
 * @example
 * ```ts
 * const who: Identity = { user: 'u1', team: 'support', tenant: 'acme', environment: 'prod' };
 * ```
 */
export interface Identity {
  user?: string;
  team?: string;
  tenant?: string;
  environment?: string;
}

/**
 * A chat message, as far as the engine needs it for token estimation.
 *
 * @example
 * ```ts
 * const m: ChatMessage = { role: 'user', content: 'Summarize this contract' };
 * ```
 */
export interface ChatMessage {
  role: string;
  content: unknown;
}

/**
 * One LLM request as the engine sees it. Only `route` is required.
 *
 * @example
 * ```ts
 * const req: ResilienceRequest = {
 *   route: 'support_reply', identity: { user: 'u1', tenant: 'acme' }, dataClass: 'internal',
 *   input: { messages }, maxOutputTokens: 300,
 * };
 * ```
 */
export interface ResilienceRequest {
  route: string;
  identity?: Identity;
  /** Data class of the content; only targets approved for it are eligible, on every fallback step. */
  dataClass?: string;
  /** The prompt, for token estimation (never recorded unless the policy enables `recordContent`). */
  input?: { messages?: readonly ChatMessage[]; prompt?: string; system?: string };
  /** Known input token count; skips estimation. */
  inputTokens?: number;
  /** Output cap (`max_tokens`); reserved as the output estimate. Defaults to the target's `maxOutputTokens` or 1024. */
  maxOutputTokens?: number;
  /** Traffic class; defaults to the route's. */
  priority?: string;
  /** Absolute deadline (epoch ms) for the whole request, queue wait included. */
  deadline?: number;
  /** Cancels the request (queue wait, backoff and the provider call). */
  signal?: AbortSignal;
  /** Correlates logs and records; generated when absent. */
  requestId?: string;
  /** Who reads the failure message; defaults to the route's audience. */
  audience?: 'internal' | 'customer';
  /** The call streams: the engine settles when the adapter calls `result.complete()`. */
  stream?: boolean;
}

/**
 * Token usage reported by a provider.
 *
 * @example
 * ```ts
 * const u: Usage = { inputTokens: 1800, outputTokens: 420 };
 * ```
 */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

/**
 * What the engine passes to each attempt of the caller's model call.
 *
 * @example
 * ```ts
 * engine.execute(req, (target, ctx) =>
 *   openai.chat.completions.create({ model: target.model, messages }, { signal: ctx.signal }));
 * ```
 */
export interface AttemptContext {
  /**
   * Aborts on the caller's signal, the attempt timeout or the deadline. Pass it to the SDK: a call that
   * ignores it keeps running after the attempt was cut off, and keeps its concurrency slots and its
   * token and cost charges until it ends, at most one more timeout; what it answers within that time is
   * charged, and a stream it opens is closed unread.
   */
  readonly signal: AbortSignal;
  /** 1-based attempt number across the whole chain. */
  readonly attempt: number;
  /** 1-based attempt number on this target. */
  readonly targetAttempt: number;
  readonly requestId: string;
  readonly route: string;
  /** Absolute deadline of the request, if any. */
  readonly deadline?: number;
  /** Output-token cap to send (`max_tokens`). */
  readonly maxOutputTokens: number;
  /** Set when the previous reply failed validation and the route asks for a stricter retry. */
  readonly repair?: { readonly reason: string };
  /** Report response headers (for proactive pacing from `x-ratelimit-remaining-*`). */
  reportHeaders(headers: unknown): void;
  /**
   * Report real usage when the return value does not carry it in a known shape. A call that reports
   * usage and then throws (its reply was answered, then rejected by its own parser or schema) is
   * charged that usage, as a reply the route's output schema rejects is, instead of being refunded.
   */
  reportUsage(usage: Usage): void;
}

/**
 * The caller's model call: called once per attempt with the target to use.
 *
 * @example
 * ```ts
 * const call: ModelCall<ChatCompletion> = (t, ctx) => client.chat.completions.create({ model: t.model, messages }, { signal: ctx.signal });
 * ```
 */
export type ModelCall<T> = (target: ResolvedTarget, ctx: AttemptContext) => Promise<T>;

/**
 * Receives engine diagnostics. Never receives prompt text or keys unless `recordContent` is on.
 *
 * @example
 * ```ts
 * createResilience(policy, { logger: { warn: (msg, f) => pino.warn(f, msg) } });
 * ```
 */
export interface Logger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
  error?(message: string, fields?: Record<string, unknown>): void;
}

/**
 * One attempt in a request record.
 *
 * @example
 * ```ts
 * record.attempts.map((a) => `${a.target}:${a.outcome}:${a.errorKind ?? ''}`);
 * ```
 */
export interface AttemptRecord {
  target: string;
  provider: string;
  model: string;
  attempt: number;
  targetAttempt: number;
  startedAt: number;
  latencyMs: number;
  outcome: 'success' | 'error' | 'invalid_output';
  errorKind?: ErrorKind;
  status?: number;
  /** The failure's retry hint (ms), when it gave one that a wait can meet. */
  retryAfterMs?: number;
  /**
   * Set when the failure said the request can never pass on this target (a 429 "Request too large": its
   * hint is `Infinity`, which JSON cannot carry, so `retryAfterMs` is left out).
   */
  neverFits?: true;
  /** Wait before this attempt (backoff, provider hint or limiter wait). */
  waitedMs: number;
  breaker?: string;
  /**
   * Set on the first attempt of a chain that started over after an `onExhausted: 'queue'` wait: going
   * back to the primary there is a new run of the chain, not a fallback (starting on another target,
   * the primary skipped, is one).
   */
  requeued?: true;
}

/**
 * Why a target in the chain was not tried.
 *
 * @example
 * ```ts
 * record.skipped; // [{ target: 'fast-b', reason: 'data_class' }]
 * ```
 */
export interface SkippedTarget {
  target: string;
  reason: 'data_class' | 'context_window' | 'cost_ceiling' | 'breaker_open' | 'limited' | 'paced' | 'failed_earlier';
  detail?: string;
}

/**
 * One record per request: the seed's log fields plus attempts, skips, breaker states and queue wait.
 * Contains no prompt text or keys unless `recordContent` is on.
 *
 * @example
 * ```ts
 * engine.events.on('record', (r) => log.info(r));
 * ```
 */
export interface RequestRecord {
  request_id: string;
  user_id?: string;
  team_id?: string;
  tenant_id?: string;
  route: string;
  priority: string;
  data_class?: string;
  primary_model: string;
  final_model?: string;
  final_target?: string;
  fallback_used: boolean;
  retry_count: number;
  /** HTTP status or error code of the last failure, if any. */
  error_code?: number | string;
  /** Kind of the error that ended the request (undefined on success). */
  error_kind?: ErrorKind;
  outcome: 'success' | 'failure';
  latency_ms: number;
  queue_wait_ms: number;
  input_tokens: number;
  output_tokens: number;
  /** Estimated before the call (worst case, USD). */
  estimated_cost: number;
  /** From the real usage (USD). */
  actual_cost: number;
  attempts: AttemptRecord[];
  skipped: SkippedTarget[];
  /** Breaker state of each target when the request ended. */
  breakers: Record<string, string>;
  validation_failures: number;
  started_at: number;
  /** Only with `recordContent: true`. */
  content?: { input?: unknown };
}

/**
 * What `execute` resolves with.
 *
 * @example
 * ```ts
 * const { value, output, record } = await engine.execute(req, call);
 * ```
 */
export interface ExecuteResult<T, O = unknown> {
  value: T;
  /** The validated structured output when the route declares an output schema. */
  output?: O;
  target: ResolvedTarget;
  record: RequestRecord;
}

/**
 * A streaming execution: the first chunk arrived (no more fallback); call `complete` or `fail`
 * when the stream ends so the reservation is settled and the record emitted.
 *
 * `fail(error)` records the failure and releases the reservations as for a failed call (request
 * counts stay charged, token and cost estimates are refunded). `fail(error, usage)` charges `usage`
 * instead: what the stream is known to have used before it broke off (the provider bills the tokens
 * it generated), e.g. the reserved output for a stream its reader stopped.
 *
 * Until one of them is called the request holds everything it reserved (concurrency slots included)
 * and emits no record: there is no timeout on an open stream. Call one in every path, `finally`
 * included; the adapters (Express gateway, LangChain) do. As a safety net only, a result dropped
 * unfinished is completed with the estimate when it is garbage-collected (whenever that is, if ever),
 * and an error is logged.
 *
 * @example
 * ```ts
 * const r = await engine.execute({ ...req, stream: true }, call);
 * try {
 *   for await (const chunk of r.value) send(chunk);
 *   r.complete({ inputTokens: 10, outputTokens: 200 });
 * } catch (err) {
 *   r.fail(err, { inputTokens: 10, outputTokens: 200 }); // it had started: charge what it may have used
 * }
 * ```
 */
export interface StreamingResult<T> extends ExecuteResult<T> {
  complete(usage?: Usage): RequestRecord;
  fail(error: unknown, usage?: Usage): RequestRecord;
}

/**
 * Reads usage out of a call's return value (OpenAI, Anthropic and LangChain shapes by default).
 *
 * @example
 * ```ts
 * const usage: UsageExtractor = (v) => ({ inputTokens: v.meta.in, outputTokens: v.meta.out });
 * ```
 */
export type UsageExtractor = (value: unknown) => Usage | undefined;

/**
 * Reads the reply text out of a call's return value, for output validation.
 *
 * @example
 * ```ts
 * const text: TextExtractor = (v) => v.choices[0].message.content;
 * ```
 */
export type TextExtractor = (value: unknown) => string | undefined;

/**
 * Options of `createResilience`.
 *
 * @example
 * ```ts
 * createResilience(policy, { clock: new ManualClock(), store: new MemoryLimiterStore(), random: () => 0.5 });
 * ```
 */
export interface ResilienceOptions {
  clock?: Clock;
  store?: LimiterStore;
  tokenizer?: Tokenizer;
  logger?: Logger;
  /** Random source for backoff jitter, the spread of a retry after a quota reset and breaker ramp-up admission (default `Math.random`). */
  random?: () => number;
  usage?: UsageExtractor;
  text?: TextExtractor;
  /** gRPC-style retry budget per provider (default `{ maxTokens: 20, tokenRatio: 0.2 }`, field by field: `{ maxTokens: 40 }` keeps the ratio 0.2); `false` disables it. */
  retryBudget?: { maxTokens?: number; tokenRatio?: number } | false;
  /**
   * Metrics sink (see `OpenTelemetryMetrics`, `PrometheusMetrics`). The engine guards it: a method that
   * throws is reported to `logger.error` (else `console.error`) and never fails the request.
   */
  metrics?: import('../observability/Metrics').Metrics;
  /** Output-token estimate when neither the request nor the target give one. Default 1024. */
  defaultMaxOutputTokens?: number;
  /** Shares breaker state with other processes (see `@llm-resilience/redis`). */
  breakerSync?: import('../breaker/BreakerRegistry').BreakerStateSync;
  /** Shares providers' remaining-quota state with other processes for proactive pacing. */
  pacingSync?: import('../pacing/PacingStateSync').PacingStateSync;
  /**
   * The app's own credentials (and patterns) to cut out of provider and error text, besides the key
   * formats the core always cuts: the engine cannot see the keys your `call` uses, so a key of another
   * format that a provider echoes in a 401 or quota body (an Azure key, a gateway token) would otherwise
   * reach `alert` events, error messages, records and log fields. Once set, the `cause` of the
   * `ChainExhaustedError` / `RequestFailedError` the engine throws (and of their `last` / `classified`)
   * is a redacted stand-in for what the call threw (see `redactedCause`), not the SDK's error object
   * with its headers and body (`originalCauseOf(err)` gives that back, for debugging). Checked at start-up: a secret shorter than 8 characters or a pattern
   * that is not a RegExp fails `createResilience`. Default: none. See `RedactOptions`.
   */
  redact?: import('../errors/Redactor').RedactOptions;
}

/** Internal: a classified failure inside the engine. */
export type Failure = ClassifiedError;
/** Internal: pacing information per target. */
export type Pacing = RateLimitSnapshot;
