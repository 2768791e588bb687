import { MAX_TIMER_MS, systemClock, type Clock } from '../clock';
import { BreakerRegistry, NO_PROBE } from '../breaker/BreakerRegistry';
import { ChainExhaustedError, RequestFailedError } from '../errors/ChainExhaustedError';
import { classifyError, classifyWithHintSource } from '../errors/classifyError';
import { redactQuoted } from '../errors/redactQuoted';
import { redactedCause } from '../errors/redactedCause';
import { namesOwnRules, Redactor } from '../errors/Redactor';
import type { ClassifiedError, ErrorKind, RateLimitSnapshot } from '../errors/ErrorKind';
import { ResilienceError } from '../errors/ResilienceError';
import { readRateLimitHeaders } from '../errors/retryHints';
import { TypedEmitter, type Disposable } from '../events/TypedEmitter';
import { holdsInFlightSlot, Limiter, type LimitDecision, type LimitDenied, type Reservation, type ReserveOptions } from '../limits/Limiter';
import { isPromiseLike, type MaybePromise } from '../limits/LimiterStore';
import type { Admission, Scheduled, ScheduleItem } from '../scheduler/types';
import type { LimitContext, LimitRule, UsageAmounts } from '../limits/LimitRule';
import { MemoryLimiterStore } from '../limits/MemoryLimiterStore';
import { RateLimitExceededError } from '../limits/RateLimitExceededError';
import type { LimiterStore } from '../limits/LimiterStore';
import { guardMetrics, noopMetrics, type Metrics } from '../observability/Metrics';
import { messageKindOf, userMessageFor } from '../observability/userMessage';
import type { BudgetRule, Policy, ResolvedTarget, RoutePolicy, TrafficClass } from '../policy/Policy';
import { costUsd } from '../pricing/cost';
import { unitRandom } from '../retry/unitRandom';
import { RetryBudget } from '../retry/RetryBudget';
import { isLow, PACING_PUBLISH_INTERVAL_MS, type PacingStateSync } from '../pacing/PacingStateSync';
import { PACING_MARGIN, ProviderQuota, type QuotaNeed } from '../pacing/ProviderQuota';
import { SentCallLog } from '../pacing/SentCallLog';
import { quotaShareRetryAfterMs } from '../pacing/shareRetryAfterMs';
import { isNeverFits } from '../errors/isNeverFits';
import { PriorityScheduler } from '../scheduler/PriorityScheduler';
import { QueueRejectedError } from '../scheduler/QueueRejectedError';
import { defaultTokenizer } from '../tokens/defaultTokenizer';
import { heuristicTokenCount } from '../tokens/heuristicTokenCount';
import { estimateInputTokens } from '../tokens/estimateInputTokens';
import type { Tokenizer } from '../tokens/Tokenizer';
import { validateOutput } from '../validation/validateOutput';
import type { ResilienceEvents } from './events';
import { checkResilienceOptions } from './checkOptions';
import { checkRequest } from './checkRequest';
import { closeUnread } from './closeUnread';
import { guardLogger } from './guardLogger';
import { extractText, extractUsage } from './extract';
import { isInstance } from './isInstance';
import { unfinishedUsage } from './unfinishedUsage';
import { plausibleUsage } from './plausibleUsage';
import { AttemptContextImpl, AttemptTimeoutError, runAttempt } from './runAttempt';
import { holdsSlot, TargetWaiters } from './TargetWaiters';
import type {
  AttemptRecord,
  ExecuteResult,
  ModelCall,
  RequestRecord,
  ResilienceOptions,
  ResilienceRequest,
  SkippedTarget,
  StreamingResult,
  TextExtractor,
  Usage,
  UsageExtractor,
} from './types';

const DEFAULT_OUTPUT_TOKENS = 1024;
/**
 * Per-provider retry budget: 20 tokens, 0.2 back per success. Retries continue while fewer than about
 * one attempt in six fails (a 429 phase of that size is absorbed by honouring Retry-After), and stop
 * by themselves in an outage (10 failures in a row), so a fleet cannot turn an outage into a retry storm.
 */
const DEFAULT_RETRY_BUDGET = { maxTokens: 20, tokenRatio: 0.2 };
/** The failure kind a chain exhausted only by skips ends with, per first skip reason. */
const SKIP_KINDS: Record<SkippedTarget['reason'], ErrorKind> = {
  context_window: 'context_length',
  breaker_open: 'overloaded',
  limited: 'rate_limited',
  paced: 'rate_limited',
  // Given per skip: the kind the target failed with.
  failed_earlier: 'unknown',
  data_class: 'invalid_request',
  cost_ceiling: 'invalid_request',
};
/** Bounds of the wait before an exhausted chain on an `onExhausted: 'queue'` route runs again. */
const MIN_REQUEUE_MS = 1_000;
const MAX_REQUEUE_MS = 60_000;
/** Reason of the engine's own signal, aborted by `shutdown()`. */
const SHUT_DOWN = Object.freeze({ name: 'ShutDown' });
/** Reason given to the signal that cancels a held reservation's time limit once its call ended. */
const HOLD_ENDED = Object.freeze({ name: 'HoldEnded' });
const HEURISTIC_TOKENIZER: Tokenizer = { count: (text) => heuristicTokenCount(text) };

/** What a call takes from a provider's quotas: one request and its tokens (estimated, or used). */
function pacingNeed(usage: Usage): QuotaNeed {
  return {
    requests: 1,
    tokens: usage.inputTokens + usage.outputTokens,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
  };
}

/**
 * What an attempt counted against its target's pacing quota before its call (see spendPacing): the
 * quota object itself, so that what is given back once the attempt has ended goes to that quota and
 * not to one a newer provider report put in its place (see settlePacing). A share counted for a retry
 * that waits out a 429 (see spendRetryShare) moves to each quota that replaces it until its call goes
 * out (see replacePacing), so `quota` changes then.
 */
interface PacingSpend {
  /**
   * The quota it was counted against; unset for a call sent while the target had none, logged all the
   * same for a report from another process observed before it (see sentPaced).
   */
  quota: ProviderQuota | undefined;
  readonly need: QuotaNeed;
  /** When its call went out (the engine's clock); unset until then. */
  sentAt?: number;
  /** Once its attempt has ended: what it still takes (its need less what was given back). */
  kept?: QuotaNeed;
}

/**
 * How an attempt that pacing counted ended, for settlePacing: never sent (`unsent`), refused by the
 * provider or failed without a reply (`refused`), or answered with what it used.
 */
type PacingOutcome = 'unsent' | 'refused' | Usage;

let requestCounter = 0;
const idPrefix = Math.random().toString(36).slice(2, 8);
function newRequestId(): string {
  return `req_${idPrefix}${(++requestCounter).toString(36)}`;
}

/** What one request carries through the pipeline. */
interface RequestState {
  /** Replaced by a copy without its signal once the request is a stream handed out (see droppedStream). */
  request: ResilienceRequest;
  route: RoutePolicy;
  readonly trafficClass: TrafficClass;
  readonly requestId: string;
  readonly startedAt: number;
  /** The earliest of the caller's, its route's and (after a budget downgrade) the new route's deadline. */
  deadline: number | undefined;
  readonly ctx: LimitContext;
  readonly inputTokens: number;
  readonly record: RequestRecord;
  readonly audience: 'internal' | 'customer';
  /** Cost of replies that were received but rejected by output validation (billed all the same). */
  rejectedCostUsd: number;
  /** The first skipped target, as a failure (see `skip`). */
  skipFailure?: ClassifiedError;
  /**
   * Of the current run of the chain: the shortest wait a `paced` skip refused, while every skip so far
   * was `paced` (undefined after any other skip). When the run ends on skips alone, it is when a target
   * could take the request again: the chain's `retryAfterMs` (`Retry-After`, the requeue's wait).
   */
  pacedWaitMs?: number;
  /** Some skip of the current run was not `paced` (its wait is unknown): no `retryAfterMs` from skips. */
  unpacedSkip?: boolean;
  /** Routes a budget downgrade moved this request away from (it is never moved back to one). */
  leftRoutes?: string[];
  /** Per target, calls of this request that were cut off and still hold its capacity (see holdUntilFinished). */
  holding?: Map<string, number>;
  /** One promise per held call of this request, resolved once its reservation was given back. */
  heldEnds?: Promise<void>[];
  /** What the request-scoped admission holds (one reservation of its limits and budgets), once admitted. */
  admitted: RequestAdmission;
  /**
   * What calls of this request that were cut off and answered all the same used (the provider billed
   * them): charged to the request-scoped reservation and budgets on top of the request's own usage.
   */
  lateUsage?: UsageAmounts;
  /**
   * What earlier runs of the chain learned (a route with `onExhausted: 'queue'` runs it again): the
   * smallest context window that can take the prompt (a `context_length` failure), the targets that
   * failed with an error no wait fixes (`quota_exhausted`, `auth`), and when targets that answered with
   * a retry hint may be called again.
   */
  minContext: number;
  failedTargets?: Map<string, ErrorKind>;
  /** The chain starts over after a requeue wait: its next attempt record says so (`requeued`). */
  requeuedRun?: boolean;
  notBefore?: Map<string, number>;
  /**
   * A clock reading that is still current: `startedAt` while nothing slow has happened since (no
   * tokenizing, no budget lookup, no waiting admission), for the scheduler and the first attempt's
   * breaker check. Cleared once something may have taken time, and once the first attempt used it.
   */
  clockAt: number | undefined;
}

/** What request-scoped admission holds for the request (nothing when no request-scoped rule applies). */
interface RequestAdmission {
  /** The request-scoped limits and the budgets, reserved together (one store call: all or nothing). */
  reservation?: Reservation;
}

const NOTHING_ADMITTED: RequestAdmission = Object.freeze({});

interface Success<T> {
  value: T;
  output?: unknown;
  target: ResolvedTarget;
  usage: Usage;
  targetReservation: Reservation | undefined;
  /** Clock reading when the successful attempt ended, reused for the record when nothing ran since. */
  endedAt?: number;
  /** A stream's pacing spend, settled with what it used when it completes (see settlePacing). */
  streamPacing?: PacingSpend | undefined;
  /** The output tokens the successful attempt was admitted with (its `ctx.maxOutputTokens`). */
  estimatedOutput?: number;
}

/**
 * The policy engine. Every adapter (Express, NestJS, LangChain) drives one instance through
 * {@link Resilience.execute}: admit -> route -> attempt -> classify -> decide -> validate -> settle -> record.
 *
 * @example
 * ```ts
 * const engine = createResilience(policy);
 * const { value, record } = await engine.execute(
 *   { route: 'chat', identity: { user: 'u1' }, input: { messages }, maxOutputTokens: 300 },
 *   (target, ctx) => openai.chat.completions.create({ model: target.model, messages, max_tokens: ctx.maxOutputTokens }, { signal: ctx.signal }),
 * );
 * ```
 */
export class Resilience {
  readonly policy: Policy;
  readonly events = new TypedEmitter<ResilienceEvents>();
  readonly clock: Clock;
  readonly store: LimiterStore;
  readonly breakers: BreakerRegistry;
  readonly scheduler: PriorityScheduler;
  /** Attempts waiting for a target-scoped concurrency slot, woken when a call gives one back. */
  private readonly targetWaiters: TargetWaiters;
  private readonly limiter: Limiter;
  /** The budgets alone: their spend, for the downgrade marks. */
  private readonly budgetLimiter: Limiter;
  /**
   * The limits and the budgets together, for request admission when there are budgets: one
   * reservation, all or nothing in one store call. Reserved in two, a request denied by a limit held
   * its budget for a moment, and on a shared store another request reading that spend was refused by
   * its budget for good (budgets never queue). `this.limiter` when there are no budgets.
   */
  private readonly admissionLimiter: Limiter;
  /** The rules of {@link budgetLimiter}: a denial of {@link admissionLimiter} on one of them is the budget's. */
  private readonly budgetRules: ReadonlySet<LimitRule>;
  private readonly tokenizer: Tokenizer;
  private readonly customTokenizer: boolean;
  private readonly random: () => number;
  private readonly usageOf: UsageExtractor;
  private readonly textOf: TextExtractor;
  private readonly metrics: Required<Metrics>;
  private readonly logger: ResilienceOptions['logger'];
  /** Cuts the app's secrets (option `redact`) and known key formats out of provider and error text. */
  private readonly redactor: Redactor;
  /** Option `redact` set: the causes of the errors the engine throws are redacted stand-ins. */
  private readonly redactsCauses: boolean;
  /** Set once an invalid tokenizer count has been reported. */
  private warnedTokenizer = false;
  /** Set once a failing `usage` / `text` extractor has been reported. */
  private readonly warnedExtractor = { usage: false, text: false };
  /** Targets on which a cut-off call was found still running (see holdUntilFinished): warned once each. */
  private readonly warnedIgnoresSignal = new Set<string>();
  private readonly retryBudgetOptions: { maxTokens?: number; tokenRatio?: number } | false;
  private readonly retryBudgets = new Map<string, RetryBudget>();
  /** Reservations of cut-off calls that are still running, by the function that closes each (see holdUntilFinished). */
  private readonly held = new Set<(settle: boolean, value?: unknown) => Promise<void>>();
  /**
   * Streamed requests whose `StreamingResult` nobody completes or fails hold their reservations (a
   * concurrency slot) for good: one that is garbage-collected unfinished is completed with its
   * estimate then, and an error logged. A safety net for a forgotten path, not a way to end streams.
   */
  private readonly abandonedStreams = new FinalizationRegistry<() => void>((finish) => {
    try {
      finish();
    } catch (e) {
      // Not rethrown: here it would be an uncaught exception, and the process would exit.
      this.logger?.error?.('finishing a dropped streamed request failed', { error: String(e) });
    }
  });
  /** Request-scoped settles and fails waiting for held calls (see closeRequest), until they are applied. */
  private readonly deferredCloses = new Set<Promise<void>>();
  private readonly reserveOptionsByClass = new Map<TrafficClass, ReserveOptions>();
  private readonly pacing = new Map<string, ProviderQuota>();
  /**
   * Per target, the shares counted for retries that wait out a 429 (the time their share refills, see
   * retryShareHint) and have not gone out yet: a newer report (a 429's, a reply's headers, another
   * process') cannot count them, so each is counted again against the quota that replaces theirs.
   */
  private readonly pendingRetryShares = new Map<string, Set<PacingSpend>>();
  /**
   * Per target, the calls pacing counted that went out lately: a report observed before some of them
   * that replaces the quota only later (another process' snapshot, late) cannot count them, so they
   * are counted against it again (see replacePacing).
   */
  private readonly sentPacing = new Map<string, SentCallLog<PacingSpend & { sentAt: number }>>();
  private readonly pacingSync: PacingStateSync | undefined;
  private readonly pacingPublishedAt = new Map<string, number>();
  private readonly pacingSubscription: Disposable | undefined;
  private readonly defaultOutputTokens: number;
  private closed = false;
  /** Aborted by {@link shutdown}: ends the waits of requeued chains (see runChainOrRequeue). */
  private readonly stopping = new AbortController();
  /** Set by a {@link shutdown} with `drain`: admissions still being answered are admitted, not refused. */
  private draining = false;
  /** Request-scoped reservations the store is still answering on the fast path (see admitLimits). */
  private readonly admitting = new Set<Promise<void>>();

  constructor(policy: Policy, options: ResilienceOptions = {}) {
    checkResilienceOptions(options);
    this.policy = policy;
    this.clock = options.clock ?? systemClock;
    this.store = options.store ?? new MemoryLimiterStore({ clock: this.clock });
    this.limiter = new Limiter(policy.limits, this.store, { clock: this.clock });
    const budgetRules: LimitRule[] = policy.budgets.map((b) => ({
      id: b.id,
      scope: [...b.scope],
      metric: 'cost' as const,
      limit: b.limitUsd,
      windowMs: b.windowMs,
      fixedWindow: true,
      onFailure: 'release' as const,
      ...(b.match ? { match: b.match } : {}),
    }));
    this.budgetLimiter = new Limiter(budgetRules, this.store, { clock: this.clock });
    this.budgetRules = new Set(budgetRules);
    // Budgets first: when a request can never fit a budget nor a limit (both deny with no end), the
    // first is named, and a budget's denial may still move it to a cheaper route (or says `exceeded`).
    this.admissionLimiter = budgetRules.length === 0 ? this.limiter : new Limiter([...budgetRules, ...policy.limits], this.store, { clock: this.clock });
    this.tokenizer = options.tokenizer ?? defaultTokenizer;
    this.customTokenizer = options.tokenizer !== undefined;
    this.random = options.random === undefined ? Math.random : unitRandom(options.random);
    this.usageOf = options.usage ?? extractUsage;
    this.textOf = options.text ?? extractText;
    this.redactor = new Redactor(options.redact);
    this.redactsCauses = namesOwnRules(options.redact);
    // A logger that throws must not fail a request (it is called from inside attempts); the error text
    // in its fields is redacted like every other provider or error text.
    this.logger = options.logger && guardLogger(options.logger, (text) => this.redactor.redact(text));
    // Like a listener of `events`, a sink that throws is reported and never fails the request it reports.
    this.metrics = options.metrics ? guardMetrics(options.metrics, (error, method) => this.sinkFailed(error, method)) : noopMetrics;
    // Field by field: `{ maxTokens: 40 }` keeps the engine's default ratio (RetryBudget's own are lower).
    const rb = options.retryBudget;
    this.retryBudgetOptions = rb === false ? false : { ...DEFAULT_RETRY_BUDGET, ...definedFields(rb ?? {}) };
    this.defaultOutputTokens = options.defaultMaxOutputTokens ?? DEFAULT_OUTPUT_TOKENS;
    this.breakers = new BreakerRegistry({
      policy: policy.breaker,
      providerTargets: targetsPerProvider(policy),
      clock: this.clock,
      random: this.random,
      ...(options.breakerSync ? { sync: options.breakerSync } : {}),
    });
    this.pacingSync = options.pacingSync;
    this.pacingSubscription = this.pacingSync?.subscribe?.((targetId, snap) => this.receivePacing(targetId, snap));
    this.breakers.events.on('breaker', (e) => {
      this.events.emit('breaker', e);
      this.metrics.breaker(e);
    });
    this.targetWaiters = new TargetWaiters(this.clock);
    this.scheduler = new PriorityScheduler({
      clock: this.clock,
      classes: policy.trafficClasses,
      onEvent: (e) => {
        const depth = e.type === 'enqueued' ? e.queued : this.scheduler.queuedOf(e.trafficClass);
        const event: ResilienceEvents['queue'] = {
          trafficClass: e.trafficClass,
          event: e.type,
          depth,
          ...(e.type !== 'enqueued' ? { waitedMs: e.waitedMs } : {}),
          ...(e.type === 'rejected' ? { reason: e.reason } : {}),
        };
        this.events.emit('queue', event);
        this.metrics.queue(event);
      },
    });
  }

  /**
   * Runs `call` under the policy of `request.route`: limits and budgets are reserved first (live
   * traffic waits briefly, batch traffic queues), then the chain is tried in order with retries,
   * fallbacks, breakers and output validation; usage is settled and one record emitted.
   *
   * @example
   * ```ts
   * const { value } = await engine.execute({ route: 'classification', identity: { user } }, (t, ctx) =>
   *   client.chat.completions.create({ model: t.model, messages, max_tokens: ctx.maxOutputTokens }, { signal: ctx.signal }));
   * ```
   */
  execute<T>(request: ResilienceRequest & { stream: true }, call: ModelCall<T>): Promise<StreamingResult<T>>;
  execute<T>(request: ResilienceRequest, call: ModelCall<T>): Promise<ExecuteResult<T>>;
  async execute<T>(request: ResilienceRequest, call: ModelCall<T>): Promise<ExecuteResult<T> | StreamingResult<T>> {
    const s = this.begin(request);
    const admission = this.admit(s);
    if (isPromiseLike(admission)) {
      s.clockAt = undefined; // admission waited
      s.admitted = await admission;
    } else {
      s.admitted = admission;
    }
    let success: Success<T>;
    try {
      success = await (s.route.onExhausted === 'queue' ? this.runChainOrRequeue(s, call) : this.runChain(s, call));
    } catch (err) {
      // Replies received (and billed) before the request failed stay charged; otherwise it is a failure.
      await this.closeRequest(s, s.rejectedCostUsd > 0 ? { inputTokens: 0, outputTokens: 0, costUsd: s.rejectedCostUsd } : undefined);
      if (s.rejectedCostUsd > 0) s.record.actual_cost = s.rejectedCostUsd;
      this.scheduler.notify();
      throw this.finishFailure(s, err);
    }
    if (request.stream) {
      // Its reservations are held until complete() or fail(); one dropped without either is finished
      // when it is garbage-collected (see abandonedStreams, droppedStream and streamingResult).
      const end = { ended: false };
      // What the call was admitted with: usage reported when the stream opened may be partial (Anthropic's
      // first event says output_tokens: 1), so neither a bad field at the end nor a dropped stream falls
      // back to it.
      const estimate: Usage = { inputTokens: s.inputTokens, outputTokens: success.estimatedOutput ?? success.usage.outputTokens };
      const checked = (usage: Usage): Usage => this.checkedUsage(s, success.target, usage, estimate.inputTokens, estimate.outputTokens);
      const complete = (usage?: Usage | null): RequestRecord => {
        if (end.ended) return s.record;
        end.ended = true;
        this.abandonedStreams.unregister(end);
        // `null` (an OpenAI chunk's `usage: null`) or anything that is not an object is no usage.
        const used = !isUsageObject(usage) ? success.usage : checked(usage);
        this.settlePacing(success.target, success.streamPacing, used);
        return this.completeStream(s, success.target, success.targetReservation, used);
      };
      const fail = (error: unknown, usage?: Usage | null): RequestRecord => {
        if (end.ended) return s.record;
        end.ended = true;
        this.abandonedStreams.unregister(end);
        if (isUsageObject(usage)) {
          // Part of the reply was delivered and billed: charge what the adapter knows was used.
          const used = checked(usage);
          this.recordUsage(s, success.target, used);
          // The model that produced what was billed, as on a success (the token metrics count its usage).
          s.record.final_model = success.target.model;
          s.record.final_target = success.target.id;
          this.settlePacing(success.target, success.streamPacing, used);
          Promise.resolve(this.settleAnswered(s, success.target, success.targetReservation, used)).catch((e: unknown) =>
            this.logger?.error?.('settling a failed stream failed', { requestId: s.requestId, error: String(e) }),
          );
        } else {
          if (success.targetReservation) {
            Promise.resolve(this.releaseTarget(success.targetReservation, success.target, success.targetReservation.fail())).catch((e: unknown) =>
              this.logger?.error?.("releasing a failed stream's target reservation failed", { requestId: s.requestId, error: String(e) }),
            );
          }
          // Replies received (and billed) before this one stay charged, as when a request fails before streaming.
          const rejected = s.rejectedCostUsd > 0 ? { inputTokens: 0, outputTokens: 0, costUsd: s.rejectedCostUsd } : undefined;
          if (rejected !== undefined) s.record.actual_cost = s.rejectedCostUsd;
          Promise.resolve(this.closeRequest(s, rejected)).catch((e: unknown) =>
            this.logger?.error?.("releasing a failed stream's request-scoped reservation failed", { requestId: s.requestId, error: String(e) }),
          );
          this.scheduler.notify();
        }
        const c: ClassifiedError = request.signal?.aborted
          ? { kind: 'cancelled', code: 'ERR_LLMR_CANCELLED', message: 'cancelled by the caller', cause: error }
          : this.classify(error);
        // The attempt's admission (maybe a half-open probe) was settled by its success; this must not
        // free another call's probe slot.
        this.breakers.record(success.target.id, success.target.provider, { kind: c.kind, latencyMs: 0, admission: NO_PROBE });
        s.record.outcome = 'failure';
        s.record.error_kind = c.kind;
        if (c.status !== undefined || c.code !== undefined) s.record.error_code = c.status ?? c.code;
        this.emitRecord(s);
        return s.record;
      };
      const result = streamingResult({ value: success.value, target: success.target, record: s.record }, complete, fail);
      this.abandonedStreams.register(result.finisher, this.droppedStream(s, success.target, success.targetReservation, unfinishedUsage(success.usage, estimate), end), end);
      return result.value;
    }
    const settled = this.settleAnswered(s, success.target, success.targetReservation, success.usage);
    if (settled) {
      // The call answered (and was billed): a store that fails to settle is logged, as for a stream,
      // not turned into a failure of a request that succeeded.
      await settled.catch((e: unknown) => this.logger?.error?.('settling a request failed', { requestId: s.requestId, error: String(e) }));
    }
    const record = this.finishSuccess(s, success.target, success.usage, settled ? undefined : success.endedAt);
    const result: ExecuteResult<T> = { value: success.value, target: success.target, record };
    if (success.output !== undefined) result.output = success.output;
    return result;
  }

  /**
   * Rejects queued work with reason 'shutdown' (after draining, if asked) and stops accepting new work.
   * Reservations still held for calls that were cut off but kept running are given back.
   */
  async shutdown(opts: { drain?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.closed = true;
    this.draining = opts.drain === true;
    this.stopping.abort(SHUT_DOWN);
    // The scheduler closes at once too (an admission answered from now on is refused there as here).
    const drained = this.scheduler.shutdown(opts);
    // Calls cut off earlier that are still running give their reservations back now (a drain may
    // wait for their slots), and so do the requests that waited for them; a call cut off from now on
    // is released at once.
    await this.releaseHeld();
    await drained;
    // Admissions the store was still answering: admitted (a drain) or refused and given back.
    await Promise.all([...this.admitting]);
    await this.releaseHeld();
    this.pacingSubscription?.dispose();
    this.breakers.dispose();
  }

  /**
   * Gives back what the scheduler admitted for work it then refused (cancelled, or shut down while the
   * store answered). shutdown() waits for an asynchronous store's give-back (it is in `admitting`), so
   * a process that exits after it loses none; a failure is logged.
   */
  private releaseAdmission(v: RequestAdmission): void {
    const given = v.reservation?.fail('release');
    if (!isPromiseLike(given)) return;
    const done: Promise<void> = Promise.resolve(given)
      .then(ignore, (e: unknown) => this.logger?.error?.('giving back a refused admission failed', { error: String(e) }))
      .finally(() => this.admitting.delete(done));
    this.admitting.add(done);
  }

  /** Releases every held reservation of a cut-off call, then waits for the request-scoped ones deferred behind them. */
  private async releaseHeld(): Promise<void> {
    await Promise.all([...this.held].map((close) => close(false)));
    await Promise.all([...this.deferredCloses]);
  }

  /** The in-memory retry budget of a provider (fleet-wide sharing comes from limits, not from this). */
  retryBudget(provider: string): RetryBudget | undefined {
    if (this.retryBudgetOptions === false) return undefined;
    let b = this.retryBudgets.get(provider);
    if (!b) {
      b = new RetryBudget(this.retryBudgetOptions);
      this.retryBudgets.set(provider, b);
    }
    return b;
  }

  /**
   * Latest remaining-quota information seen for a target (from provider headers, or another process'
   * through `pacingSync`), less what the calls sent since took (their estimates, corrected by what they
   * used once they ended): counts as of its `observedAt`. Pacing adds what the provider has refilled since
   * then. Quotas that say nothing any more (no refill rate, reset passed) are left out once a call is
   * counted after their reset; `undefined` when none is left. A copy: changing it changes nothing.
   *
   * @example
   * ```ts
   * const left = engine.pacingOf('gpt-4o')?.remainingTokens;
   * ```
   */
  pacingOf(targetId: string): RateLimitSnapshot | undefined {
    const quota = this.pacing.get(targetId);
    return quota === undefined || quota.isEmpty ? undefined : quota.snapshot();
  }

  /**
   * `cause` as the errors the engine throws carry it, for adapters that throw their own errors about a
   * request (a stream that broke after its first chunk): with option `redact` set, a redacted stand-in
   * (see {@link redactedCause}; {@link originalCauseOf} gives the original back), otherwise `cause`
   * itself. `undefined` stays `undefined`.
   *
   * @example
   * ```ts
   * throw new StreamBrokeError('the stream broke', { cause: engine.exposedCause(err) });
   * ```
   */
  exposedCause(cause: unknown): unknown {
    return this.redactsCauses && cause !== undefined ? redactedCause(cause, this.redactor) : cause;
  }

  // ---------------------------------------------------------------- admit

  private begin(request: ResilienceRequest): RequestState {
    if (this.closed) {
      throw new ResilienceError('The resilience engine is shut down; no new requests are accepted.', {
        kind: 'cancelled',
        code: 'ERR_LLMR_SHUT_DOWN',
      });
    }
    // Own properties only: a name such as `toString` or `__proto__` is not a route (nor a class below).
    const route = ownEntry(this.policy.routes, request.route);
    if (!route) {
      throw new ResilienceError(
        `Unknown route '${request.route}'. Known routes: ${Object.keys(this.policy.routes).join(', ')}.`,
        { kind: 'invalid_request', code: 'ERR_LLMR_UNKNOWN_ROUTE' },
      );
    }
    checkRequest(request);
    const className = request.priority ?? route.priority;
    const trafficClass = ownEntry(this.policy.trafficClasses, className);
    if (!trafficClass) {
      throw new ResilienceError(
        `Unknown traffic class '${className}'. Known: ${Object.keys(this.policy.trafficClasses).join(', ')}.`,
        { kind: 'invalid_request', code: 'ERR_LLMR_UNKNOWN_PRIORITY' },
      );
    }
    const startedAt = this.clock.now();
    let deadline = request.deadline;
    if (route.deadlineMs !== undefined) deadline = Math.min(deadline ?? Infinity, startedAt + route.deadlineMs);
    const id = request.identity;
    const ctx: LimitContext = { route: route.name };
    if (id?.user !== undefined) ctx.user = id.user;
    if (id?.team !== undefined) ctx.team = id.team;
    if (id?.tenant !== undefined) ctx.tenant = id.tenant;
    if (id?.environment !== undefined) ctx.environment = id.environment;
    const primary = route.chain[0]!;
    const inputTokens = request.inputTokens ?? (request.input ? this.estimate(request.input, primary) : 0);
    const requestId = request.requestId ?? newRequestId();
    // A literal without spreads (each spread copies property by property), then the optional fields.
    const record: RequestRecord = {
      request_id: requestId,
      route: route.name,
      priority: trafficClass.name,
      primary_model: primary.model,
      fallback_used: false,
      retry_count: 0,
      outcome: 'failure',
      latency_ms: 0,
      queue_wait_ms: 0,
      input_tokens: inputTokens,
      output_tokens: 0,
      estimated_cost: 0,
      actual_cost: 0,
      attempts: [],
      skipped: [],
      breakers: {},
      validation_failures: 0,
      started_at: startedAt,
    };
    if (id?.user !== undefined) record.user_id = id.user;
    if (id?.team !== undefined) record.team_id = id.team;
    if (id?.tenant !== undefined) record.tenant_id = id.tenant;
    if (request.dataClass !== undefined) record.data_class = request.dataClass;
    if (this.policy.recordContent && request.input) record.content = { input: request.input };
    return {
      request,
      route,
      trafficClass,
      requestId,
      startedAt,
      deadline,
      ctx,
      inputTokens,
      record,
      audience: request.audience ?? route.audience,
      rejectedCostUsd: 0,
      minContext: 0,
      admitted: NOTHING_ADMITTED,
      clockAt: request.inputTokens !== undefined || request.input === undefined ? startedAt : undefined,
    };
  }

  /**
   * Input tokens of the prompt as the primary target counts them: targets marked `tokenizer: 'heuristic'`
   * (the default for non-OpenAI providers) use the documented heuristic unless a custom tokenizer was
   * given; the others the tokenizer for their model name (BPE for known OpenAI models).
   */
  private estimate(input: NonNullable<ResilienceRequest['input']>, target: ResolvedTarget): number {
    if (!this.customTokenizer && target.tokenizer === 'heuristic') return estimateInputTokens(input, undefined, HEURISTIC_TOKENIZER);
    let n: unknown;
    try {
      n = estimateInputTokens(input, target.model, this.tokenizer);
    } catch (err) {
      n = err;
    }
    if (typeof n === 'number' && n >= 0 && n < Infinity) return n;
    // A tokenizer that throws, or answers NaN, a negative or a string, would fail the request or reserve
    // nothing (or nonsense): count with the heuristic instead, and say so once.
    if (!this.warnedTokenizer) {
      this.warnedTokenizer = true;
      const got = typeof n === 'number' ? String(n) : describeProblem(n instanceof Error ? n : typeof n);
      this.logger?.warn?.('the tokenizer failed or returned an invalid count; the heuristic estimate is used instead', { model: target.model, got });
    }
    return estimateInputTokens(input, undefined, HEURISTIC_TOKENIZER);
  }

  /**
   * Budget downgrade, then request-scoped limits and spend caps (worst-case cost), through the scheduler.
   * Synchronous when nothing needs to wait (no budgets to look up, a synchronous store, admitted at once).
   */
  private admit(s: RequestState): MaybePromise<RequestAdmission> {
    if (this.policy.budgets.length === 0) return this.admitLimits(s);
    const looked = this.applyDowngrade(s);
    // A synchronous store answered at once: the request reaches the scheduler before execute() returns,
    // so a shutdown({ drain: true }) right after it drains it like any queued work.
    if (!isPromiseLike(looked)) return this.admitLimits(s);
    s.clockAt = undefined; // the budgets' spend was looked up in the store, which took time
    // A lookup the store failed (an outage in fail-closed mode) ends the request as any admission failure does.
    const admission = Promise.resolve(looked).then(
      () => this.admitLimits(s),
      (err: unknown) => {
        throw this.finishFailure(s, err);
      },
    );
    // shutdown() waits for its outcome: admitted, or rejected with a reason ('shutdown' when the
    // scheduler closed while the store answered).
    const answered: Promise<void> = admission.then(ignore, ignore).finally(() => this.admitting.delete(answered));
    this.admitting.add(answered);
    return admission;
  }

  private admitLimits(s: RequestState): MaybePromise<RequestAdmission> {
    const estimate = this.requestEstimate(s);
    s.record.estimated_cost = estimate.costUsd;
    if (!this.limiter.hasRequestRules && !this.budgetLimiter.hasRequestRules) return NOTHING_ADMITTED;
    // Fast path, the common case: only limit rules, nothing queued ahead, and they admit at once.
    // The scheduler is asked whether work of this class may go first and told when it did; anything
    // else (a denial, budgets) goes through the scheduler below, which tries again and waits or rejects.
    if (
      !this.budgetLimiter.hasRequestRules &&
      s.request.signal?.aborted !== true &&
      (s.deadline === undefined || s.startedAt < s.deadline) &&
      this.scheduler.admitsNow(s.trafficClass.name)
    ) {
      const d = this.limiter.reserve(s.ctx, estimate, 'request', this.reserveOptions(s.trafficClass));
      if (!isPromiseLike(d)) {
        if (d.ok) {
          this.scheduler.countAdmitted(s.trafficClass.name);
          return { reservation: d };
        }
      } else {
        let given: MaybePromise<void>;
        const admitted = d.then((x) => {
          if (x.ok && this.closed && !this.draining) {
            // Shut down (without drain) while the store answered: not admitted after all (the closed
            // scheduler rejects it as it rejects queued work), and what was reserved goes back.
            given = x.fail('release');
            return this.admitScheduled(s, estimate);
          }
          if (!x.ok) return this.admitScheduled(s, estimate);
          this.scheduler.countAdmitted(s.trafficClass.name);
          return { reservation: x };
        });
        // shutdown() waits for this answer, and for the release of a refused one.
        const answered: Promise<void> = d
          .then(() => given, ignore)
          .then(undefined, (e: unknown) => this.logger?.error?.('releasing a reservation refused at shutdown failed', { requestId: s.requestId, error: String(e) }))
          .finally(() => this.admitting.delete(answered));
        this.admitting.add(answered);
        return admitted;
      }
    }
    return this.admitScheduled(s, estimate);
  }

  /**
   * An attempt was cut off (its timeout, the deadline or the caller's abort) while its call was still
   * running (`ctx.unfinished`). A call that honours its signal ends within a turn of the event loop (an SDK rejects with
   * its abort error): its reservation is then released as usual, before the engine goes on. A call
   * that ignores its signal keeps using the provider, so its target-scoped reservation (concurrency
   * slot, tokens), if any, is kept until the call ends, then settled with what it used (it succeeded,
   * or failed after reporting its usage: reported or extracted usage, else the estimate, also added to
   * `s.lateUsage`) or failed (it failed, or resolved with nothing); the request's own request-scoped admission waits for it too
   * ({@link closeRequest}). Whatever it answers is closed if it is a stream (see closeUnread, attached
   * by the caller). A warning goes to the logger the first time a target holds one. One that does not end within
   * `holdMs` more (the target's own timeout) is released as failed then, as is every held one at
   * {@link shutdown} (after it, a cut-off call is released at once). Resolves once the reservation is
   * released, or once it is held (then counted in `s.holding` until released).
   */
  private holdUntilFinished(
    s: RequestState,
    target: ResolvedTarget,
    reservation: Reservation | undefined,
    ctx: AttemptContextImpl,
    holdMs: number,
  ): Promise<void> {
    if (this.closed) return Promise.resolve(reservation && this.releaseTarget(reservation, target, reservation.fail()));
    let endLimit: (() => void) | undefined;
    let closed: Promise<void> | undefined;
    let counted = false;
    /** Resolves this call's entry of `s.heldEnds` (set once it is held). */
    let heldEnd: (() => void) | undefined;
    const close = (settle: boolean, value?: unknown): Promise<void> => {
      if (closed !== undefined) return closed;
      this.held.delete(close);
      endLimit?.();
      if (counted) {
        const n = s.holding!.get(target.id)! - 1;
        if (n > 0) s.holding!.set(target.id, n);
        else s.holding!.delete(target.id);
      }
      let done: MaybePromise<void>;
      try {
        if (settle) {
          // It answered all the same and was billed: its target-scoped reservation is settled with what
          // it used, and the request's request-scoped admission is charged for it too (see closeRequest).
          const { used, estimated } = this.lateUsed(s, target, ctx, value);
          s.lateUsage = addUsage(s.lateUsage, used);
          done = reservation && this.releaseTarget(reservation, target, reservation.settle(used));
          this.reportLateUsage(s, target, used, estimated);
        } else {
          done = reservation && this.releaseTarget(reservation, target, reservation.fail());
        }
      } catch (e) {
        done = Promise.reject(e);
      }
      closed = Promise.resolve(done)
        .catch((e: unknown) => this.logger?.error?.('releasing a cut-off call failed', { requestId: s.requestId, target: target.id, error: String(e) }))
        .then(() => heldEnd?.());
      return closed;
    };
    this.held.add(close);
    const ended = ctx.unfinished!.then(
      (value) => close(billedLate(ctx, value), value),
      () => close(billedLate(ctx, undefined)),
    );
    const turn = new Promise<void>((resolve) => setImmediate(resolve));
    return Promise.race([ended, turn]).then(() => {
      if (closed !== undefined) return closed; // it ended (or shutdown closed it): released
      // Still running a turn later: it ignores its signal. Held, for at most `holdMs`; the request's
      // own request-scoped reservation waits for it too (see closeRequest).
      (s.heldEnds ??= []).push(new Promise<void>((resolve) => (heldEnd = resolve)));
      const holding = (s.holding ??= new Map());
      holding.set(target.id, (holding.get(target.id) ?? 0) + 1);
      counted = true;
      if (!this.warnedIgnoresSignal.has(target.id)) {
        this.warnedIgnoresSignal.add(target.id);
        this.logger?.warn?.(
          'a call cut off by its timeout, the deadline or the caller still runs: it ignores ctx.signal (pass it to the SDK call). ' +
            'Its capacity stays reserved until it ends, at most one more timeout (reported once per target)',
          { requestId: s.requestId, target: target.id },
        );
      }
      if (this.clock === systemClock) {
        // Unref'd: a call that never ends must not keep the process alive for its time limit.
        const timer = setTimeout(() => void close(false), Math.min(Math.max(0, holdMs), MAX_TIMER_MS));
        timer.unref();
        endLimit = () => clearTimeout(timer);
      } else {
        const stop = new AbortController();
        this.clock.sleep(Math.max(0, holdMs), stop.signal).then(
          () => close(false),
          () => undefined,
        );
        endLimit = () => stop.abort(HOLD_ENDED);
      }
      return undefined;
    });
  }

  /**
   * Settles an answered request with `usage`: the answering target's reservation, then the request's
   * own admission (see closeRequest). Synchronous when the store is (the in-memory default): no promise
   * per settled request.
   */
  private settleAnswered(s: RequestState, target: ResolvedTarget, targetReservation: Reservation | undefined, usage: Usage): void | Promise<void> {
    const actual = this.amounts(target, usage);
    const t = targetReservation && this.releaseTarget(targetReservation, target, targetReservation.settle(actual));
    // Replies rejected by validation were billed too: request-wide spend limits and budgets count them
    // (their own targets' reservations were settled when they were rejected).
    const r = this.closeRequest(s, s.rejectedCostUsd > 0 ? { ...actual, costUsd: actual.costUsd + s.rejectedCostUsd } : actual);
    if (t || r) return Promise.all([t, r]).then(() => this.scheduler.notify());
    this.scheduler.notify();
  }

  /**
   * What finishes a streamed request whose result was garbage-collected unfinished (see
   * abandonedStreams): completed with the estimate, and an error logged. Made here, from these values
   * only, so that the registry, which keeps it, keeps nothing that could lead back to the result: not
   * the stream (`value`) nor the request and its signal (their listeners may hold the result's
   * `complete` or `fail`); `s.request` is replaced by a copy without its signal.
   */
  private droppedStream(s: RequestState, target: ResolvedTarget, targetReservation: Reservation | undefined, estimate: Usage, end: { ended: boolean }): () => void {
    if (s.request.signal !== undefined) s.request = { ...s.request, signal: undefined };
    return () => {
      if (end.ended) return;
      end.ended = true;
      this.logger?.error?.(
        'a streamed request was dropped without complete() or fail(): it was settled with its estimate when its result was garbage-collected. Call complete() or fail() on every path',
        { requestId: s.requestId, target: target.id },
      );
      this.completeStream(s, target, targetReservation, estimate);
    };
  }

  /**
   * Completes a streamed request with `used`: its record is final when this returns; the store settles
   * in the background (a failure is logged).
   */
  private completeStream(s: RequestState, target: ResolvedTarget, targetReservation: Reservation | undefined, used: Usage): RequestRecord {
    const record = this.finishSuccess(s, target, used);
    Promise.resolve(this.settleAnswered(s, target, targetReservation, used)).catch((e: unknown) =>
      this.logger?.error?.('settling a streamed request failed', { requestId: s.requestId, error: String(e) }),
    );
    return record;
  }

  /**
   * Settles the request's request-scoped admission (its limits and budgets, one reservation) with
   * `actual`, or fails it (`actual` undefined). Cut-off calls of the request that answered all the same
   * were billed: their usage (`s.lateUsage`) is charged on top, and turns a failure into a settle. When
   * calls of the request were cut off and still run (see holdUntilFinished), this waits until each has
   * ended: a per-user concurrency slot stays taken while the user's call still runs, and a late answer's
   * tokens and cost reach the user's limits and budgets. Deferred, it is not awaited (the request ends
   * for its caller now); a failure is logged, and queued work is told.
   */
  private closeRequest(s: RequestState, actual: UsageAmounts | undefined): MaybePromise<void> {
    const a = s.admitted;
    if (a.reservation === undefined) return;
    const ends = s.heldEnds;
    if (ends === undefined) return closeAdmission(a, addUsage(actual, s.lateUsage));
    const deferred = Promise.all(ends)
      .then(() => closeAdmission(a, addUsage(actual, s.lateUsage)))
      .then(
        () => this.scheduler.notify(),
        (e: unknown) => this.logger?.error?.('settling a request after its cut-off calls ended failed', { requestId: s.requestId, error: String(e) }),
      );
    this.deferredCloses.add(deferred);
    void deferred.then(() => this.deferredCloses.delete(deferred));
  }

  /**
   * Gives back what a failed attempt held (`release`); a store that fails to take it back is logged, not
   * thrown: the attempt's own failure decides what happens next (retry, fallback), not the store's.
   */
  private async afterFailure(s: RequestState, target: ResolvedTarget, release: () => MaybePromise<void>): Promise<void> {
    try {
      await release();
    } catch (e) {
      this.logger?.error?.("giving back a failed attempt's reservation failed", { requestId: s.requestId, target: target.id, error: String(e) });
    }
  }

  /**
   * `done` is `reservation`'s settle or fail on `target`: once it is applied, a concurrency slot it held
   * goes to the oldest attempt waiting for one ({@link TargetWaiters}).
   */
  private releaseTarget(reservation: Reservation, target: ResolvedTarget, done: MaybePromise<void>): MaybePromise<void> {
    if (!holdsSlot(reservation)) return done;
    if (isPromiseLike(done)) return done.then(() => this.targetWaiters.released(target));
    this.targetWaiters.released(target);
  }

  /** `{ headroom }` of a traffic class, made once per class. */
  private reserveOptions(cls: TrafficClass): ReserveOptions {
    let o = this.reserveOptionsByClass.get(cls);
    if (o === undefined) this.reserveOptionsByClass.set(cls, (o = { headroom: cls.reserve }));
    return o;
  }

  /** Request-scoped admission through the priority scheduler: limits and budgets in one reservation; waits, queues or rejects. */
  private admitScheduled(s: RequestState, estimate: UsageAmounts): MaybePromise<RequestAdmission> {
    let lastDenial: LimitDenied | undefined;
    let budgetRefused = false;
    const queuedFrom = s.clockAt ?? this.clock.now();
    type Admitted = RequestAdmission;
    /** The scheduler's item, whose deadline a downgrade below may move earlier (it reads it after each try). */
    const item: ScheduleItem<Admitted> = {
      now: queuedFrom,
      trafficClass: s.trafficClass.name,
      tenant: s.ctx.tenant,
      deadline: s.deadline,
      signal: s.request.signal,
      tryAdmit: () => tryAdmit(),
      release: (v) => this.releaseAdmission(v),
    };
    // Synchronous end to end when the store is (the in-memory default): no promise per admission.
    // Limits and budgets are reserved in one call (see admissionLimiter): a denial names the rule that
    // binds longest, a budget's (never queued: a cheaper route or a refusal) or a limit's (queued).
    const decide = (d: LimitDecision): MaybePromise<Admission<Admitted>> => {
      if (d.ok) return { ok: true, value: { reservation: d } };
      if (this.budgetRules.has(d.rule)) return budgetDenied(d);
      // A denial names the rule that binds longest: a limit may hide a spent budget (its window ends
      // sooner), which refuses at once all the same (budgets never queue). Read from the spend, so
      // nothing is held meanwhile.
      const spent = this.spentBudget(s.ctx, estimate.costUsd);
      if (isPromiseLike(spent)) return spent.then((b) => (b !== undefined ? budgetDenied(b) : limitDenied(d)));
      return spent !== undefined ? budgetDenied(spent) : limitDenied(d);
    };
    const limitDenied = (d: LimitDenied): Admission<Admitted> => {
      if (!Number.isFinite(d.retryAfterMs)) throw RateLimitExceededError.fromDenial(d);
      lastDenial = d;
      const denied: Admission<Admitted> = { ok: false, retryAfterMs: d.retryAfterMs, reason: `limit ${d.rule.id}` };
      // A taken slot frees when a call ends (notify() reports it): its wait is when to look again, not
      // the earliest admission, so the work is not rejected early on it.
      if (holdsInFlightSlot(d.rule)) denied.pollHint = true;
      return denied;
    };
    const budgetDenied = (budget: LimitDenied): MaybePromise<Admission<Admitted>> => {
      // The downgrade check can miss a request (requests arriving together read the spend before any
      // reserved, with an async store; or the cap is reached under the downgrade mark): when the cap
      // itself denies, the cheaper route still may not.
      const downgrade = this.policy.budgets.find((b) => b.id === budget.rule.id && this.mayDowngrade(s, b));
      if (downgrade !== undefined) {
        this.switchRoute(s, downgrade);
        estimate = this.requestEstimate(s);
        s.record.estimated_cost = estimate.costUsd;
        item.deadline = s.deadline; // the cheaper route's deadline bounds the wait in the queue too
        return tryAdmit();
      }
      this.events.emit('budget', { requestId: s.requestId, route: s.route.name, budget: budget.rule.id, event: 'exceeded' });
      budgetRefused = true;
      throw RateLimitExceededError.fromDenial(budget);
    };
    const tryAdmit = (): MaybePromise<Admission<Admitted>> => {
      if (!this.admissionLimiter.hasRequestRules) return { ok: true, value: {} };
      const d = this.admissionLimiter.reserve(s.ctx, estimate, 'request', this.reserveOptions(s.trafficClass));
      return isPromiseLike(d) ? d.then(decide) : decide(d);
    };
    const admitted = (r: Scheduled<Admitted>): Admitted => {
      s.record.queue_wait_ms = r.waitedMs;
      return r.value;
    };
    const rejected = (err: unknown): never => {
      // Time it spent queued before it was refused: by the scheduler (its deadline passed, the queue
      // was full, shutdown), or by its budget when it was tried again.
      s.record.queue_wait_ms = isInstance(err, QueueRejectedError) ? err.waitedMs : Math.max(0, this.clock.now() - queuedFrom);
      const denial = lastDenial;
      // A limit's denial queued it; when its budget refused it in the end, the budget event said so.
      if (denial && !budgetRefused) {
        this.events.emit('limited', {
          requestId: s.requestId,
          route: s.route.name,
          rule: denial.rule.id,
          retryAfterMs: denial.retryAfterMs,
          phase: 'request',
          action: 'reject',
        });
      }
      throw this.finishFailure(s, err);
    };
    const r = this.scheduler.scheduleNow(item);
    return isPromiseLike(r) ? r.then(admitted, rejected) : admitted(r);
  }


  private requestEstimate(s: RequestState): UsageAmounts {
    let worstCost = 0;
    let worstOutput = 0;
    const chain = s.route.chain;
    for (let i = 0; i < chain.length; i++) {
      const t = chain[i]!;
      // A target the request can never be sent to (data class, window, cost ceiling) costs it nothing.
      if (this.ineligible(s, t, 0) !== undefined) continue;
      const out = this.outputCap(s, t);
      worstOutput = Math.max(worstOutput, out);
      worstCost = Math.max(worstCost, costUsd(t, s.inputTokens, out));
    }
    return { inputTokens: s.inputTokens, outputTokens: worstOutput, costUsd: worstCost };
  }

  /**
   * Moves the request to the downgrade route of the first budget (from `from` on) whose spend has
   * reached its `downgradeAt`. Synchronous with a synchronous store.
   */
  private applyDowngrade(s: RequestState, from = 0): MaybePromise<void> {
    const budgets = this.policy.budgets;
    for (let i = from; i < budgets.length; i++) {
      const b = budgets[i]!;
      if (b.downgradeAt === undefined || !this.mayDowngrade(s, b)) continue;
      const used = this.budgetLimiter.usage(b.id, s.ctx);
      if (isPromiseLike(used)) return Promise.resolve(used).then((u) => (this.downgradesOn(s, b, u) ? undefined : this.applyDowngrade(s, i + 1)));
      if (this.downgradesOn(s, b, used)) return;
    }
  }

  /** Switches to budget `b`'s downgrade route when `used` (its spend) has reached its `downgradeAt`. */
  private downgradesOn(s: RequestState, b: BudgetRule, used: number | undefined): boolean {
    if (used === undefined || used < b.downgradeAt! * b.limitUsd) return false;
    this.switchRoute(s, b);
    return true;
  }

  /**
   * True when budget `b` applies to this request (its `match`) and has a downgrade route it is not on,
   * has not left already (budgets that downgrade to each other would move it back and forth), and
   * that has a target the request may be sent to (data class, context window, cost ceiling).
   */
  private mayDowngrade(s: RequestState, b: BudgetRule): boolean {
    if (b.downgradeTo === undefined || b.downgradeTo === s.route.name || s.leftRoutes?.includes(b.downgradeTo)) return false;
    if (b.match && !Object.entries(b.match).every(([dim, v]) => s.ctx[dim as keyof LimitContext] === v)) return false;
    const to = this.policy.routes[b.downgradeTo]!;
    return to.chain.some((t) => this.ineligible(s, t, 0, to) === undefined);
  }

  /** The denial of the first budget that `costUsd` more would exceed for `ctx` (read-only), or undefined. */
  private spentBudget(ctx: LimitContext, costUsd: number, from = 0): MaybePromise<LimitDenied | undefined> {
    const budgets = this.policy.budgets;
    for (let i = from; i < budgets.length; i++) {
      const d = this.budgetLimiter.spentDenial(budgets[i]!.id, ctx, costUsd);
      if (isPromiseLike(d)) return Promise.resolve(d).then((x) => x ?? this.spentBudget(ctx, costUsd, i + 1));
      if (d !== undefined) return d;
    }
    return undefined;
  }

  /** Moves the request to budget `b`'s downgrade route. */
  private switchRoute(s: RequestState, b: BudgetRule): void {
    const to = this.policy.routes[b.downgradeTo!]!;
    this.events.emit('budget', { requestId: s.requestId, route: s.route.name, budget: b.id, event: 'downgrade', to: to.name });
    (s.leftRoutes ??= []).push(s.route.name);
    s.route = to;
    s.ctx.route = to.name;
    s.record.route = to.name;
    s.record.primary_model = to.chain[0]!.model;
    // The new route's deadline binds too (a latency-critical downgrade route); an earlier one stays.
    if (to.deadlineMs !== undefined) s.deadline = Math.min(s.deadline ?? Infinity, s.startedAt + to.deadlineMs);
  }

  private outputCap(s: RequestState, t: ResolvedTarget): number {
    const asked = s.request.maxOutputTokens ?? t.maxOutputTokens ?? this.defaultOutputTokens;
    return t.maxOutputTokens !== undefined ? Math.min(asked, t.maxOutputTokens) : asked;
  }

  /**
   * What a call that answered used: what it reported (`ctx.reportUsage`), else what the `usage`
   * extractor reads from its value, checked for plausibility; else the estimate (`out` output tokens).
   */
  private callUsage(s: RequestState, target: ResolvedTarget, reportedUsage: Usage | undefined, value: unknown, out: number): Usage {
    return this.knownUsage(s, target, reportedUsage, value, out) ?? { inputTokens: s.inputTokens, outputTokens: out };
  }

  /** {@link callUsage} when the call reported usage or the extractor found some, else undefined. */
  private knownUsage(s: RequestState, target: ResolvedTarget, reportedUsage: Usage | undefined, value: unknown, out: number): Usage | undefined {
    const reported = reportedUsage ?? this.extractedUsage(s, target, value);
    return reported === undefined ? undefined : this.checkedUsage(s, target, reported, s.inputTokens, out);
  }

  /**
   * A cut-off call whose request holds nothing for it (no limits, no budgets): what it answers later
   * is reported as {@link holdUntilFinished} reports it, with nothing to settle. (Its own method, so the
   * handler keeps only these arguments, not the chain's scope.)
   */
  private watchLateAnswer(s: RequestState, target: ResolvedTarget, ctx: AttemptContextImpl, unfinished: Promise<unknown>): void {
    const answered = (value: unknown): void => {
      if (!billedLate(ctx, value)) return;
      const { used, estimated } = this.lateUsed(s, target, ctx, value);
      this.reportLateUsage(s, target, used, estimated);
    };
    unfinished.then(answered, () => answered(undefined));
  }

  /**
   * What a cut-off call that answered later used (see {@link billedLate}): reported or extracted usage,
   * else the estimate (`estimated`), at its target's price.
   */
  private lateUsed(s: RequestState, target: ResolvedTarget, ctx: AttemptContextImpl, value: unknown): { used: UsageAmounts; estimated: boolean } {
    const known = this.knownUsage(s, target, ctx.reportedUsage, value, ctx.maxOutputTokens);
    return { used: this.amounts(target, known ?? { inputTokens: s.inputTokens, outputTokens: ctx.maxOutputTokens }), estimated: known === undefined };
  }

  /** Tells listeners and metrics what a cut-off call that answered later used (no record counts it). */
  private reportLateUsage(s: RequestState, target: ResolvedTarget, used: UsageAmounts, estimated: boolean): void {
    const { inputTokens, outputTokens, costUsd } = used;
    const where = { route: s.route.name, target: target.id, provider: target.provider, model: target.model };
    this.events.emit('lateUsage', { requestId: s.requestId, ...where, inputTokens, outputTokens, costUsd, estimated });
    this.metrics.lateUsage({ ...where, priority: s.trafficClass.name, inputTokens, outputTokens, costUsd, estimated });
  }

  /** `reported` where it is plausible, else `estimated` (see {@link plausibleUsage}), with a warning. */
  private checkedUsage(s: RequestState, target: ResolvedTarget, reported: Usage, estimatedInput: number, estimatedOutput: number): Usage {
    const c = plausibleUsage(reported, estimatedInput, estimatedOutput, target.contextWindow);
    if (c.replaced !== undefined) {
      this.logger?.warn?.('implausible token usage reported; the estimate was charged instead', {
        requestId: s.requestId,
        target: target.id,
        fields: c.replaced,
      });
    }
    return c.usage;
  }

  /**
   * The `usage` extractor's reading of a successful call's value. The call succeeded and was billed:
   * an extractor that throws, or returns something that is not a usage object (a promise, a string),
   * must not turn it into a failure (which would retry or fall back, calling again). The estimate is
   * charged instead and the first such case is logged.
   */
  private extractedUsage(s: RequestState, target: ResolvedTarget, value: unknown): Usage | undefined {
    let u: unknown;
    try {
      u = this.usageOf(value);
    } catch (err) {
      this.extractorFailed('usage', s, target, err);
      return undefined;
    }
    if (u === undefined || u === null) return undefined;
    if (isPromiseLike(u)) {
      Promise.resolve(u).catch(() => undefined); // not awaited: must not surface as unhandled
      this.extractorFailed('usage', s, target, 'returned a promise');
    } else if (typeof u === 'object') {
      return u as Usage;
    } else {
      this.extractorFailed('usage', s, target, `returned ${typeof u}`);
    }
    return undefined;
  }

  /** The `text` extractor's reading, for validation; one that throws reads as no text (the reply fails validation). */
  private extractedText(s: RequestState, target: ResolvedTarget, value: unknown): string | undefined {
    try {
      return this.textOf(value);
    } catch (err) {
      this.extractorFailed('text', s, target, err);
      return undefined;
    }
  }

  private extractorFailed(which: 'usage' | 'text', s: RequestState, target: ResolvedTarget, problem: unknown): void {
    if (this.warnedExtractor[which]) return;
    this.warnedExtractor[which] = true;
    const instead = which === 'usage' ? 'the estimate was charged' : 'the reply was treated as having no text';
    this.logger?.warn?.(`the ${which} extractor failed; ${instead} (reported once)`, { requestId: s.requestId, target: target.id, problem: describeProblem(problem) });
  }

  /** A metrics sink threw: to the logger, else to the console (as a listener error of `events` is). */
  private sinkFailed(error: unknown, method: keyof Metrics): void {
    if (this.logger?.error) this.logger.error('a metrics sink threw; the engine ignored it', { method, error: String(error) });
    // eslint-disable-next-line no-console
    else console.error(`[llm-resilience] the metrics sink's ${method}() threw; the engine ignored it:`, error);
  }

  private amounts(t: ResolvedTarget, u: Usage): UsageAmounts {
    return { inputTokens: u.inputTokens, outputTokens: u.outputTokens, costUsd: costUsd(t, u.inputTokens, u.outputTokens) };
  }

  // ---------------------------------------------------------------- route + attempts

  /**
   * Records a skipped target. The first skip also stands as the request's failure when no attempt
   * fails for real, so a chain exhausted only by skips ends with a meaningful kind (a prompt that fits
   * no window fails as context_length, open breakers as overloaded, limits and pacing as rate_limited).
   */
  private skip(s: RequestState, target: ResolvedTarget, reason: SkippedTarget['reason'], detail?: string, kind: ErrorKind = SKIP_KINDS[reason], waitMs?: number): void {
    if (reason === 'paced' && waitMs !== undefined && waitMs > 0 && Number.isFinite(waitMs)) s.pacedWaitMs = Math.min(s.pacedWaitMs ?? Infinity, waitMs);
    else s.unpacedSkip = true;
    // Capacity skips (breakers, limits, pacing) say more than policy skips: a chain that had a capacity
    // problem anywhere ends as one, so it gets 503 and may be requeued.
    const prev = s.skipFailure;
    if (prev === undefined || (!isCapacityKind(prev.kind) && isCapacityKind(kind)))
      s.skipFailure = { kind, code: `ERR_LLMR_SKIPPED_${reason.toUpperCase()}`, message: `${target.id} skipped (${reason})${detail ? `: ${detail}` : ''}`, cause: undefined };
    s.record.skipped.push({ target: target.id, reason, ...(detail !== undefined ? { detail } : {}) });
    this.events.emit('skip', { requestId: s.requestId, route: s.route.name, target: target.id, reason, ...(detail !== undefined ? { detail } : {}) });
  }

  /** Why `target` cannot serve this request at all, or undefined. */
  private ineligible(s: RequestState, t: ResolvedTarget, minContext: number, route: RoutePolicy = s.route): [SkippedTarget['reason'], string] | undefined {
    const dc = s.request.dataClass;
    if (dc !== undefined ? !t.dataClasses?.includes(dc) : false) {
      return ['data_class', `not approved for data class '${dc}'`];
    }
    const out = this.outputCap(s, t);
    if (t.contextWindow !== undefined && (s.inputTokens + out > t.contextWindow || t.contextWindow < minContext)) {
      return ['context_window', `needs ${Math.max(s.inputTokens + out, minContext)} tokens, window is ${t.contextWindow}`];
    }
    const ceiling = route.costCeilingUsd;
    if (ceiling !== undefined) {
      const worst = costUsd(t, s.inputTokens, out);
      if (worst > ceiling) return ['cost_ceiling', `worst case $${worst.toFixed(6)} > ceiling $${ceiling}`];
    }
    return undefined;
  }

  /**
   * Runs the chain; when it is exhausted by capacity or reliability errors on a route with
   * `onExhausted: 'queue'`, waits (the provider's hint, else the breakers' open period) and runs it
   * again, until the request's deadline or its traffic class's `maxWait`.
   */
  private async runChainOrRequeue<T>(s: RequestState, call: ModelCall<T>): Promise<Success<T>> {
    for (;;) {
      try {
        return await this.runChain(s, call);
      } catch (err) {
        if (!isInstance(err, ChainExhaustedError) || s.route.onExhausted !== 'queue' || !isCapacityKind(err.kind)) throw err;
        // Every target failed in a way no wait fixes (see failedTargets), or can never take this request
        // (data class, context window, cost ceiling): running the chain again cannot help.
        if (s.route.chain.every((t) => s.failedTargets?.has(t.id) === true || this.ineligible(s, t, s.minContext) !== undefined)) throw err;
        const until = s.deadline ?? s.startedAt + s.trafficClass.maxWaitMs;
        // A hint of 0 (`Retry-After: 0`, a date already past) is no hint.
        const hint = err.retryAfterMs !== undefined && err.retryAfterMs > 0 ? err.retryAfterMs : undefined;
        const wait = Math.min(Math.max(hint ?? this.policy.breaker.openForMs, MIN_REQUEUE_MS), MAX_REQUEUE_MS);
        if (this.clock.now() + wait >= until) throw err;
        // Not a place in the scheduler's queue: `depth` is what the scheduler holds for the class (read
        // when each event is emitted), so a depth gauge fed from these events is not overwritten by
        // requeue waits. Every wait ends with exactly one exit event, as queued work does.
        const cls = s.trafficClass.name;
        this.emitRequeueEvent({ trafficClass: cls, event: 'enqueued', reason: 'exhausted', depth: this.scheduler.queuedOf(cls) });
        const signal = s.request.signal ? AbortSignal.any([s.request.signal, this.stopping.signal]) : this.stopping.signal;
        const waitFrom = this.clock.now();
        const left = (reason: 'aborted' | 'shutdown' | 'deadline' | 'max-wait' | undefined): void => {
          const waitedMs = Math.max(0, this.clock.now() - waitFrom);
          // What it waited, which a shutdown or the caller's abort may have cut short.
          s.record.queue_wait_ms += waitedMs;
          const depth = this.scheduler.queuedOf(cls);
          this.emitRequeueEvent(
            reason === undefined
              ? { trafficClass: cls, event: 'admitted', waitedMs, depth }
              : { trafficClass: cls, event: 'rejected', waitedMs, reason, depth },
          );
        };
        try {
          await this.clock.sleep(wait, signal);
        } catch (e) {
          if (!this.stopping.signal.aborted || s.request.signal?.aborted === true) {
            left('aborted');
            throw e;
          }
          // Shut down during the wait: rejected as queued work is (reason `shutdown`), with the chain's error.
          left('shutdown');
          throw err;
        }
        // A timer that fired late (a suspended process) may end the wait past the point it had to end
        // before: the chain's error, as when the next wait would reach that point.
        const now = this.clock.now();
        if (now >= until) {
          left(s.deadline !== undefined ? 'deadline' : 'max-wait');
          throw err;
        }
        left(undefined);
        s.requeuedRun = true;
      }
    }
  }

  /** A queue event of a requeue wait (see runChainOrRequeue), to the listeners and the metrics sink. */
  private emitRequeueEvent(event: ResilienceEvents['queue']): void {
    this.events.emit('queue', event);
    this.metrics.queue(event);
  }

  private async runChain<T>(s: RequestState, call: ModelCall<T>): Promise<Success<T>> {
    const route = s.route;
    const retry = route.retry;
    let attempts = 0;
    let last: ClassifiedError | undefined;
    /** The latest failure a wait may fix (not a 429 the request can never pass): see the end of the chain. */
    let fixable: ClassifiedError | undefined;
    // What earlier runs learned (this run's own failures apply to the next run only: a chain may list
    // a target twice, and a plain route must call it twice as before).
    const failedEarlier = s.failedTargets && new Map(s.failedTargets);
    const hintsEarlier = s.notBefore && new Map(s.notBefore);
    s.pacedWaitMs = undefined;
    s.unpacedSkip = undefined;
    chain: for (let i = 0; i < route.chain.length; i++) {
      const target = route.chain[i]!;
      const reason = this.ineligible(s, target, s.minContext);
      if (reason) {
        this.skip(s, target, reason[0], reason[1]);
        continue;
      }
      // An earlier run of a requeued chain: no wait fixes a target's quota or key, and a retry hint is kept.
      const failed = failedEarlier?.get(target.id);
      if (failed !== undefined) {
        this.skip(s, target, 'failed_earlier', `${failed} on an earlier run of the chain`, failed);
        continue;
      }
      const notBefore = hintsEarlier?.get(target.id);
      if (notBefore !== undefined && notBefore > this.clock.now()) {
        const more = Math.ceil(notBefore - this.clock.now());
        this.skip(s, target, 'paced', `the provider asked to wait ${more} ms more`, undefined, more);
        continue;
      }
      const perKind: Partial<Record<ErrorKind, number>> = {};
      let targetAttempt = 0;
      let previousDelay = 0;
      let waitedMs = 0;
      let repair: { reason: string } | undefined;
      let repairUsed = false;
      const out = this.outputCap(s, target);
      const estimate: UsageAmounts = { inputTokens: s.inputTokens, outputTokens: out, costUsd: costUsd(target, s.inputTokens, out) };
      // The share a retry waiting for it counted against the target's pacing quota (see retryShareHint):
      // its attempt is counted with it, and gives it back if it never goes out.
      let retryShare: PacingSpend | undefined;
      for (;;) {
        if (attempts >= retry.maxAttempts) {
          this.settlePacing(target, retryShare, 'unsent');
          break chain;
        }
        // One clock reading serves the breaker and the attempt's start, unless something waits in between.
        let admittedAt = s.clockAt ?? this.clock.now();
        s.clockAt = undefined;
        let fresh = true;
        // Waits for capacity before this attempt (a paused breaker, pacing, our own limits) add up to at
        // most `maxLimiterWait`: a live request falls back instead of polling for a busy slot.
        let capacityWaitMs = 0;
        let admission = this.breakers.admit(target.id, target.provider, admittedAt);
        while (!admission.allowed && admission.reason === 'paused' && this.canWait(s, admission.retryAfterMs, retry.maxLimiterWaitMs - capacityWaitMs)) {
          // A pause is the latest retry hint of repeated 429s: a short one is waited for like proactive
          // pacing, instead of throwing away a retry that already waited for its hint.
          try {
            await this.clock.sleep(admission.retryAfterMs, s.request.signal);
          } catch (err) {
            this.settlePacing(target, retryShare, 'unsent');
            throw err;
          }
          waitedMs += admission.retryAfterMs;
          capacityWaitMs += admission.retryAfterMs;
          admittedAt = this.clock.now();
          admission = this.breakers.admit(target.id, target.provider, admittedAt);
        }
        if (!admission.allowed) {
          this.settlePacing(target, retryShare, 'unsent');
          this.skip(s, target, 'breaker_open', admission.reason);
          continue chain;
        }
        let reservation: Reservation | undefined;
        // What pacing counted for this attempt's call: given back if it is never sent, corrected once it ends.
        let paced: PacingSpend | undefined;
        if (retryShare !== undefined && this.pacing.get(target.id) === retryShare.quota) {
          // A retry that waited for its share, counted since its 429 (and carried to every report
          // since): it goes out now, counted once. Not checked again: the shares counted after it are
          // those of callers that wait longer.
          paced = retryShare;
        } else this.settlePacing(target, retryShare, 'unsent');
        retryShare = undefined;
        try {
          // Proactive pacing from provider headers, then our own target-scoped limits.
          let tooLongMs: number | undefined;
          // (Skipped for a retry that counted its share while it waited: see above.)
          if (paced === undefined) {
            for (;;) {
              const paceMs = this.pacingWait(target, estimate);
              if (paceMs > 0 && !this.canWait(s, paceMs, retry.maxLimiterWaitMs - capacityWaitMs)) {
                tooLongMs = paceMs;
                break;
              }
              // Counted before any wait: callers arriving meanwhile wait for this call's share too.
              paced = this.spendPacing(target, estimate);
              if (paceMs === 0) break;
              await this.clock.sleep(paceMs, s.request.signal);
              waitedMs += paceMs;
              capacityWaitMs += paceMs;
              fresh = false;
              if (this.pacing.get(target.id) === paced?.quota) break;
              // Replaced while it waited (another call's headers, a 429's, another process' snapshot): the
              // newer report cannot count this call, which has not gone out, and may leave less than the
              // quota it waited on. Checked again and counted against it, within what is left of the
              // wait allowed; the replaced quota is not corrected (see settlePacing).
              paced = undefined;
            }
          }
          if (tooLongMs !== undefined) {
            this.breakers.release(target.id, target.provider, admission);
            this.skip(s, target, 'paced', `provider quota low for ${tooLongMs} ms`, undefined, tooLongMs);
            continue chain;
          }
          if (this.limiter.hasTargetRules) {
            fresh = false;
            const tctx: LimitContext = { ...s.ctx, provider: target.provider, model: target.model };
            let d = await this.limiter.reserve(tctx, estimate, 'target', this.reserveOptions(s.trafficClass));
            while (!d.ok) {
              const canWait = Number.isFinite(d.retryAfterMs) && this.canWait(s, d.retryAfterMs, retry.maxLimiterWaitMs - capacityWaitMs);
              this.events.emit('limited', {
                requestId: s.requestId,
                route: route.name,
                rule: d.rule.id,
                retryAfterMs: d.retryAfterMs,
                phase: 'target',
                action: canWait ? 'wait' : 'fallback',
              });
              if (!canWait) {
                this.breakers.release(target.id, target.provider, admission);
                this.settlePacing(target, paced, 'unsent');
                this.skip(s, target, 'limited', `${d.rule.id}: retry in ${d.retryAfterMs} ms`);
                // Denied while a call of this request that was cut off still holds capacity here: that
                // call's failure (a timeout) stays the request's error.
                if (last === undefined || !s.holding?.has(target.id)) {
                  const denied = RateLimitExceededError.fromDenial(d);
                  last = { kind: 'rate_limited', code: denied.code, message: denied.message, retryAfterMs: d.retryAfterMs, cause: denied };
                  if (!isNeverFits(last.kind, d.retryAfterMs)) fixable = last;
                }
                continue chain;
              }
              if (holdsInFlightSlot(d.rule)) {
                // No time tells when a slot frees: wait for a call of this engine to give one back, or poll.
                const sleptFrom = this.clock.now();
                await this.targetWaiters.wait(target, d.retryAfterMs, s.request.signal);
                const slept = this.clock.now() - sleptFrom;
                waitedMs += slept;
                // A slot given back ends the wait early; a poll that found none counts in full.
                capacityWaitMs += slept;
              } else {
                await this.clock.sleep(d.retryAfterMs, s.request.signal);
                waitedMs += d.retryAfterMs;
                capacityWaitMs += d.retryAfterMs;
              }
              d = await this.limiter.reserve(tctx, estimate, 'target', this.reserveOptions(s.trafficClass));
            }
            reservation = d;
            // A report that replaced the quota while the limits were reserved (or waited for) does not
            // count this call either: counted against it, without a second pacing wait (the call holds
            // its limits' capacity now).
            if (this.pacing.get(target.id) !== paced?.quota) paced = this.spendPacing(target, estimate);
          }
        } catch (err) {
          // Aborted or failed while waiting for capacity: the breaker's admission (maybe a half-open
          // probe slot) must be given back, or the breaker would wait for a verdict that never comes.
          this.breakers.release(target.id, target.provider, admission);
          this.settlePacing(target, paced, 'unsent');
          throw err;
        }

        const started = fresh ? admittedAt : this.clock.now();
        if (s.request.signal?.aborted) {
          // Cancelled before this attempt could start: nothing is sent, nothing is recorded as an attempt.
          this.breakers.release(target.id, target.provider, admission);
          this.settlePacing(target, paced, 'unsent');
          if (reservation) await this.releaseTarget(reservation, target, reservation.fail('release'));
          throw this.cancelled(s, s.request.signal.reason);
        }
        if (s.deadline !== undefined && started >= s.deadline) {
          // No time left: calling would only produce a timeout that says nothing about the target's
          // health (and would count against its breaker).
          this.breakers.release(target.id, target.provider, admission);
          this.settlePacing(target, paced, 'unsent');
          if (reservation) await this.releaseTarget(reservation, target, reservation.fail('release'));
          const message = `The request's deadline passed before attempt ${attempts + 1} could start${last ? `; last error ${last.kind}` : ''}.`;
          throw new RequestFailedError(
            'ERR_LLMR_DEADLINE',
            message,
            this.exposed({ kind: 'timeout', code: 'ERR_LLMR_DEADLINE', message, cause: last?.cause }),
            s.record,
            this.messageFor('timeout', s),
          );
        }

        // Going out: a retry's share is no longer pending, a newer report counts this call as the provider does.
        if (paced !== undefined) this.sentPaced(target, paced, started);
        else if (this.pacingSubscription !== undefined) {
          // No quota known yet: another process' report, observed before this call, may still come.
          paced = this.sentPaced(target, { quota: undefined, need: pacingNeed(estimate) }, started);
        }
        attempts++;
        targetAttempt++;
        // Called past the chain's first target (it failed, or was skipped): a fallback, also when the
        // request fails in the end (a success's record says whether the answer came from one).
        if (i > 0 && targetAttempt === 1) s.record.fallback_used = true;
        const ownTimeoutMs = target.timeoutMs ?? route.timeoutMs ?? this.policy.defaultTimeoutMs;
        const timeoutMs = Math.min(ownTimeoutMs, s.deadline !== undefined ? Math.max(0, s.deadline - started) : Infinity);
        const attemptRecord: AttemptRecord = {
          target: target.id,
          provider: target.provider,
          model: target.model,
          attempt: attempts,
          targetAttempt,
          startedAt: started,
          latencyMs: 0,
          outcome: 'success',
          waitedMs,
        };
        if (s.requeuedRun === true) {
          attemptRecord.requeued = true;
          s.requeuedRun = false;
        }
        // A class instance, not a literal: its `signal` getter creates the AbortController on first read.
        const ctx = new AttemptContextImpl(attempts, targetAttempt, s.requestId, route.name, s.deadline, out, repair);
        try {
          const value = await runAttempt(
            (signal) => {
              ctx.signalOf = signal;
              return call(target, ctx);
            },
            timeoutMs,
            s.request.signal,
            this.clock,
            started,
            ctx,
          );
          const reportedHeaders = ctx.reportedHeaders;
          const reportedUsage = ctx.reportedUsage;
          const endedAt = this.clock.now();
          const latency = endedAt - started;
          attemptRecord.latencyMs = latency;
          this.breakers.record(target.id, target.provider, { latencyMs: latency, admission, now: endedAt });
          this.retryBudget(target.provider)?.onSuccess();
          if (reportedHeaders !== undefined) this.updatePacing(target, reportedHeaders);
          const usage = this.callUsage(s, target, reportedUsage, value, out);
          // What it used corrects what pacing counted for it (the estimate when it reported nothing); a
          // stream's usage is known once it completes.
          if (!s.request.stream) {
            this.settlePacing(target, paced, usage);
            paced = undefined; // settled: a failure after this point (validation) corrects nothing more
          }

          if (route.output && !s.request.stream) {
            // An asynchronous validator gets the attempt's timeout of its own, never past the deadline.
            const validationMs = Math.min(ownTimeoutMs, s.deadline !== undefined ? s.deadline - endedAt : Infinity);
            const v = await validateOutput(this.extractedText(s, target, value), route.output, { timeoutMs: validationMs, clock: this.clock, signal: s.request.signal });
            if (s.request.signal?.aborted) {
              // The caller left while an asynchronous validator ran: cancelled, and the call, which
              // happened, is charged what it used.
              this.pushAttempt(s, attemptRecord);
              const spent = this.amounts(target, usage);
              s.rejectedCostUsd += spent.costUsd;
              if (reservation) await this.releaseTarget(reservation, target, reservation.settle(spent));
              throw this.cancelled(s, s.request.signal.reason);
            }
            if (!v.ok) {
              // The reason may quote the reply (a provider's text): redacted like an error message.
              const reason = this.redactor.redact(v.reason);
              s.record.validation_failures++;
              attemptRecord.outcome = 'invalid_output';
              attemptRecord.errorKind = 'validation_failed';
              this.pushAttempt(s, attemptRecord);
              // The call happened: charge what it used.
              const spent = this.amounts(target, usage);
              s.rejectedCostUsd += spent.costUsd;
              if (reservation) await this.releaseTarget(reservation, target, reservation.settle(spent));
              // A repair needs an attempt left: without one the chain moves on, as a failed call does.
              const action =
                route.onInvalidOutput === 'retry-stricter' && !repairUsed && attempts < retry.maxAttempts
                  ? 'retry-stricter'
                  : route.onInvalidOutput === 'fail'
                    ? 'fail'
                    : 'fallback';
              this.events.emit('validation', { requestId: s.requestId, route: route.name, target: target.id, reason, action });
              last = fixable = { kind: 'validation_failed', message: reason, cause: undefined };
              if (action === 'retry-stricter') {
                repairUsed = true;
                repair = { reason };
                s.record.retry_count++;
                waitedMs = 0;
                continue;
              }
              if (action === 'fail') {
                throw new RequestFailedError(
                  'ERR_LLMR_INVALID_OUTPUT',
                  `The reply of '${target.id}' on route '${route.name}' failed validation: ${reason}.`,
                  this.exposed(last),
                  s.record,
                  this.messageFor('validation_failed', s),
                );
              }
              this.events.emit('fallback', { requestId: s.requestId, route: route.name, from: target.id, kind: 'validation_failed' });
              continue chain;
            }
            this.pushAttempt(s, attemptRecord);
            return { value, output: v.value, target, usage, targetReservation: reservation };
          }
          this.pushAttempt(s, attemptRecord);
          return { value, target, usage, targetReservation: reservation, endedAt, streamPacing: s.request.stream ? paced : undefined, estimatedOutput: out };
        } catch (err) {
          // The engine's own stop (validation 'fail') passes through; a RequestFailedError thrown by the
          // call (a nested engine.execute) is a failure of this attempt like any other.
          if (isInstance(err, RequestFailedError) && err.record === s.record) throw err;
          const latency = this.clock.now() - started;
          const classified = this.classifyAttemptError(err, s);
          let c = classified.c;
          // The 429's snapshot replaces the target's quota first: a reset-only hint is shortened on it.
          if (c.rateLimit) this.setPacing(target.id, c.rateLimit);
          if (classified.quotaReset) c = { ...c, retryAfterMs: this.retryShareHint(target, estimate, c.retryAfterMs!) };
          attemptRecord.latencyMs = latency;
          attemptRecord.outcome = 'error';
          attemptRecord.errorKind = c.kind;
          if (c.status !== undefined) attemptRecord.status = c.status;
          // Infinity ("can never pass") is no JSON number: the record says so with `neverFits`.
          if (c.retryAfterMs === Infinity) attemptRecord.neverFits = true;
          else if (c.retryAfterMs !== undefined) attemptRecord.retryAfterMs = c.retryAfterMs;
          this.pushAttempt(s, attemptRecord);
          last = c;
          if (!isNeverFits(c.kind, c.retryAfterMs)) fixable = c;
          // The breaker's verdict first: giving back the attempt's reservation below may wait (a call
          // that ignores its signal) or fail (the store), and a half-open probe must not stay taken.
          if (timeoutMs < ownTimeoutMs && isInstance(err, AttemptTimeoutError)) {
            // Cut short by the caller's deadline, not by the target's own timeout: no verdict on its health.
            this.breakers.release(target.id, target.provider, admission);
          } else {
            this.breakers.record(target.id, target.provider, {
              kind: c.kind,
              latencyMs: latency,
              admission,
              ...(c.retryAfterMs !== undefined ? { retryAfterMs: c.retryAfterMs } : {}),
            });
          }
          // Whatever a cut-off call answers later is never read: a stream it opens is closed, so the
          // provider stops generating (and billing) it.
          // (Module-level handlers: a closure made here would keep this chain's scope, and with it the
          // caller's `call` and what it reaches, for as long as the call runs.)
          if (ctx.unfinished !== undefined) ctx.unfinished.then(closeUnread, ignore);
          if (ctx.unfinished !== undefined && (reservation !== undefined || s.admitted.reservation !== undefined)) {
            // Cut off while the call still runs: if it ignores its signal, its slots and charges stay until it ends.
            await this.holdUntilFinished(s, target, reservation, ctx, ownTimeoutMs);
          } else if (ctx.unfinished !== undefined) {
            // Nothing to hold, but an answer it gives later was billed all the same: reported.
            this.watchLateAnswer(s, target, ctx, ctx.unfinished);
          } else if (ctx.reportedUsage !== undefined) {
            // It reported what it used before it failed (an adapter whose parser or schema rejected the
            // reply): the provider answered and billed it, so it is charged as a rejected reply is.
            const spent = this.amounts(target, this.checkedUsage(s, target, ctx.reportedUsage, s.inputTokens, out));
            s.rejectedCostUsd += spent.costUsd;
            this.settlePacing(target, paced, spent);
            if (reservation) await this.afterFailure(s, target, () => this.releaseTarget(reservation, target, reservation.settle(spent)));
          } else {
            // Refused (a 429, a 5xx, a 400) or failed without a reply: no tokens used, the request counted.
            this.settlePacing(target, paced, 'refused');
            if (reservation) await this.afterFailure(s, target, () => this.releaseTarget(reservation, target, reservation.fail()));
          }
          if (c.kind === 'cancelled') throw this.cancelled(s, err);
          // The team hears of quota and key problems even when the deadline has passed too.
          if (c.kind === 'quota_exhausted' || c.kind === 'auth') {
            this.events.emit('alert', {
              requestId: s.requestId,
              kind: c.kind,
              target: target.id,
              provider: target.provider,
              message: `${c.kind} on ${target.id}: ${c.message}`,
            });
            this.logger?.error?.('provider needs attention', { kind: c.kind, target: target.id, status: c.status, code: c.code });
          }
          if (s.deadline !== undefined && this.clock.now() >= s.deadline) {
            throw new RequestFailedError(
              'ERR_LLMR_DEADLINE',
              `The request's deadline passed after ${attempts} attempt(s); last error ${c.kind}.`,
              this.exposed({ ...c, kind: 'timeout' }),
              s.record,
              this.messageFor('timeout', s),
            );
          }
          // A 429 the request can never pass is its own fault: it takes nothing from the provider's retry budget.
          const budget = isCapacityKind(c.kind) && !isNeverFits(c.kind, c.retryAfterMs) ? this.retryBudget(target.provider) : undefined;
          budget?.onFailure();
          // Retry the same target?
          const used = perKind[c.kind] ?? 0;
          if (used < retry.perKind[c.kind] && attempts < retry.maxAttempts) {
            // A hint of 0 (`Retry-After: 0`, a date already past) says nothing of when: the jittered
            // backoff spreads the retries of every client that got it.
            const hint = c.retryAfterMs !== undefined && c.retryAfterMs > 0 ? c.retryAfterMs : undefined;
            // The backoff grows with the retries on this target, whatever their kinds (a 503, then a 429).
            const delay = hint ?? retry.backoff.delay(targetAttempt, previousDelay, this.random);
            const hintTooLong = hint !== undefined && hint > retry.maxHintMs;
            const fits = s.deadline === undefined || this.clock.now() + delay < s.deadline;
            const budgetOk = budget === undefined || budget.canRetry();
            if (!hintTooLong && fits && budgetOk) {
              perKind[c.kind] = used + 1;
              previousDelay = delay;
              s.record.retry_count++;
              // A wait for this call's share (see retryShareHint): the share is counted now, as proactive
              // pacing counts a call that waits for it, so the callers refused after it wait longer.
              if (classified.quotaReset && hint !== undefined) retryShare = this.spendRetryShare(target, estimate);
              this.events.emit('retry', {
                requestId: s.requestId,
                route: route.name,
                target: target.id,
                attempt: attempts,
                kind: c.kind,
                delayMs: delay,
                source: hint !== undefined ? 'hint' : 'backoff',
              });
              try {
                await this.clock.sleep(delay, s.request.signal);
              } catch (e) {
                this.settlePacing(target, retryShare, 'unsent');
                throw e;
              }
              waitedMs = delay;
              continue;
            }
          }
          if (!route.fallbackOn.has(c.kind)) {
            throw new RequestFailedError(
              'ERR_LLMR_NOT_RETRYABLE',
              `Route '${route.name}' stopped on ${c.kind}${c.status ? ` (${c.status})` : ''} from '${target.id}': ${c.message}. ` +
                `This kind does not fall back on this route (fallbackOn).`,
              this.exposed(c),
              s.record,
              this.messageFor(c.kind, s, c.retryAfterMs),
            );
          }
          if (c.kind === 'context_length') s.minContext = Math.max(s.minContext, (target.contextWindow ?? s.inputTokens) + 1);
          // No wait fixes these on this target: a requeued run skips it (a 429 the request can never
          // pass, `retryAfterMs: Infinity`, included: it alone exceeds the target's limit).
          if (c.kind === 'quota_exhausted' || c.kind === 'auth' || isNeverFits(c.kind, c.retryAfterMs)) (s.failedTargets ??= new Map()).set(target.id, c.kind);
          if (c.retryAfterMs !== undefined && c.retryAfterMs > 0) (s.notBefore ??= new Map()).set(target.id, this.clock.now() + c.retryAfterMs);
          this.events.emit('fallback', { requestId: s.requestId, route: route.name, from: target.id, kind: c.kind });
          continue chain;
        }
      }
    }
    if (last === undefined && s.skipFailure !== undefined) {
      last = s.skipFailure;
      // Every target of this run was skipped as paced: the earliest one can take the request again is known.
      if (s.pacedWaitMs !== undefined && s.unpacedSkip !== true) last = { ...last, retryAfterMs: s.pacedWaitMs };
    }
    // "Can never pass" speaks for the chain only when every target tried said so: an earlier target's
    // 503 is what a later try may fix (a 503, not a 413 "shorten it").
    if (isNeverFits(last?.kind, last?.retryAfterMs) && fixable !== undefined) last = fixable;
    throw new ChainExhaustedError(route.name, s.record, last && this.exposed(last), this.messageFor(last?.kind ?? 'unknown', s, last?.retryAfterMs));
  }

  private canWait(s: RequestState, ms: number, max: number): boolean {
    if (ms > max) return false;
    return s.deadline === undefined || this.clock.now() + ms < s.deadline;
  }

  private pushAttempt(s: RequestState, a: AttemptRecord): void {
    s.record.attempts.push(a);
    this.events.emit('attempt', { requestId: s.requestId, route: s.route.name, attempt: a });
    this.metrics.attempt(a, { route: s.route.name, priority: s.trafficClass.name });
  }

  /** `err` classified, its cause the raw error: an attempt's failure, kept so until the engine throws. */
  private classify(err: unknown): ClassifiedError {
    return classifyError(err, { now: this.clock.now(), redact: this.redactor });
  }

  /**
   * `c` as the errors the engine throws carry it: with option `redact` set, its cause is a redacted
   * stand-in (name, redacted message and stack, status/code/type/request id; no headers, bodies or
   * request options), so a logger printing cause chains prints no key the app named. Applied only where
   * a `ChainExhaustedError` or `RequestFailedError` is made: the failures of a request's attempts keep
   * their raw causes until then (a stand-in costs tens of microseconds: the original's stack is
   * formatted), and only the one thrown gets a stand-in.
   */
  private exposed(c: ClassifiedError): ClassifiedError {
    return this.redactsCauses && c.cause !== undefined ? { ...c, cause: redactedCause(c.cause, this.redactor) } : c;
  }

  /**
   * An attempt's failure, classified, and whether its `retryAfterMs` is only the reset of the exhausted
   * quota (`quotaReset`: the time it is full again, OpenAI's `x-ratelimit-reset-tokens: 6m0s`, on a 429
   * with a rate-limit snapshot), which the engine shortens to the time this call's share is back (see
   * retryShareHint). A hint the provider gave (`retry-after` & co.) is kept as it came.
   */
  private classifyAttemptError(err: unknown, s: RequestState): { c: ClassifiedError; quotaReset: boolean } {
    if (isInstance(err, AttemptTimeoutError)) return { c: { kind: 'timeout', code: err.code, message: err.message, cause: err }, quotaReset: false };
    if (s.request.signal?.aborted) {
      return { c: { kind: 'cancelled', code: 'ERR_LLMR_CANCELLED', message: 'cancelled by the caller', cause: err }, quotaReset: false };
    }
    const { classified: c, hintSource } = classifyWithHintSource(err, { now: this.clock.now(), redact: this.redactor });
    // Cancelled, but not by our caller (their signal is not aborted): the provider or an SDK cut the
    // call (Gemini's 499 CANCELLED, an abort of the call's own): retried and fallen back like a cut
    // connection, not ended as the caller's cancellation.
    if (c.kind === 'cancelled') return { c: { ...c, kind: 'network' }, quotaReset: false };
    return { c, quotaReset: hintSource === 'quota_reset' && c.rateLimit !== undefined && c.retryAfterMs !== undefined };
  }

  /**
   * The retry hint of a 429 whose only hint is `resetMs`, the reset of the exhausted quota (the time it
   * is full again): the time until this call's share (`estimate`, one request, the pacing margin) has
   * refilled on the target's live pacing quota — the 429's snapshot (just stored by setPacing) less the
   * shares still counted on it: calls sent since and, above all, the retries of the callers refused
   * before this one that still wait for their own share ({@link Resilience.pendingRetryShares}). So the
   * callers refused by one quota get growing waits, and those whose wait is over `maxHint` fall back at
   * once. A random spread of up to 10% of that wait, at most 1 s ({@link quotaShareSpreadMs}, drawn from
   * the engine's `random`), is added, so processes that share pacing state but not their pending
   * retries do not all retry at the same millisecond; the whole is never longer than `resetMs`. That
   * hint is the retry's delay (its share is counted then, see spendRetryShare), the breaker's pause, a
   * requeued chain's `notBefore`, the attempt's and the thrown error's `retryAfterMs`.
   */
  private retryShareHint(target: ResolvedTarget, estimate: UsageAmounts, resetMs: number): number {
    const quota = this.pacing.get(target.id);
    if (quota === undefined) return resetMs;
    return quotaShareRetryAfterMs(quota, pacingNeed(estimate), this.clock.now(), resetMs, this.random) ?? resetMs;
  }

  /**
   * Counts the share of a retry that waits for it (see retryShareHint) against the target's quota, as
   * pending until its call goes out: quotas that replace this one meanwhile count it again (see
   * replacePacing), and it is given back (settlePacing `unsent`) if the retry never goes out.
   */
  private spendRetryShare(target: ResolvedTarget, estimate: UsageAmounts): PacingSpend | undefined {
    const share = this.spendPacing(target, estimate);
    if (share === undefined) return undefined;
    let pending = this.pendingRetryShares.get(target.id);
    if (pending === undefined) this.pendingRetryShares.set(target.id, (pending = new Set()));
    pending.add(share);
    return share;
  }

  /**
   * An attempt's call counted by pacing goes out at `sentAt`: a retry's share is no longer pending, and
   * the call is logged, so that a report observed before `sentAt` that replaces the quota later counts it.
   */
  private sentPaced(target: ResolvedTarget, paced: PacingSpend, sentAt: number): PacingSpend {
    this.unpendRetryShare(target, paced);
    paced.sentAt = sentAt;
    let log = this.sentPacing.get(target.id);
    if (log === undefined) this.sentPacing.set(target.id, (log = new SentCallLog()));
    log.add(paced as PacingSpend & { sentAt: number }, sentAt);
    return paced;
  }

  /** A retry's share whose call goes out or is settled: no longer carried to newer quotas. */
  private unpendRetryShare(target: ResolvedTarget, share: PacingSpend): void {
    const pending = this.pendingRetryShares.get(target.id);
    if (pending === undefined || !pending.delete(share)) return;
    if (pending.size === 0) this.pendingRetryShares.delete(target.id);
  }

  // ---------------------------------------------------------------- pacing

  private updatePacing(target: ResolvedTarget, headers: unknown): void {
    const snap = readRateLimitHeaders(headers, this.clock.now());
    if (snap) this.setPacing(target.id, snap);
  }

  /** Stores a target's pacing snapshot, stamped with when it was observed, and shares it (bounded: once a second, or at once when low). */
  private setPacing(targetId: string, snap: RateLimitSnapshot): void {
    const now = this.clock.now();
    const observed: RateLimitSnapshot = { ...snap, observedAt: snap.observedAt ?? now };
    const quota = ProviderQuota.from(observed, now);
    // Observed by this process, so after every call it has sent (also when the clock went back since):
    // they are in the provider's numbers.
    this.sentPacing.get(targetId)?.forget(Math.max(quota.reportedAt, now));
    this.replacePacing(targetId, quota, now);
    const sync = this.pacingSync;
    if (!sync) return;
    const last = this.pacingPublishedAt.get(targetId) ?? -Infinity;
    if (now - last < PACING_PUBLISH_INTERVAL_MS && !isLow(observed)) return;
    this.pacingPublishedAt.set(targetId, now);
    try {
      sync.publish(targetId, observed);
    } catch (e) {
      this.logger?.warn?.('publishing pacing state failed', { target: targetId, error: String(e) });
    }
  }

  /**
   * A snapshot from another process replaces the target's, unless the provider reported ours later,
   * with the calls this process sent after it was observed counted against it (it arrived late):
   * each for what it used when it has ended, for its estimate while it runs (it then moves to the new
   * quota, where it is corrected). Calls sent while the target had no quota count too.
   */
  private receivePacing(targetId: string, snap: RateLimitSnapshot): void {
    const now = this.clock.now();
    const quota = ProviderQuota.from(snap, now);
    const current = this.pacing.get(targetId);
    if (current && quota.reportedAt < current.reportedAt) return;
    // Calls this process sent after the report was observed (it arrived late): counted as the provider
    // will, what they used once ended, their estimate while they run (then corrected on this quota).
    const sent = this.sentPacing.get(targetId)?.sentAfter(quota.reportedAt);
    if (sent !== undefined) {
      for (const call of sent) {
        quota.spend(call.kept ?? call.need, now);
        if (call.kept === undefined) call.quota = quota;
      }
    }
    this.replacePacing(targetId, quota, now);
  }

  /**
   * Makes `quota` (a newer report) the target's, with the shares of the retries still waiting to go
   * out counted against it: the report cannot count calls not sent yet, and the callers refused after
   * them must keep waiting behind them. Each such share moves to the new quota, where it is settled.
   * (Calls sent after a report from another process was observed are counted by receivePacing.)
   */
  private replacePacing(targetId: string, quota: ProviderQuota, now: number): void {
    const pending = this.pendingRetryShares.get(targetId);
    if (pending !== undefined) {
      for (const share of pending) {
        quota.spend(share.need, now);
        share.quota = quota;
      }
    }
    this.pacing.set(targetId, quota);
  }

  /** How long to hold a call so it does not run into a provider limit we already know is exhausted. */
  private pacingWait(target: ResolvedTarget, estimate: UsageAmounts): number {
    // Counts from the provider's report (maybe one from long ago, or another process'), carried forward:
    // what it has refilled since counts, a passed reset means a full quota (see ProviderQuota).
    return this.pacing.get(target.id)?.waitMs(pacingNeed(estimate), PACING_MARGIN, this.clock.now()) ?? 0;
  }

  /**
   * A call that goes out (at once or after its pacing wait) spends what it may use: its estimate is
   * counted against the target's quota so concurrent callers see it before the next response headers
   * refresh it. Returns what was counted, for {@link settlePacing} once the attempt has ended.
   */
  private spendPacing(target: ResolvedTarget, estimate: UsageAmounts): PacingSpend | undefined {
    const quota = this.pacing.get(target.id);
    if (quota === undefined) return undefined;
    const need = pacingNeed(estimate);
    quota.spend(need, this.clock.now());
    return { quota, need };
  }

  /**
   * Corrects what pacing counted for an attempt's call once the attempt has ended, on the quota it was
   * counted against (the one current when it went out: a call whose quota was replaced while it waited
   * is counted again against the new one, see runChain, and so is one that went out after the newer
   * report was observed, see replacePacing). When a newer report (headers, a 429's, another process')
   * observed after the call went out has replaced that quota, nothing: it counts the call as the
   * provider does (and the next one will). What the call still takes is kept with it, for a report
   * observed before it went out that arrives later.
   * - `unsent` (a limit denied it after pacing counted it, the caller aborted or the deadline passed
   *   while it waited): its request and estimate are given back.
   * - `refused` (an error response, or a failure without a reply, and no usage reported): its tokens
   *   are given back, its request stays counted (providers count the requests they refuse).
   * - what it used (answered, or failed after reporting usage): its estimate less what it used is given
   *   back (more is taken when it used more), its request stays counted. A call that reported no usage
   *   is charged its estimate, as limits and budgets charge it.
   * A call cut off while it still ran (timeout, deadline, abort) is not corrected: it reached the
   * provider, which may bill it in full.
   */
  private settlePacing(target: ResolvedTarget, spent: PacingSpend | undefined, outcome: PacingOutcome): void {
    if (spent === undefined || spent.kept !== undefined) return;
    this.unpendRetryShare(target, spent);
    const { need } = spent;
    let back: QuotaNeed;
    if (outcome === 'unsent') back = need;
    else if (outcome === 'refused') back = { ...need, requests: 0 };
    else {
      const used = pacingNeed(outcome);
      back = { requests: 0, tokens: need.tokens - used.tokens, inputTokens: need.inputTokens - used.inputTokens, outputTokens: need.outputTokens - used.outputTokens };
    }
    // What a report that replaces the quota later, observed before the call went out, counts it for.
    spent.kept = {
      requests: need.requests - back.requests,
      tokens: need.tokens - back.tokens,
      inputTokens: need.inputTokens - back.inputTokens,
      outputTokens: need.outputTokens - back.outputTokens,
    };
    if (spent.quota === undefined || this.pacing.get(target.id) !== spent.quota) return;
    spent.quota.giveBack(back, this.clock.now());
  }

  // ---------------------------------------------------------------- finish

  /** The user message of a failure of `kind`; a rate limit with `retryAfterMs: Infinity` can never pass (`too_large`). */
  private messageFor(kind: ErrorKind | 'queued', s: RequestState, retryAfterMs?: number): string {
    return userMessageFor(kind === 'queued' ? kind : messageKindOf(kind, retryAfterMs), s.audience, s.route.messages);
  }

  private snapshotBreakers(s: RequestState): void {
    const chain = s.route.chain;
    for (let i = 0; i < chain.length; i++) {
      const t = chain[i]!;
      s.record.breakers[t.id] = this.breakers.stateOf(t.id);
      const provider = this.breakers.provider(t.provider).state.state;
      if (provider !== 'closed') s.record.breakers[`provider:${t.provider}`] = provider;
    }
  }

  /** `now`: a clock reading taken since the request's last wait, if the caller has one. */
  private finishSuccess(s: RequestState, target: ResolvedTarget, usage: Usage, now?: number): RequestRecord {
    const r = s.record;
    r.outcome = 'success';
    r.final_model = target.model;
    r.final_target = target.id;
    this.recordUsage(s, target, usage);
    r.fallback_used = target.id !== s.route.chain[0]!.id;
    this.emitRecord(s, now);
    return r;
  }

  /** Puts what the request used on `target` on its record: tokens and their cost (plus rejected replies'). */
  private recordUsage(s: RequestState, target: ResolvedTarget, usage: Usage): void {
    const r = s.record;
    r.input_tokens = usage.inputTokens;
    r.output_tokens = usage.outputTokens;
    r.actual_cost = costUsd(target, usage.inputTokens, usage.outputTokens) + s.rejectedCostUsd;
  }

  /** The error of a request its caller cancelled; `cause` is what the abort threw (the signal's reason). */
  private cancelled(s: RequestState, cause: unknown): RequestFailedError {
    const c = this.exposed({ kind: 'cancelled', code: 'ERR_LLMR_CANCELLED', message: 'cancelled by the caller', cause });
    return new RequestFailedError('ERR_LLMR_CANCELLED', 'The request was cancelled by the caller.', c, s.record, this.messageFor('cancelled', s));
  }

  private finishFailure(s: RequestState, err: unknown): Error {
    const r = s.record;
    r.outcome = 'failure';
    let error: Error;
    if (isInstance(err, ResilienceError)) {
      error = err;
      if (err.userMessage === undefined) {
        err.userMessage = this.messageFor(err.kind, s, (err as { retryAfterMs?: number }).retryAfterMs);
      }
    } else if (s.request.signal?.aborted) {
      // Aborted while waiting (backoff, limits, pacing, queue): the same error as an abort during a call.
      error = this.cancelled(s, err);
    } else {
      const c = this.exposed(this.classify(err));
      error = new RequestFailedError('ERR_LLMR_FAILED', c.message, c, r, this.messageFor(c.kind, s, c.retryAfterMs));
    }
    const kind = (error as ResilienceError).kind;
    r.error_kind = kind;
    const lastAttempt = r.attempts[r.attempts.length - 1];
    const code = lastAttempt?.status ?? (error as ResilienceError).code;
    if (code !== undefined) r.error_code = code;
    this.emitRecord(s);
    return error;
  }

  private emitRecord(s: RequestState, now: number = this.clock.now()): void {
    const r = s.record;
    r.latency_ms = now - s.startedAt;
    this.snapshotBreakers(s);
    this.events.emit('record', r);
    this.metrics.request(r);
  }
}

function isCapacityKind(kind: ErrorKind): boolean {
  return kind === 'rate_limited' || kind === 'overloaded' || kind === 'timeout' || kind === 'network' || kind === 'unknown';
}

/** The fields of `o` whose value is not `undefined` (an explicit `undefined` keeps the default). */
function definedFields<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** `map[name]` when `name` is an own property of `map` (never one of Object.prototype's, such as `toString`). */
function ownEntry<V>(map: Readonly<Record<string, V>>, name: string): V | undefined {
  return Object.hasOwn(map, name) ? map[name] : undefined;
}

/** How many distinct targets each provider has across the policy (named and inline chain targets). */
function targetsPerProvider(policy: Policy): Record<string, number> {
  const ids = new Map<string, Set<string>>();
  const add = (t: ResolvedTarget) => {
    let set = ids.get(t.provider);
    if (!set) ids.set(t.provider, (set = new Set()));
    set.add(t.id);
  };
  for (const t of Object.values(policy.targets)) add(t);
  for (const r of Object.values(policy.routes)) for (const t of r.chain) add(t);
  const out: Record<string, number> = {};
  for (const [p, set] of ids) out[p] = set.size;
  return out;
}

/** Gives back an admission the scheduler could not hand to its caller (aborted while being admitted). */

/**
 * What {@link streamingResult} hands out for one stream: its result's `complete` and `fail` call the
 * engine's through this object (they are its methods, bound to it).
 */
class StreamFinisher {
  constructor(
    private readonly completeFn: (usage?: Usage) => RequestRecord,
    private readonly failFn: (error: unknown, usage?: Usage) => RequestRecord,
  ) {}

  complete(usage?: Usage): RequestRecord {
    return this.completeFn(usage);
  }

  fail(error: unknown, usage?: Usage): RequestRecord {
    return this.failFn(error, usage);
  }
}

/**
 * The `StreamingResult` of `base`, whose `complete` and `fail` are the engine's, and the object that
 * stays reachable exactly as long as one of them can still be called: `finisher`, which both are
 * bound to (also when they are destructured off the result) and which nothing the engine keeps refers
 * to. The engine registers it with its FinalizationRegistry (bound functions keep their receiver, and
 * no minifier drops that).
 */
function streamingResult<T>(
  base: ExecuteResult<T>,
  complete: (usage?: Usage) => RequestRecord,
  fail: (error: unknown, usage?: Usage) => RequestRecord,
): { value: StreamingResult<T>; finisher: StreamFinisher } {
  const finisher = new StreamFinisher(complete, fail);
  return { value: { ...base, complete: finisher.complete.bind(finisher), fail: finisher.fail.bind(finisher) }, finisher };
}

/**
 * Whether a cut-off call that ended with `value` (`undefined` when it failed) was answered, and so
 * billed: it gave something, or reported its usage (also when it failed afterwards). One that resolved
 * with nothing (`undefined`, `null`) and reported nothing honoured its signal by swallowing the abort.
 */
function billedLate(ctx: AttemptContextImpl, value: unknown): boolean {
  return (value !== undefined && value !== null) || ctx.reportedUsage !== undefined;
}

/** A rejection handler that ignores the rejection. */
function ignore(): void {}

/**
 * Settles (with `actual`) or fails (`undefined`) a request-scoped admission: its limits and budgets at
 * once (each rule's `onFailure` applies: budgets give back what a failed request did not spend).
 */
function closeAdmission(a: RequestAdmission, actual: UsageAmounts | undefined): MaybePromise<void> {
  return actual === undefined ? a.reservation?.fail() : a.reservation?.settle(actual);
}

/** A usage a stream's `complete`/`fail` was given: an object (`null`, a number or a string is none). */
function isUsageObject(usage: unknown): usage is Usage {
  return typeof usage === 'object' && usage !== null;
}

/** `a + b` field by field; one of them when the other is undefined (undefined: nothing used). */
function addUsage(a: UsageAmounts | undefined, b: UsageAmounts | undefined): UsageAmounts | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return { inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens, costUsd: a.costUsd + b.costUsd };
}

/**
 * What went wrong in a user callback, for a log line: its error's name and message, quoted text of 4
 * characters or more redacted (it may quote its input: `JSON.parse` quotes the reply's first ten
 * characters), as `validateOutput` does with a validator's own error.
 */
function describeProblem(problem: unknown): string {
  return problem instanceof Error ? redactQuoted(`${problem.name}: ${problem.message}`, 4) : String(problem);
}
