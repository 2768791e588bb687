/**
 * @llm-resilience/core: the policy engine. See docs/README.md for the pipeline and one page per mechanism.
 * @packageDocumentation
 */
// Engine
export { createResilience } from './engine/createResilience';
export { Resilience } from './engine/Resilience';
export type { ResilienceEvents } from './engine/events';
export { extractText, extractUsage } from './engine/extract';
export { AttemptTimeoutError } from './engine/runAttempt';
export { unfinishedUsage } from './engine/unfinishedUsage';
export { nonStringIdentityField } from './engine/checkRequest';
export { shownValue, valueType } from './errors/describeValue';
export { closestName } from './errors/closestName';
export type {
  AttemptContext,
  AttemptRecord,
  ChatMessage,
  ExecuteResult,
  Identity,
  Logger,
  ModelCall,
  RequestRecord,
  ResilienceOptions,
  ResilienceRequest,
  SkippedTarget,
  StreamingResult,
  TextExtractor,
  Usage,
  UsageExtractor,
} from './engine/types';

// Policy
export { definePolicy, DEFAULT_FALLBACK_ON, DEFAULT_MESSAGES, MAX_ADVISED_FALLBACKS, type DefinePolicyOptions } from './policy/definePolicy';
export { parseDuration, type Duration } from './policy/duration';
export { policySchema } from './policy/schema';
export type {
  BreakerInput,
  BudgetInput,
  LimitRuleInput,
  PolicyInput,
  RetryInput,
  RouteInput,
  StandardSchemaLike,
  TargetInput,
  TrafficClassInput,
} from './policy/schema';
export type {
  AudienceMessages,
  BreakerPolicy,
  BudgetRule,
  Policy,
  ResolvedTarget,
  RetryPolicy,
  RoutePolicy,
  TrafficClass,
} from './policy/Policy';
export { costUsd } from './pricing/cost';

// Clock
export { ManualClock, MAX_TIMER_MS, systemClock, type Clock } from './clock';

// Errors
export { ERROR_KINDS, type ClassifiedError, type ErrorKind, type RateLimitSnapshot } from './errors/ErrorKind';
export { ResilienceError, PolicyConfigError, type PolicyIssue } from './errors/ResilienceError';
export { ChainExhaustedError, RequestFailedError } from './errors/ChainExhaustedError';
export { classifyError, classifyWithHintSource, type ClassifyErrorOptions, type RetryHintSource } from './errors/classifyError';
export { Redactor, redactSecrets, type RedactOptions, type TextRedactor } from './errors/Redactor';
export { originalCauseOf, redactedCause } from './errors/redactedCause';
export { isErrorKind } from './errors/isErrorKind';
export { httpErrorOf, httpMessageKind, retryAfterSeconds, type HttpErrorInfo } from './errors/httpErrorOf';
export {
  headerGetter,
  parseRetryAfterMs,
  readRateLimitHeaders,
  retryAfterFromRateLimit,
  retryInfoDelayMs,
  type HeaderGetter,
  type HeadersLike,
} from './errors/retryHints';

// Limits
export type { LimitAdjustment, LimitCharge, LimiterStore, LimitState, MaybePromise, ReserveResult } from './limits/LimiterStore';
export type { FailedCallCharge, LimitContext, LimitMetric, LimitRule, ScopeDimension, UsageAmounts } from './limits/LimitRule';
export { MemoryLimiterStore, CONCURRENCY_RETRY_MS, type MemoryLimiterStoreOptions } from './limits/MemoryLimiterStore';
export { limitKey, escapeKeyValue, MAX_KEY_VALUE_LENGTH } from './limits/limitKey';
export {
  Limiter,
  Reservation,
  type LimitDecision,
  type LimitDenied,
  type LimiterOptions,
  type LimitPhase,
  type ReservedLimit,
  type ReserveOptions,
} from './limits/Limiter';
export { RateLimitExceededError, type RateLimitExceededDetails } from './limits/RateLimitExceededError';

// Tokens
export type { Tokenizer } from './tokens/Tokenizer';
export { defaultTokenizer, tokenEncodingFor, type TokenEncoding } from './tokens/defaultTokenizer';
export { heuristicTokenCount, CHARS_PER_TOKEN } from './tokens/heuristicTokenCount';
export { estimateInputTokens, type TokenEstimateInput } from './tokens/estimateInputTokens';

// Retry
export { constantBackoff, decorrelatedBackoff, exponentialBackoff, type Backoff } from './retry/backoff';
export { RetryBudget } from './retry/RetryBudget';
export { unitRandom } from './retry/unitRandom';

// Breakers
export { TypedEmitter, type Disposable, type Listener, type TypedEmitterOptions } from './events/TypedEmitter';
export {
  CircuitBreaker,
  type BreakerAdmission,
  type BreakerDenial,
  type BreakerSnapshot,
  type BreakerTransition,
  type CircuitBreakerEvents,
  type CircuitBreakerOptions,
  type FailureDetails,
  type ProbeRef,
} from './breaker/CircuitBreaker';
export {
  BreakerRegistry,
  type BreakerChangeEvent,
  type BreakerOutcome,
  type BreakerRegistryEvents,
  type BreakerRegistryOptions,
  type BreakerStateSync,
  type BreakerStatus,
  type TargetAdmission,
} from './breaker/BreakerRegistry';
export { isBreakerState, type BreakerReason, type BreakerState, type BreakerStateName } from './breaker/BreakerState';
export { breakerKey, parseBreakerKey, type BreakerScope } from './breaker/breakerKey';
export { MemoryBreakerSyncHub } from './breaker/MemoryBreakerSyncHub';
export { InvalidBreakerStateError } from './breaker/InvalidBreakerStateError';

// Pacing
export { MemoryPacingSyncHub, isLow, PACING_PUBLISH_INTERVAL_MS, type PacingStateSync } from './pacing/PacingStateSync';
export { shareRetryAfterMs } from './pacing/shareRetryAfterMs';

// Scheduling
export { PriorityScheduler } from './scheduler/PriorityScheduler';
export { QueueRejectedError, QUEUE_REJECT_REASONS, type QueueRejectedDetails, type QueueRejectReason } from './scheduler/QueueRejectedError';
export type {
  Admission,
  PrioritySchedulerOptions,
  QueueEvent,
  Scheduled,
  ScheduleItem,
  SchedulerStats,
  ShutdownOptions,
  TrafficClassQueueStats,
} from './scheduler/types';

// Validation
export { parseJsonReply } from './validation/parseJsonReply';
export { validateOutput, type OutputValidation, type ValidateOutputOptions } from './validation/validateOutput';

// Observability
export {
  combineMetrics,
  guardMetrics,
  noopMetrics,
  type AttemptMetricContext,
  type BreakerMetricEvent,
  type Metrics,
  type QueueMetricEvent,
  type LateUsageMetricEvent,
} from './observability/Metrics';
export {
  OpenTelemetryMetrics,
  OTEL_ATTRIBUTES,
  OTEL_METRIC_NAMES,
  type OpenTelemetryMetricsOptions,
} from './observability/OpenTelemetryMetrics';
export { PrometheusMetrics, type PrometheusMetricsOptions } from './observability/PrometheusMetrics';
export { messageKindOf, userMessageFor, type MessageAudience, type MessageKind, type MessageOverrides } from './observability/userMessage';
export { toLogRecord, SEED_LOG_FIELDS, type LogRecord, type ToLogRecordOptions } from './observability/recordToLog';
export { usedTokens } from './observability/recordFacts';
export { MissingPeerDependencyError } from './observability/loadOptionalPeer';
