import { from, isObservable, type ObservableInput, type Subscription } from 'rxjs';

/**
 * Subscribes to `input` and resolves with every value it emitted once it completes; unsubscribes and
 * rejects with the signal's reason when `signal` aborts (an attempt's timeout or cancellation).
 *
 * @example
 * ```ts
 * await collect(of(1, 2, 3)); // [1, 2, 3]
 * ```
 */
export function collect<T>(input: ObservableInput<T>, signal?: AbortSignal): Promise<T[]> {
  return new Promise<T[]>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const values: T[] = [];
    let subscription: Subscription | undefined;
    let settled = false;
    const onAbort = (): void => {
      if (settled) return;
      settled = true;
      subscription?.unsubscribe();
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      settled = true;
      signal?.removeEventListener('abort', onAbort);
    };
    subscription = from(input).subscribe({
      next: (v) => values.push(v),
      error: (e: unknown) => {
        if (settled) return;
        done();
        reject(e);
      },
      complete: () => {
        if (settled) return;
        done();
        resolve(values);
      },
    });
    if (settled) subscription.unsubscribe();
  });
}

/**
 * The values a method's return value stands for: every value of an Observable, the resolved value of
 * a Promise, or the value itself.
 *
 * @example
 * ```ts
 * await valuesOf(Promise.resolve('a')); // ['a']
 * ```
 */
export async function valuesOf<T>(result: unknown, signal?: AbortSignal): Promise<T[]> {
  if (isObservable(result)) return collect(result as ObservableInput<T>, signal);
  return [(await result) as T];
}

/**
 * True for a class whose instances are Observables (any copy of rxjs): how a `design:returntype`
 * of `Observable` is recognised.
 *
 * @example
 * ```ts
 * isObservableType(Observable); // true
 * isObservableType(Promise);    // false
 * ```
 */
export function isObservableType(type: unknown): boolean {
  if (typeof type !== 'function') return false;
  const proto = (type as { prototype?: unknown }).prototype;
  return typeof proto === 'object' && proto !== null && isObservable(proto);
}
