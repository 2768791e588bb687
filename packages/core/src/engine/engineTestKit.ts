import { ManualClock } from '../clock';
import { definePolicy } from '../policy/definePolicy';
import type { PolicyInput } from '../policy/schema';
import type { ResolvedTarget } from '../policy/Policy';
import { createResilience } from './createResilience';
import type { AttemptContext, RequestRecord, ResilienceOptions } from './types';

/*
 * Shared by the engine's tests: four targets, an engine on a manual clock, a scripted model call and a
 * driver that moves the clock until a request settles. Not part of the package (nothing imports it but tests).
 */

export const targets = {
  a: { provider: 'openai', model: 'model-a', contextWindow: 8_000, price: { input: 1, output: 2 }, dataClasses: ['public', 'internal'] },
  b: { provider: 'anthropic', model: 'model-b', contextWindow: 8_000, price: { input: 1, output: 2 }, dataClasses: ['public'] },
  long: { provider: 'google', model: 'model-long', contextWindow: 1_000_000, price: { input: 2, output: 4 }, dataClasses: ['public', 'internal'] },
  premium: { provider: 'openai', model: 'model-premium', contextWindow: 8_000, price: { input: 100, output: 400 }, dataClasses: ['public', 'internal'] },
};

export function setup(
  extra: Partial<PolicyInput> = {},
  routes: PolicyInput['routes'] = { chat: { chain: ['a', 'b'] } },
  options: Omit<ResilienceOptions, 'clock'> = {},
) {
  const clock = new ManualClock(1_000_000);
  const policy = definePolicy({ targets, routes, ...extra }, { onWarning: () => {} });
  const engine = createResilience(policy, { clock, random: () => 0.5, ...options });
  const records: RequestRecord[] = [];
  engine.events.on('record', (r) => records.push(r));
  return { clock, engine, records };
}

export type Script = Record<string, Array<unknown | ((ctx: AttemptContext) => unknown)>>;

/** A model call that plays a script per target: values are returned, errors (objects with status) thrown. */
export function scripted(script: Script) {
  const calls: string[] = [];
  const fn = async (t: ResolvedTarget, ctx: AttemptContext) => {
    calls.push(t.id);
    const queue = script[t.id] ?? [];
    const step = queue.length > 1 ? queue.shift() : queue[0];
    const v = typeof step === 'function' ? (step as (c: AttemptContext) => unknown)(ctx) : step;
    if (v instanceof Error || (v && typeof v === 'object' && 'status' in v)) throw v;
    return v ?? { choices: [{ message: { content: `${t.id} says hi` } }], usage: { prompt_tokens: 10, completion_tokens: 5 } };
  };
  return { calls, fn };
}

export const ok = (text = 'ok', usage = { prompt_tokens: 10, completion_tokens: 5 }) => ({ choices: [{ message: { content: text } }], usage });
export const http = (status: number, body: unknown = {}, headers: Record<string, string> = {}) => ({ status, error: body, headers });

/** Runs `p` while advancing the manual clock until it settles. */
export async function drive<T>(clock: ManualClock, p: Promise<T>): Promise<T> {
  let settled = false;
  const watched = p.finally(() => {
    settled = true;
  });
  watched.catch(() => undefined);
  for (let i = 0; i < 200 && !settled; i++) {
    if (!(await clock.next())) await new Promise((r) => setImmediate(r));
  }
  return watched;
}
