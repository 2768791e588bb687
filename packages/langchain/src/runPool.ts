/**
 * Runs `task(0..count-1)` with at most `concurrency` in flight, resolving with the results in
 * input order. Stops starting new tasks after the first rejection and rejects with it.
 *
 * @example
 * ```ts
 * const outs = await runPool(inputs.length, 8, (i) => safe.invoke(inputs[i]));
 * ```
 */
export async function runPool<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  const width = Math.max(1, Math.min(count, Number.isFinite(concurrency) ? Math.floor(concurrency) : count));
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < count) {
      const i = next++;
      try {
        results[i] = await task(i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: count === 0 ? 0 : width }, worker));
  return results;
}
