import { Runnable } from '@langchain/core/runnables';

/**
 * A model inside a runnable that retries on its own.
 *
 * @example
 * ```ts
 * const found: InnerRetries = { name: 'ChatOpenAI', maxRetries: 6, model };
 * ```
 */
export interface InnerRetries {
  /** The model's runnable name (`ChatOpenAI`, ...). */
  name: string;
  maxRetries: number;
  model: Runnable;
}

const MAX_DEPTH = 8;

function isRunnable(v: unknown): v is Runnable {
  return typeof v === 'object' && v !== null && Runnable.isRunnable(v);
}

/**
 * Finds language models inside `runnable` (bindings, sequences, maps, branches, fallbacks) whose
 * `AsyncCaller` retries failed calls (`maxRetries > 0`; LangChain's default is 6). Such retries run
 * below the engine: it cannot see the 429s and 503s, honour Retry-After, count them against the
 * retry budget or open a breaker. Build models with `maxRetries: 0` when wrapping them.
 *
 * @example
 * ```ts
 * findInnerRetries(prompt.pipe(new ChatOpenAI({ model: 'gpt-4o-mini' })));
 * // [{ name: 'ChatOpenAI', maxRetries: 6, model }]
 * ```
 */
export function findInnerRetries(runnable: Runnable): InnerRetries[] {
  const found: InnerRetries[] = [];
  const seen = new Set<object>();
  const visit = (node: Runnable, depth: number): void => {
    if (seen.has(node) || depth > MAX_DEPTH) return;
    seen.add(node);
    const caller = (node as { caller?: { maxRetries?: unknown } }).caller;
    const isModel = typeof (node as { _llmType?: unknown })._llmType === 'function';
    if (isModel) {
      if (typeof caller?.maxRetries === 'number' && caller.maxRetries > 0) {
        found.push({ name: node.getName(), maxRetries: caller.maxRetries, model: node });
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
