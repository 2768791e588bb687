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
import { CallTracker } from './CallTracker';
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
  private callList = new CallTracker();
  /**
   * @internal The calls made through {@link execute} (what the middleware settles inbound limits
   * with); shared with the `RequestResilience` of an earlier `resilience()` on the same request.
   */
  get tracker(): CallTracker {
    return this.callList;
  }

  /**
   * @internal Called by the middleware when an earlier `resilience()` already bound `previous` to
   * this request (one on the app, one on a router): the calls made through this one are put on
   * the same list, so the earlier middleware settles its limits (tokens, cost, concurrency) with
   * them and waits for them; `limits` and the double-count mark carry over unless this middleware
   * has limits of its own.
   */
  continueFrom(previous: RequestResilience): void {
    this.callList = previous.callList;
    this.counted = previous.counted;
    if (previous.inbound !== undefined) {
      this.inbound = previous.inbound;
      this.reservation = previous.reservation;
      this.statuses = previous.statuses;
    }
  }

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
    return this.tracker.records;
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
    return this.tracker.usage();
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
    return this.tracker.allEnded();
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
    const tracker = this.tracker;
    // Numbered on the shared tracker: a router's resilience() continuing the app's goes on counting,
    // so no two calls of one request get the same id.
    const n = tracker.nextCallNumber();
    if (overrides.requestId === undefined && this.requestId !== undefined) {
      request.requestId = n === 1 ? this.requestId : `${this.requestId}.${n}`;
    }
    tracker.started();
    return this.engine.execute<T>(request, call).then(
      (result) => {
        tracker.records.push(result.record);
        if (request.stream === true && isStreaming(result)) return watchStream(this.engine, tracker, result);
        tracker.ended(result.record);
        return result;
      },
      (err: unknown) => {
        const record = typeof err === 'object' && err !== null ? (err as { record?: unknown }).record : undefined;
        const known = typeof record === 'object' && record !== null && 'request_id' in record ? (record as RequestRecord) : undefined;
        if (known !== undefined) tracker.records.push(known);
        tracker.ended(known);
        throw err;
      },
    );
  }
}

/**
 * Per engine, the streams of `execute` not ended yet, by record, with the tracker of their request.
 * The engine emits a stream's record when it ends, however it ends: `complete`, `fail`, or its own
 * safety net for a result dropped unfinished (completed with the estimate when garbage-collected).
 * One `record` listener per engine ends them here; whether the engine charged the stream's usage is
 * read from that record (see `CallTracker`), not from what `complete` or `fail` was given. Nothing in
 * this map reaches a stream's result, so a dropped one stays collectable.
 */
const openStreams = new WeakMap<Resilience, Map<RequestRecord, CallTracker>>();

function streamsOf(engine: Resilience): Map<RequestRecord, CallTracker> {
  let streams = openStreams.get(engine);
  if (streams === undefined) {
    const map = (streams = new Map<RequestRecord, CallTracker>());
    openStreams.set(engine, map);
    engine.events.on('record', (record) => {
      const tracker = map.get(record);
      if (tracker === undefined) return;
      map.delete(record);
      tracker.ended(record);
    });
  }
  return streams;
}

/** `result`, its end (its record emitted by the engine) ending the call on `tracker`. */
function watchStream<T>(engine: Resilience, tracker: CallTracker, result: StreamingResult<T>): StreamingResult<T> {
  streamsOf(engine).set(result.record, tracker);
  return result;
}

function isStreaming<T>(result: ExecuteResult<T> | StreamingResult<T>): result is StreamingResult<T> {
  return typeof (result as Partial<StreamingResult<T>>).complete === 'function';
}
