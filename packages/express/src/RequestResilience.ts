import type { Request, Response } from 'express';
import type {
  ExecuteResult,
  Identity,
  ModelCall,
  RequestRecord,
  Reservation,
  Resilience,
  ResilienceRequest,
  StreamingResult,
  UsageAmounts,
} from '@llm-resilience/core';
import { disconnectSignal } from './disconnectSignal';
import type { InboundLimits } from './InboundLimits';
import type { Audience, InboundLimitStatus } from './types';

/**
 * What `req.resilience.execute` accepts besides the route and the call: any field of the engine's
 * request. `identity` and `priority` default to the request's; `signal` is combined with the
 * disconnect signal.
 *
 * @example
 * ```ts
 * const o: ExecuteOverrides = { input: { messages }, maxOutputTokens: 300, dataClass: 'internal' };
 * ```
 */
export type ExecuteOverrides = Omit<ResilienceRequest, 'route'>;

/**
 * How the audience of a request is found (resolved lazily: only errors need it).
 *
 * @example
 * ```ts
 * const source: AudienceSource = (req) => (req.path.startsWith('/admin') ? 'internal' : 'customer');
 * ```
 */
export type AudienceSource = Audience | ((req: Request) => Audience) | undefined;

/**
 * `req.resilience`: the engine bound to one HTTP request. Every call made through
 * {@link RequestResilience.execute} carries the request's identity and priority, and is aborted
 * when the client disconnects before the response finished.
 *
 * @example
 * ```ts
 * app.post('/chat', async (req, res) => {
 *   const { value, record } = await req.resilience.execute('support_reply', (t, ctx) =>
 *     openai.chat.completions.create({ model: t.model, messages: req.body.messages, max_tokens: ctx.maxOutputTokens }, { signal: ctx.signal }),
 *     { input: { messages: req.body.messages } });
 *   res.json({ reply: value.choices[0]?.message.content, model: record.final_model });
 * });
 * ```
 */
export class RequestResilience {
  private inbound: InboundLimits | undefined;
  private reservation: Reservation | undefined;
  private statuses: InboundLimitStatus[] | undefined;

  /**
   * Inbound limits as they stood right after this request was admitted; undefined when the
   * middleware has no limits. Built on first read.
   */
  get limits(): InboundLimitStatus[] | undefined {
    if (this.statuses === undefined && this.inbound !== undefined) this.statuses = this.inbound.statusOf(this.reservation!);
    return this.statuses;
  }

  /** @internal Set by the middleware once the inbound limits admitted the request. */
  holdLimits(limits: InboundLimits, reservation: Reservation): void {
    this.inbound = limits;
    this.reservation = reservation;
    this.statuses = undefined;
    // On the memory store a reservation reads its states when they are first asked for: ask now, so
    // that `limits` is the state right after admission however late it is read (headers off too).
    void reservation.states;
  }
  /** @internal Set when an inbound limit counted this request (double-count check). */
  counted = false;
  private disconnect: AbortSignal | undefined;
  private tracked: RequestRecord[] | undefined;
  private calls = 0;
  /** Calls of {@link execute} not ended yet: running, or streams not completed or failed. */
  private running = 0;
  /** Resolves {@link callsEnded}'s promise when {@link running} drops to 0. */
  private allEnded: (() => void) | undefined;
  private ended: Promise<void> | undefined;
  /** Records of failed streams that were charged what they used (`fail(error, usage)`). */
  private chargedFailures: Set<RequestRecord> | undefined;

  /** @internal Created by the `resilience()` middleware. */
  constructor(
    /** The shared engine. */
    readonly engine: Resilience,
    private readonly req: Request,
    private readonly res: Response,
    /** Who the request is for (from `identity(req)`). */
    readonly identity: Identity | undefined,
    /** The route of `route`/`routeFor(req)`, if any. */
    readonly route: string | undefined,
    /** The traffic class from `priority(req)`, if any. */
    readonly priority: string | undefined,
    private readonly audienceSource: AudienceSource,
    private readonly requestId: string | undefined,
  ) {}

  /**
   * Aborts when the client disconnects before the response finished. Created on first use.
   *
   * @example
   * ```ts
   * await fetch(url, { signal: req.resilience.signal });
   * ```
   */
  get signal(): AbortSignal {
    return (this.disconnect ??= disconnectSignal(this.req, this.res));
  }

  /**
   * Who reads failure messages for this request: the `audience` option, else the route's audience
   * in the policy, else `'customer'`. An `audience(req)` function that returns anything but
   * `'customer'` or `'internal'` (undefined, a typo) gets the default too, never the internal wording.
   */
  get audience(): Audience {
    const chosen = this.chosenAudience();
    if (chosen !== undefined) return chosen;
    const route = this.route !== undefined && Object.prototype.hasOwnProperty.call(this.engine.policy.routes, this.route) ? this.engine.policy.routes[this.route] : undefined;
    return route?.audience === 'internal' ? 'internal' : 'customer';
  }

  /** The `audience` option's answer for this request, when it is a valid one. */
  private chosenAudience(): Audience | undefined {
    const a = this.audienceSource;
    const chosen: unknown = typeof a === 'function' ? a(this.req) : a;
    return chosen === 'customer' || chosen === 'internal' ? chosen : undefined;
  }

  /** Records of the calls made through {@link execute} so far (streaming ones complete later). */
  get records(): readonly RequestRecord[] {
    return this.tracked ?? [];
  }

  /**
   * What the calls of this request used, as the engine charged its own limits (what inbound token
   * and cost rules are settled with): the usage of successful calls and of streams that broke off
   * after they started and were failed with their usage (`fail(error, usage)`), plus the cost of
   * replies rejected on the way (`actual_cost` of failed requests). Calls still running are not in
   * it yet (see {@link callsEnded}).
   *
   * @example
   * ```ts
   * res.on('finish', () => log.info(req.resilience.usage()));
   * ```
   */
  usage(): UsageAmounts {
    const u: UsageAmounts = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
    for (const r of this.records) {
      u.costUsd += r.actual_cost;
      if (r.outcome !== 'success' && this.chargedFailures?.has(r) !== true) continue;
      u.inputTokens += r.input_tokens;
      u.outputTokens += r.output_tokens;
    }
    return u;
  }

  /**
   * Undefined when every call made through {@link execute} has ended, else a promise that resolves
   * once they have: a call ends when it resolves or rejects, a stream when it is completed or failed
   * (or, dropped without either, when it is garbage-collected, as the engine then finishes it). The
   * middleware settles the inbound limits after this, so what a call still running when the response
   * closed (a stream its client left) uses is charged too.
   *
   * @example
   * ```ts
   * res.once('close', () => void (req.resilience.callsEnded() ?? Promise.resolve()).then(() => log.info(req.resilience.usage())));
   * ```
   */
  callsEnded(): Promise<void> | undefined {
    if (this.running === 0) return undefined;
    return (this.ended ??= new Promise<void>((resolve) => (this.allEnded = resolve)));
  }

  /**
   * Runs `call` through the shared engine under `route` with this request's identity, priority
   * and disconnect signal. Rejects with the engine's typed errors (send them to
   * `resilienceErrorHandler()`).
   *
   * @example
   * ```ts
   * const { value } = await req.resilience.execute('classification', (t, ctx) => classify(t.model, text, ctx.signal), { input: { prompt: text } });
   * const stream = await req.resilience.execute('chat', streamCall, { stream: true });
   * ```
   */
  execute<T>(route: string, call: ModelCall<T>, overrides: ExecuteOverrides & { stream: true }): Promise<StreamingResult<T>>;
  execute<T>(route: string, call: ModelCall<T>, overrides?: ExecuteOverrides): Promise<ExecuteResult<T>>;
  execute<T>(route: string, call: ModelCall<T>, overrides: ExecuteOverrides = {}): Promise<ExecuteResult<T> | StreamingResult<T>> {
    const own = this.signal;
    const request: ResilienceRequest = { ...overrides, route, signal: overrides.signal ? AbortSignal.any([own, overrides.signal]) : own };
    const identity = overrides.identity ?? this.identity;
    if (identity !== undefined) request.identity = identity;
    const priority = overrides.priority ?? this.priority;
    if (priority !== undefined) request.priority = priority;
    if (overrides.audience === undefined && this.audienceSource !== undefined) {
      // No valid answer: the engine uses the audience of the route called.
      const audience = this.chosenAudience();
      if (audience !== undefined) request.audience = audience;
    }
    this.calls++;
    if (overrides.requestId === undefined && this.requestId !== undefined) {
      request.requestId = this.calls === 1 ? this.requestId : `${this.requestId}.${this.calls}`;
    }
    this.running++;
    return this.engine.execute<T>(request, call).then(
      (result) => {
        this.track(result.record);
        if (request.stream === true && isStreaming(result)) return this.watchStream(result);
        this.callEnded();
        return result;
      },
      (err: unknown) => {
        const record = typeof err === 'object' && err !== null ? (err as { record?: unknown }).record : undefined;
        if (typeof record === 'object' && record !== null && 'request_id' in record) this.track(record as RequestRecord);
        this.callEnded();
        throw err;
      },
    );
  }

  private track(record: RequestRecord): void {
    (this.tracked ??= []).push(record);
  }

  private callEnded(): void {
    if (--this.running > 0) return;
    const resolve = this.allEnded;
    this.allEnded = undefined;
    this.ended = undefined;
    resolve?.();
  }

  /**
   * `result` with `complete` and `fail` that also end the call here. Nothing this object keeps refers
   * to the returned result, so a stream dropped unfinished is still garbage-collected (and finished by
   * the engine); {@link droppedStreams} then ends the call here too.
   */
  private watchStream<T>(result: StreamingResult<T>): StreamingResult<T> {
    const state: StreamState = { open: true, owner: this, record: result.record };
    const watched: StreamingResult<T> = {
      ...result,
      complete: (usage) => {
        const record = result.complete(usage);
        endStream(state, false);
        return record;
      },
      fail: (error, usage) => {
        const record = result.fail(error, usage);
        endStream(state, usage !== undefined);
        return record;
      },
    };
    droppedStreams.register(watched, state, state);
    return watched;
  }

  /** @internal A stream of {@link execute} ended; `charged`: failed with its usage. */
  streamEnded(record: RequestRecord, charged: boolean): void {
    if (charged) (this.chargedFailures ??= new Set()).add(record);
    this.callEnded();
  }
}

/** A stream of {@link RequestResilience.execute} not ended yet, as its watchers see it. */
interface StreamState {
  open: boolean;
  readonly owner: RequestResilience;
  readonly record: RequestRecord;
}

function endStream(state: StreamState, charged: boolean): void {
  if (!state.open) return;
  state.open = false;
  droppedStreams.unregister(state);
  state.owner.streamEnded(state.record, charged);
}

/**
 * Streams dropped without `complete` or `fail`: the engine completes them with their estimate when it
 * finds them garbage-collected; this ends them for the request, a turn later (after the engine's).
 */
const droppedStreams = new FinalizationRegistry<StreamState>((state) => {
  setImmediate(() => endStream(state, false));
});

function isStreaming<T>(result: ExecuteResult<T> | StreamingResult<T>): result is StreamingResult<T> {
  return typeof (result as Partial<StreamingResult<T>>).complete === 'function';
}
