import { Runnable } from '@langchain/core/runnables';

/**
 * How many runnables the walk lists at most: far past any real chain (a LangGraph app with nested
 * subgraphs has hundreds), a bound on the work for a generated or pathological graph.
 */
const MAX_NODES = 10_000;

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
 * maps, the branches of `RunnableBranch`, at any depth (10 000 runnables at most). A language model is listed but not
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
  // Depth first, in the order of the fields, without recursion (no depth limit: the `seen` set ends cycles).
  const stack: Runnable[] = [runnable];
  while (stack.length > 0 && found.length < MAX_NODES) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    found.push(node);
    if (isLanguageModel(node)) continue;
    const children: Runnable[] = [];
    for (const [key, value] of Object.entries(node)) {
      if (key === 'lc_kwargs' || key === 'caller' || key === 'client') continue;
      if (isRunnable(value)) children.push(value);
      else if (Array.isArray(value)) {
        for (const v of value) {
          if (isRunnable(v)) children.push(v);
          else if (Array.isArray(v)) for (const w of v) if (isRunnable(w)) children.push(w); // RunnableBranch: [cond, runnable]
        }
      } else if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
        for (const v of Object.values(value)) if (isRunnable(v)) children.push(v); // RunnableMap steps
      }
    }
    for (let i = children.length - 1; i >= 0; i--) if (!seen.has(children[i]!)) stack.push(children[i]!);
  }
  return found;
}
