import type { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import { CallbackManager, type CallbackManagerForChainRun } from '@langchain/core/callbacks/manager';
import type { Serialized } from '@langchain/core/load/serializable';
import type { AttemptContext, Resilience, ResolvedTarget } from '@llm-resilience/core';

/** How an attempt run is described to tracers (it is not a serializable Runnable). */
const SERIALIZED: Serialized = { lc: 1, type: 'not_implemented', id: ['llm_resilience', 'attempt'] };

/**
 * One attempt as a child run of the ResilientRunnable's run: started before the model call, ended
 * (or errored) after it. `callbacks` is what the attempt's runnable must be called with, so its
 * own runs nest under the attempt.
 *
 * @example
 * ```ts
 * const run = await startAttemptRun(runManager, { target, ctx, fallback: false }, [usage]);
 * try { const out = await model.invoke(input, { callbacks: run.callbacks }); await run.end(out); }
 * catch (e) { await run.fail(e); throw e; }
 * ```
 */
export interface AttemptRun {
  /** `attempt:<targetId>#<n>`. */
  readonly name: string;
  readonly callbacks: CallbackManager;
  end(output: unknown): Promise<void>;
  fail(error: unknown): Promise<void>;
}

/**
 * What an attempt run records: which target, which attempt, whether it is a fallback or a retry.
 *
 * @example
 * ```ts
 * const info: AttemptInfo = { target, ctx, fallback: target.id !== route.chain[0].id };
 * ```
 */
export interface AttemptInfo {
  target: ResolvedTarget;
  ctx: Pick<AttemptContext, 'attempt' | 'targetAttempt' | 'requestId' | 'route'>;
  /** The target is not the route's first. */
  fallback: boolean;
  /** The engine whose request the attempt is (named on the run as `llmr_engine`, see {@link engineIdOf}). */
  engine?: Resilience;
}

/** Key of the attempt run's metadata naming its engine (see {@link engineIdOf}). */
export const ENGINE_METADATA_KEY = 'llmr_engine';

const engineIds = new WeakMap<object, string>();

/**
 * A stable id of one engine instance, for this process: the `llmr_engine` metadata of its attempt
 * runs. Random, so that two copies of this module (ESM and CJS) never give two engines one id.
 *
 * @example
 * ```ts
 * engineIdOf(engine) === engineIdOf(engine); // true
 * ```
 */
export function engineIdOf(engine: Resilience): string {
  let id = engineIds.get(engine);
  if (id === undefined) {
    id = `engine_${globalThis.crypto.randomUUID()}`;
    engineIds.set(engine, id);
  }
  return id;
}

function asOutputs(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)
    ? (value as Record<string, unknown>)
    : { output: value };
}

/**
 * Starts the child run of one attempt, named `attempt:<targetId>#<attempt>`, tagged
 * `llmr:attempt` (+ `llmr:fallback` on a fallback target, `llmr:retry` on a repeated target), with
 * the target, provider, model and attempt numbers as metadata (and, given `info.engine`, the engine's
 * id as `llmr_engine`: a collector tells its own engine's nested attempts from another's). Without a parent run (no callbacks
 * configured) only `handlers` are attached. The prompt is not copied into the attempt run: the
 * parent run and the model run already carry it.
 *
 * @example
 * ```ts
 * const run = await startAttemptRun(runManager, { target, ctx, fallback: true }, [usage]);
 * run.name; // 'attempt:long-b#3'
 * ```
 */
export async function startAttemptRun(
  parent: CallbackManagerForChainRun | undefined,
  info: AttemptInfo,
  handlers: readonly BaseCallbackHandler[],
): Promise<AttemptRun> {
  const name = `attempt:${info.target.id}#${info.ctx.attempt}`;
  if (!parent) {
    const callbacks = new CallbackManager();
    for (const h of handlers) callbacks.addHandler(h, true);
    return { name, callbacks, end: async () => undefined, fail: async () => undefined };
  }
  const manager = parent.getChild();
  const tags = ['llmr:attempt'];
  if (info.fallback) tags.push('llmr:fallback');
  if (info.ctx.targetAttempt > 1) tags.push('llmr:retry');
  manager.addTags(tags, false);
  manager.addMetadata(
    {
      llmr_request_id: info.ctx.requestId,
      llmr_route: info.ctx.route,
      llmr_target: info.target.id,
      llmr_provider: info.target.provider,
      llmr_model: info.target.model,
      llmr_attempt: info.ctx.attempt,
      llmr_target_attempt: info.ctx.targetAttempt,
      llmr_fallback: info.fallback,
      ...(info.engine !== undefined ? { [ENGINE_METADATA_KEY]: engineIdOf(info.engine) } : {}),
    },
    false,
  );
  const run = await manager.handleChainStart(
    SERIALIZED,
    { target: info.target.id, attempt: info.ctx.attempt },
    undefined,
    undefined,
    undefined,
    undefined,
    name,
  );
  const callbacks = run.getChild();
  for (const h of handlers) callbacks.addHandler(h, true);
  let done = false;
  return {
    name,
    callbacks,
    end: async (output) => {
      if (done) return;
      done = true;
      await run.handleChainEnd(asOutputs(output));
    },
    fail: async (error) => {
      if (done) return;
      done = true;
      await run.handleChainError(error);
    },
  };
}
