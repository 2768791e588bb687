import { type Runnable, RunnableRetry } from '@langchain/core/runnables';
import { runnablesWithin } from './runnablesWithin';

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
  for (const node of runnablesWithin(runnable)) {
    const attempts = retryAttempts(node);
    if (attempts > 1) found.push({ name: node.getName(), maxRetries: attempts - 1, model: node, source: 'withRetry' });
    const caller = (node as { caller?: { maxRetries?: unknown } }).caller;
    const isModel = typeof (node as { _llmType?: unknown })._llmType === 'function';
    if (isModel && typeof caller?.maxRetries === 'number' && caller.maxRetries > 0) {
      found.push({ name: node.getName(), maxRetries: caller.maxRetries, model: node, source: 'maxRetries' });
    }
  }
  return found;
}
