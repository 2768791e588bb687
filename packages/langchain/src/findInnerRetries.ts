import { type Runnable, RunnableRetry } from '@langchain/core/runnables';
import { runnablesWithin } from './runnablesWithin';

/**
 * A runnable inside a wrapped runnable that retries on its own: a model whose `AsyncCaller` retries
 * (`source: 'maxRetries'`), a model whose SDK client retries each request (`source: 'clientMaxRetries'`:
 * ChatOpenAI's `configuration: { maxRetries }`), or a LangChain `withRetry()` (`RunnableRetry`,
 * `source: 'withRetry'`).
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
  /**
   * Where the retries come from: the model's `maxRetries`, its SDK client's `maxRetries`
   * (`clientConfig.maxRetries`, from ChatOpenAI's `configuration`, or its `client`'s), or a
   * `withRetry()` around part of the chain.
   */
  source: 'maxRetries' | 'clientMaxRetries' | 'withRetry';
}

/** `stopAfterAttempt` of a `withRetry()` wrapper (also from another copy of @langchain/core), else 0. */
function retryAttempts(node: Runnable): number {
  const isRetry = node instanceof RunnableRetry || (node.constructor as { lc_name?: () => string }).lc_name?.() === 'RunnableRetry';
  const n = (node as { maxAttemptNumber?: unknown }).maxAttemptNumber;
  return isRetry && typeof n === 'number' ? n : 0;
}

/** Retries a number of its own when it is a positive number, else 0. */
function retriesOf(v: unknown): number {
  return typeof v === 'number' && v > 0 ? v : 0;
}

/**
 * Retries of a model's SDK client: ChatOpenAI hands `clientConfig` (its `configuration`) to every
 * request of the openai SDK, whose `maxRetries` there retries the request itself; a `client` built
 * with `maxRetries > 0` retries too.
 */
function clientRetries(node: Runnable): number {
  const m = node as { clientConfig?: { maxRetries?: unknown } | null; client?: { maxRetries?: unknown } | null };
  return Math.max(retriesOf(m.clientConfig?.maxRetries), retriesOf(m.client?.maxRetries));
}

/**
 * Finds language models inside `runnable` (bindings, sequences, maps, branches, fallbacks) whose
 * `AsyncCaller` retries failed calls (`maxRetries > 0`; LangChain's default is 6) or whose SDK client
 * retries each request (ChatOpenAI's `configuration: { maxRetries }` > 0, or a `client` with
 * `maxRetries > 0`), and `withRetry()` wrappers (`RunnableRetry` with `stopAfterAttempt > 1`). Such
 * retries run below the engine: it cannot see the 429s and 503s, honour Retry-After, count them
 * against the retry budget or open a breaker. Build models with `maxRetries: 0` (and no SDK
 * `maxRetries` above 0) when wrapping them.
 *
 * @example
 * ```ts
 * findInnerRetries(prompt.pipe(new ChatOpenAI({ model: 'gpt-4o-mini' })));
 * // [{ name: 'ChatOpenAI', maxRetries: 6, model, source: 'maxRetries' }]
 * findInnerRetries(new ChatOpenAI({ model: 'gpt-4o-mini', maxRetries: 0, configuration: { maxRetries: 2 } }));
 * // [{ name: 'ChatOpenAI', maxRetries: 2, model, source: 'clientMaxRetries' }]
 * findInnerRetries(model.withRetry({ stopAfterAttempt: 4 }));
 * // [{ name: 'ChatOpenAI', maxRetries: 3, model: <the RunnableRetry>, source: 'withRetry' }, ...]
 * ```
 */
export function findInnerRetries(runnable: Runnable): InnerRetries[] {
  const found: InnerRetries[] = [];
  for (const node of runnablesWithin(runnable)) {
    const attempts = retryAttempts(node);
    if (attempts > 1) found.push({ name: node.getName(), maxRetries: attempts - 1, model: node, source: 'withRetry' });
    const isModel = typeof (node as { _llmType?: unknown })._llmType === 'function';
    if (!isModel) continue;
    const own = retriesOf((node as { caller?: { maxRetries?: unknown } }).caller?.maxRetries);
    if (own > 0) found.push({ name: node.getName(), maxRetries: own, model: node, source: 'maxRetries' });
    const client = clientRetries(node);
    if (client > 0) found.push({ name: node.getName(), maxRetries: client, model: node, source: 'clientMaxRetries' });
  }
  return found;
}
