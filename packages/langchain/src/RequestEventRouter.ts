import type { Resilience, ResilienceEvents } from '@llm-resilience/core';

/**
 * Engine events that concern one request and are dispatched as custom events (`llmr_<name>`) on the
 * call's run.
 *
 * @example
 * ```ts
 * for await (const e of safe.streamEvents(input, { version: 'v2' })) {
 *   if (e.event === 'on_custom_event' && TRACED_EVENTS.some((n) => e.name === `llmr_${n}`)) log(e.name, e.data);
 * }
 * ```
 */
export const TRACED_EVENTS = ['retry', 'fallback', 'skip', 'limited', 'validation'] as const;

/**
 * One of {@link TRACED_EVENTS}.
 *
 * @example
 * ```ts
 * const name: TracedEvent = 'fallback';
 * ```
 */
export type TracedEvent = (typeof TRACED_EVENTS)[number];

/**
 * Engine events routed to a request's watcher: the {@link TRACED_EVENTS}, plus `attempt` (the record of
 * each attempt as the engine judged it), which the adapter reads to end each attempt's run with the
 * engine's verdict (see `AttemptVerdicts`) and does not dispatch as a custom event.
 *
 * @example
 * ```ts
 * router.watch(requestId, (name, e) => { if (name === 'attempt') verdicts.onEvent(name, e); });
 * ```
 */
export type RoutedEvent = TracedEvent | 'attempt';

const ROUTED_EVENTS: readonly RoutedEvent[] = [...TRACED_EVENTS, 'attempt'];

type Handler = (name: RoutedEvent, payload: ResilienceEvents[RoutedEvent]) => void;

const routers = new WeakMap<Resilience, RequestEventRouter>();

/**
 * Routes the engine's per-request events (retry, fallback, skip, limited, validation, attempt) to whoever
 * watches that request id, with one engine subscription per event however many requests are in
 * flight. Subscribes while at least one request is watched, unsubscribes when none is.
 *
 * @example
 * ```ts
 * const stop = RequestEventRouter.of(engine).watch(requestId, (name, e) => runManager.handleCustomEvent(`llmr_${name}`, e));
 * try { await engine.execute({ ...req, requestId }, call); } finally { stop(); }
 * ```
 */
export class RequestEventRouter {
  private readonly handlers = new Map<string, Handler>();
  private subscriptions: Array<{ dispose(): void }> = [];

  private constructor(private readonly engine: Resilience) {}

  /** The router of `engine` (one per engine). */
  static of(engine: Resilience): RequestEventRouter {
    let r = routers.get(engine);
    if (!r) {
      r = new RequestEventRouter(engine);
      routers.set(engine, r);
    }
    return r;
  }

  /** Calls `handler` for every routed event ({@link RoutedEvent}) of `requestId` until the returned function is called. */
  watch(requestId: string, handler: Handler): () => void {
    this.handlers.set(requestId, handler);
    if (this.subscriptions.length === 0) this.subscribe();
    return () => {
      if (this.handlers.get(requestId) !== handler) return;
      this.handlers.delete(requestId);
      if (this.handlers.size === 0) this.unsubscribe();
    };
  }

  /** Requests being watched. */
  get size(): number {
    return this.handlers.size;
  }

  private subscribe(): void {
    this.subscriptions = ROUTED_EVENTS.map((name) =>
      this.engine.events.on(name, (payload: ResilienceEvents[RoutedEvent]) => {
        this.handlers.get((payload as { requestId: string }).requestId)?.(name, payload);
      }),
    );
  }

  private unsubscribe(): void {
    for (const s of this.subscriptions) s.dispose();
    this.subscriptions = [];
  }
}
