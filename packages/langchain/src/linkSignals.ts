/**
 * One signal that aborts when any of the given signals aborts (with that signal's reason).
 * Undefined entries are ignored; with a single signal, that signal is returned as is.
 *
 * @example
 * ```ts
 * const signal = linkSignals(ctx.signal, config.signal); // the attempt's, and the caller's after the attempt settled
 * ```
 */
export function linkSignals(...signals: ReadonlyArray<AbortSignal | undefined>): AbortSignal | undefined {
  const list = signals.filter((s): s is AbortSignal => s !== undefined);
  const unique = [...new Set(list)];
  if (unique.length <= 1) return unique[0];
  return AbortSignal.any(unique);
}
