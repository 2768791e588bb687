import { Runnable, RunnableRetry } from '@langchain/core/runnables';

/**
 * A runnable inside a wrapped runnable that retries on its own: a model whose `AsyncCaller` retries
 * (`source: 'maxRetries'`), or a LangChain `withRetry()` (`RunnableRetry`, `source: 'withRetry'`).
 *
 * @example
 * ```ts
 * const found: InnerRetries = { name: 'ChatOpenAI', maxRetries: 6, model, source: 'maxRetries' };
 * ```
 */
export interface InnerRetries {
  /** The runnable's name (`ChatOpenAI`, ...; a `withRetry()` carries the name of what it wraps). */
  name: string;
  /** Retries after the first call (`stopAfterAttempt - 1` for `withRetry`). */
  maxRetries: number;
  /** The model, or the `RunnableRetry`. */
  model: Runnable;
  /** Where the retries come from: the model's `maxRetries`, or a `withRetry()` around part of the chain. */
  source: 'maxRetries' | 'withRetry';
}

const MAX_DEPTH = 8;

function isRunnable(v: unknown): v is Runnable {
  return typeof v === 'object' && v !== null && Runnable.isRunnable(v);
}

/** `stopAfterAttempt` of a `withRetry()` wrapper (also from another copy of @langchain/core), else 0. */
function retryAttempts(node: Runnable): number {
  const isRetry = node instanceof RunnableRetry || (node.constructor as { lc_name?: () => string }).lc_name?.() === 'RunnableRetry';
  const n = (node as { maxAttemptNumber?: unknown }).maxAttemptNumber;
  return isRetry && typeof n === 'number' ? n : 0;
}

/**
 * Finds language models inside `runnable` (bindings, sequences, maps, branches, fallbacks) whose
 * `AsyncCaller` retries failed calls (`maxRetries > 0`; LangChain's default is 6), and `withRetry()`
 * wrappers (`RunnableRetry` with `stopAfterAttempt > 1`). Such retries run below the engine: it cannot see the 429s and 503s, honour Retry-After, count them against the
 * retry budget or open a breaker. Build models with `maxRetries: 0` when wrapping them.
 *
 * @example
 * ```ts
 * findInnerRetries(prompt.pipe(new ChatOpenAI({ model: 'gpt-4o-mini' })));
 * // [{ name: 'ChatOpenAI', maxRetries: 6, model, source: 'maxRetries' }]
 * findInnerRetries(model.withRetry({ stopAfterAttempt: 4 }));
 * // [{ name: 'ChatOpenAI', maxRetries: 3, model: <the RunnableRetry>, source: 'withRetry' }, ...]
 * ```
 */
export function findInnerRetries(runnable: Runnable): InnerRetries[] {
  const found: InnerRetries[] = [];
  const seen = new Set<object>();
  const visit = (node: Runnable, depth: number): void => {
    if (seen.has(node) || depth > MAX_DEPTH) return;
    seen.add(node);
    const attempts = retryAttempts(node);
    if (attempts > 1) found.push({ name: node.getName(), maxRetries: attempts - 1, model: node, source: 'withRetry' });
    const caller = (node as { caller?: { maxRetries?: unknown } }).caller;
    const isModel = typeof (node as { _llmType?: unknown })._llmType === 'function';
    if (isModel) {
      if (typeof caller?.maxRetries === 'number' && caller.maxRetries > 0) {
        found.push({ name: node.getName(), maxRetries: caller.maxRetries, model: node, source: 'maxRetries' });
      }
      // A model's own delegates (ChatOpenAI's Completions/Responses clients) are its internals.
      return;
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === 'lc_kwargs' || key === 'caller' || key === 'client') continue;
      if (isRunnable(value)) visit(value, depth + 1);
      else if (Array.isArray(value)) {
        for (const v of value) {
          if (isRunnable(v)) visit(v, depth + 1);
          else if (Array.isArray(v)) for (const w of v) if (isRunnable(w)) visit(w, depth + 1); // RunnableBranch: [cond, runnable]
        }
      } else if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
        for (const v of Object.values(value)) if (isRunnable(v)) visit(v, depth + 1); // RunnableMap steps
      }
    }
  };
  visit(runnable, 0);
  return found;
}
