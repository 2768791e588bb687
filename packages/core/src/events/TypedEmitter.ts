/**
 * Something that can be undone once: returned by {@link TypedEmitter.on} (unsubscribes) and by
 * subscriptions elsewhere in the library. Calling `dispose()` twice is harmless.
 *
 * @example
 * ```ts
 * const sub: Disposable = engine.events.on('record', (r) => log.info(r));
 * sub.dispose();
 * ```
 */
export interface Disposable {
  dispose(): void;
}

/**
 * A listener of one event. It may be an `async` function: a rejected promise is reported like a thrown
 * error.
 *
 * @example
 * ```ts
 * const onBreaker: Listener<{ key: string; to: string }> = (e) => console.log(e.key, '->', e.to);
 * ```
 */
export type Listener<T> = (payload: T) => void;

/**
 * Options of {@link TypedEmitter}.
 *
 * @example
 * ```ts
 * new TypedEmitter<MyEvents>({ onListenerError: (err, name) => logger.error('listener failed', { name, err }) });
 * ```
 */
export interface TypedEmitterOptions {
  /**
   * Receives errors thrown (or promises rejected) by listeners. The emitter never lets them reach the
   * code that called `emit`. Default: `console.error` with the event name.
   */
  onListenerError?: (error: unknown, event: string) => void;
}

function defaultOnListenerError(error: unknown, event: string): void {
  // eslint-disable-next-line no-console
  console.error(`[llm-resilience] a listener of "${event}" threw; the emitter ignored it:`, error);
}

/**
 * A tiny, typed, synchronous event emitter. `Events` maps each event name to its payload type (a
 * `type` alias or an `interface`).
 *
 * - `on` returns a {@link Disposable}; there is no `off`.
 * - `emit` calls listeners in subscription order, synchronously. A listener that throws (or returns a
 *   rejected promise) is reported to `onListenerError` and never breaks the caller or the listeners
 *   after it.
 * - Cheap: `emit` allocates nothing; with no listeners it is one map lookup. Callers that build a
 *   payload only to emit it can check {@link TypedEmitter.hasListeners} first, so an event nobody
 *   listens to costs no allocation at all.
 * - Subscribing or disposing from inside a listener is safe: it takes effect from the next `emit`
 *   (listener lists are copied on write, never during `emit`).
 *
 * @example
 * ```ts
 * type Events = { breaker: { key: string; from: string; to: string }; record: RequestRecord };
 * const events = new TypedEmitter<Events>();
 * const sub = events.on('breaker', (e) => console.log(`${e.key}: ${e.from} -> ${e.to}`));
 * if (events.hasListeners('breaker')) events.emit('breaker', { key: 'target:fast-a', from: 'closed', to: 'open' });
 * sub.dispose();
 * ```
 */
export class TypedEmitter<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners = new Map<keyof Events, ReadonlyArray<Listener<never>>>();
  private readonly onListenerError: (error: unknown, event: string) => void;

  constructor(options: TypedEmitterOptions = {}) {
    this.onListenerError = options.onListenerError ?? defaultOnListenerError;
  }

  /**
   * Calls `listener` on every `emit(name, ...)` until the returned disposable is disposed.
   *
   * @example
   * ```ts
   * const sub = emitter.on('record', (r) => sink.write(r));
   * // later
   * sub.dispose();
   * ```
   */
  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): Disposable {
    const current = this.listeners.get(name) ?? [];
    this.listeners.set(name, [...current, listener as Listener<never>]);
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        const list = this.listeners.get(name);
        if (!list) return;
        const i = list.indexOf(listener as Listener<never>);
        if (i < 0) return;
        if (list.length === 1) this.listeners.delete(name);
        else this.listeners.set(name, [...list.slice(0, i), ...list.slice(i + 1)]);
      },
    };
  }

  /**
   * Calls every listener of `name` with `payload`, synchronously, in subscription order. Never throws
   * because of a listener.
   *
   * @example
   * ```ts
   * emitter.emit('breaker', { key: 'provider:openai', from: 'closed', to: 'open' });
   * ```
   */
  emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    const list = this.listeners.get(name) as ReadonlyArray<Listener<Events[K]>> | undefined;
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) {
      try {
        const result: unknown = list[i]!(payload);
        if (result instanceof Promise) result.then(undefined, (error: unknown) => this.report(error, name));
      } catch (error) {
        this.report(error, name);
      }
    }
  }

  /**
   * True when `name` has at least one listener: lets a caller skip building a payload nobody reads.
   *
   * @example
   * ```ts
   * if (emitter.hasListeners('attempt')) emitter.emit('attempt', buildAttemptPayload());
   * ```
   */
  hasListeners<K extends keyof Events>(name: K): boolean {
    return this.listeners.has(name);
  }

  /**
   * Number of listeners of `name`.
   *
   * @example
   * ```ts
   * expect(emitter.listenerCount('record')).toBe(1);
   * ```
   */
  listenerCount<K extends keyof Events>(name: K): number {
    return this.listeners.get(name)?.length ?? 0;
  }

  private report(error: unknown, name: keyof Events): void {
    try {
      this.onListenerError(error, String(name));
    } catch {
      // The error reporter itself failed: nothing sensible is left to do, and emit must not throw.
    }
  }
}
