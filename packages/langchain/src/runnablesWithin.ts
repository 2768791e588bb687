import { Runnable } from '@langchain/core/runnables';

/** How deep the walk goes: chains nest a few levels (a binding around a sequence in a branch), never this many. */
const MAX_DEPTH = 8;

function isRunnable(v: unknown): v is Runnable {
  return typeof v === 'object' && v !== null && Runnable.isRunnable(v);
}

/** Whether `node` is a language model (a chat model or an LLM): its own runnables are internals. */
function isLanguageModel(node: Runnable): boolean {
  return typeof (node as { _llmType?: unknown })._llmType === 'function';
}

/**
 * `runnable` and the runnables inside it, each once: the steps of sequences, the bound runnable of
 * bindings (`withConfig`, `bind`, `withRetry`), runnables and fallbacks of `withFallbacks`, the steps of
 * maps, the branches of `RunnableBranch`, 8 levels deep at most. A language model is listed but not
 * entered (ChatOpenAI's Completions and Responses delegates are its internals), and neither is what a
 * `RunnableLambda` calls (a closure). Runnables of any @langchain/core copy are found.
 *
 * @example
 * ```ts
 * runnablesWithin(prompt.pipe(model).pipe(new JsonOutputParser()));
 * // [the RunnableSequence, the prompt, the model, the parser]
 * ```
 */
export function runnablesWithin(runnable: Runnable): Runnable[] {
  const found: Runnable[] = [];
  const seen = new Set<object>();
  const visit = (node: Runnable, depth: number): void => {
    if (seen.has(node) || depth > MAX_DEPTH) return;
    seen.add(node);
    found.push(node);
    if (isLanguageModel(node)) return;
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
