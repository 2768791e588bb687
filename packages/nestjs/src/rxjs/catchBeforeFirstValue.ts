import { catchError, defer, from, tap, throwError, type MonoTypeOperatorFunction, type ObservableInput } from 'rxjs';

/**
 * `catchError` for a source that has not emitted yet: `replace(error)` gives what to subscribe
 * instead, or `undefined` to let the error go on. Once a value went out (a stream's first chunks), the
 * error always goes on: a replacement would be spliced after what the subscriber already has. Tracked
 * per subscription.
 *
 * @example
 * ```ts
 * stream$.pipe(catchBeforeFirstValue((err) => (classifyError(err).kind === 'overloaded' ? of(CANNED) : undefined)));
 * ```
 */
export function catchBeforeFirstValue<T>(replace: (error: unknown) => ObservableInput<T> | undefined): MonoTypeOperatorFunction<T> {
  return (source) =>
    defer(() => {
      let emitted = false;
      return source.pipe(
        tap(() => (emitted = true)),
        catchError((error: unknown) => {
          const next = emitted ? undefined : replace(error);
          return next === undefined ? throwError(() => error) : from(next);
        }),
      );
    });
}
