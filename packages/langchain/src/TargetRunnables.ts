import type { Runnable } from '@langchain/core/runnables';
import type { Policy, ResolvedTarget } from '@llm-resilience/core';
import type { TargetRunnable } from './types';
import { UnmappedTargetError } from './UnmappedTargetError';

/**
 * Which runnable serves which target of a route. Explicit `targets` entries win; the rest of the
 * route's chain is served positionally: the wrapped runnable serves the first target, `fallbacks[i]`
 * the (i+2)-th. Factories are called once, on first use (their runnable passed to `checkBuilt` first). {@link TargetRunnables.problems} lists
 * what cannot work (checked at construction by the ResilientRunnable).
 *
 * @example
 * ```ts
 * const map = new TargetRunnables(engine.policy, 'summary', chain, [longChain], {});
 * map.get(engine.policy.targets['long-b']!); // longChain
 * ```
 */
export class TargetRunnables<RunInput = any, RunOutput = any> {
  private readonly entries = new Map<string, TargetRunnable<RunInput, RunOutput>>();
  private readonly built = new Map<string, Runnable<RunInput, RunOutput>>();
  /** Id of the route's first target ('' when the route is unknown). */
  readonly primaryId: string;
  /** What cannot work, one sentence each; empty when the mapping is complete. */
  readonly problems: readonly string[];

  constructor(
    policy: Policy,
    private readonly route: string,
    primary: Runnable<RunInput, RunOutput>,
    fallbacks: ReadonlyArray<Runnable<RunInput, RunOutput>>,
    targets: Readonly<Record<string, TargetRunnable<RunInput, RunOutput>>>,
    /** Checks a runnable a factory built, before it is used (it may throw). */
    private readonly checkBuilt: (runnable: Runnable<RunInput, RunOutput>) => void = () => undefined,
  ) {
    const problems: string[] = [];
    const r = Object.hasOwn(policy.routes, route) ? policy.routes[route] : undefined;
    if (!r) {
      problems.push(`route '${route}' is not in the policy (known routes: ${Object.keys(policy.routes).join(', ') || 'none'})`);
      this.primaryId = '';
      this.problems = problems;
      return;
    }
    const chain = r.chain.map((t) => t.id);
    this.primaryId = chain[0] ?? '';
    const known = new Set([...Object.keys(policy.targets), ...Object.values(policy.routes).flatMap((x) => x.chain.map((t) => t.id))]);
    for (const [id, runnable] of Object.entries(targets)) {
      if (!known.has(id)) problems.push(`targets['${id}'] is not a target of the policy (route '${route}' has ${chain.join(', ')})`);
      else this.entries.set(id, runnable);
    }
    if (fallbacks.length > chain.length - 1) {
      problems.push(
        `${fallbacks.length} fallback runnable(s) given, but route '${route}' has only ${chain.length - 1} fallback target(s) (${chain.slice(1).join(', ') || 'none'}); ` +
          'add targets to the route chain or map runnables with `targets`',
      );
    }
    const positional: Array<Runnable<RunInput, RunOutput> | undefined> = [primary, ...fallbacks];
    chain.forEach((id, i) => {
      if (this.entries.has(id)) return;
      const p = positional[i];
      if (p) this.entries.set(id, p);
      else problems.push(`target '${id}' (chain[${i}] of route '${route}') has no runnable: pass it in \`fallbacks\` or \`targets\``);
    });
    this.problems = problems;
  }

  /** The runnable serving `target`; throws {@link UnmappedTargetError} when there is none. */
  get(target: ResolvedTarget): Runnable<RunInput, RunOutput> {
    const ready = this.built.get(target.id);
    if (ready) return ready;
    const entry = this.entries.get(target.id);
    if (!entry) throw new UnmappedTargetError(target.id, this.route);
    const runnable = typeof entry === 'function' ? entry(target) : entry;
    if (typeof entry === 'function') this.checkBuilt(runnable);
    this.built.set(target.id, runnable);
    return runnable;
  }

  /** Runnables given directly (not factories), for start-up checks. */
  direct(): Array<Runnable<RunInput, RunOutput>> {
    return [...new Set([...this.entries.values()].filter((e): e is Runnable<RunInput, RunOutput> => typeof e !== 'function'))];
  }
}
