import type OpenAI from 'openai';
import type { Resilience } from '@llm-resilience/core';
import { createRandom } from '@llm-resilience/testing';
import { chatCall } from './modelCall';
import { messagesFor } from './prompts';
import type { Scenario, TrafficSpec } from './scenario';
import type { TimeLapseClock } from './timeLapseClock';

/**
 * One request the traffic generator will send.
 *
 * @example
 * ```ts
 * const a: Arrival = { id: 'chat-0001', atMs: 1234, spec, n: 1, user: 'web-u7', promptTokens: 320 };
 * ```
 */
export interface Arrival {
  /** Also the engine's request id, so records can be matched to the route that was asked for. */
  id: string;
  /** Scenario ms after the start. */
  atMs: number;
  spec: TrafficSpec;
  /** Index within its route (varies the prompt). */
  n: number;
  user: string;
  promptTokens: number;
}

/**
 * All arrivals of a scenario, in time order: Poisson arrivals at each route's rate plus bursts
 * (spread over half a second). Seeded, so every run sends the same traffic.
 *
 * @example
 * ```ts
 * const arrivals = planArrivals(buildScenario({ mode: 'fake', scale: 1 }), 7);
 * ```
 */
export function planArrivals(scenario: Scenario, seed = 7): Arrival[] {
  const rnd = createRandom(seed);
  const out: Arrival[] = [];
  for (const spec of scenario.traffic) {
    let n = 0;
    const add = (atMs: number) => {
      const [lo, hi] = spec.promptTokens;
      out.push({
        id: `${spec.route}-${String(++n).padStart(4, '0')}`,
        atMs: Math.round(atMs),
        spec,
        n,
        user: `${spec.team}-u${Math.floor(rnd() * spec.users) + 1}`,
        promptTokens: Math.round(lo + rnd() * (hi - lo)),
      });
    };
    if (spec.ratePerSecond > 0) {
      for (let t = -Math.log(1 - rnd()) / spec.ratePerSecond; t < scenario.durationS; t += -Math.log(1 - rnd()) / spec.ratePerSecond) add(t * 1000);
    }
    for (const b of spec.bursts ?? []) for (let i = 0; i < b.count; i++) add(b.at * 1000 + rnd() * 500);
  }
  return out.sort((a, b) => a.atMs - b.atMs || a.id.localeCompare(b.id));
}

/**
 * Counts of the traffic generator, read by the progress display.
 *
 * @example
 * ```ts
 * `${state.done}/${state.planned} done, ${state.inFlight} in flight`;
 * ```
 */
export interface TrafficState {
  planned: number;
  sent: number;
  done: number;
  succeeded: number;
  inFlight: number;
}

/**
 * Options of {@link runTraffic}.
 *
 * @example
 * ```ts
 * await runTraffic({ scenario, arrivals, engine, clients, clock, state });
 * ```
 */
export interface RunTrafficOptions {
  scenario: Scenario;
  arrivals: readonly Arrival[];
  engine: Resilience;
  clients: Readonly<Record<string, OpenAI>>;
  clock: TimeLapseClock;
  state: TrafficState;
}

/**
 * Sends every arrival at its time through `engine.execute`, then waits for queued and in-flight
 * work (at most the scenario's drain time; what is still queued then is rejected by the engine's
 * shutdown and counted as failed).
 *
 * @example
 * ```ts
 * const state = { planned: arrivals.length, sent: 0, done: 0, succeeded: 0, inFlight: 0 };
 * await runTraffic({ scenario, arrivals, engine, clients, clock, state });
 * ```
 */
export async function runTraffic(options: RunTrafficOptions): Promise<void> {
  const { scenario, arrivals, engine, clients, clock, state } = options;
  const pending = new Set<Promise<void>>();
  const start = clock.startedAt;
  for (const a of arrivals) {
    const wait = start + a.atMs - clock.now();
    if (wait > 0) await clock.sleep(wait);
    const p = send(engine, clients, scenario, a, state).finally(() => pending.delete(p));
    pending.add(p);
  }
  const stopWaiting = new AbortController();
  const drainLimit = clock.sleep(Math.max(0, start + (scenario.durationS + scenario.drainS) * 1000 - clock.now()), stopWaiting.signal).catch(() => undefined);
  await Promise.race([Promise.allSettled([...pending]), drainLimit]);
  stopWaiting.abort();
  await engine.shutdown();
  await Promise.allSettled([...pending]);
}

async function send(engine: Resilience, clients: Readonly<Record<string, OpenAI>>, scenario: Scenario, a: Arrival, state: TrafficState): Promise<void> {
  const spec = a.spec;
  const messages = messagesFor(spec.route, a.n, a.promptTokens, scenario.mode === 'fake');
  state.sent++;
  state.inFlight++;
  try {
    await engine.execute(
      {
        route: spec.route,
        requestId: a.id,
        identity: { user: a.user, team: spec.team, tenant: spec.tenant ?? 'northwind' },
        dataClass: spec.dataClass,
        input: { messages },
        maxOutputTokens: spec.maxOutputTokens,
      },
      chatCall(clients, messages, { structured: spec.structured === true }),
    );
    state.succeeded++;
  } catch {
    // The engine's record (kind, attempts, message) is what the stats count; nothing to add here.
  } finally {
    state.inFlight--;
    state.done++;
  }
}
