import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { createFakeProvider, type FakeProvider, type FakeProviderConfig } from '@llm-resilience/testing';
import {
  createResilience,
  definePolicy,
  ManualClock,
  type AttemptContext,
  type Clock,
  type ModelCall,
  type PolicyInput,
  type Resilience,
  type ResilienceEvents,
  type ResilienceOptions,
  type ResolvedTarget,
} from '../src';

/**
 * Integration-test world: a fake provider on real sockets, the official SDKs pointed at it (no SDK
 * retries: the engine owns retries), and a clock shared by the engine and the fake provider.
 *
 * With a {@link ManualClock}, time moves only through {@link World.drive}, which advances the clock to
 * the next timer whenever no HTTP call is in flight: provider calls take zero clock time (the fake
 * provider's latency is 0), and every wait the engine takes (Retry-After, backoff, limiter and queue
 * waits) is measured exactly on the clock.
 */
export interface World {
  fake: FakeProvider;
  openai: OpenAI;
  anthropic: Anthropic;
  clock: Clock;
  /** HTTP calls in flight through {@link World.call}. */
  readonly inflight: number;
  /** A model call through the official SDK of the target's provider (`anthropic` or else OpenAI). */
  call(messages: ChatMessages, extra?: CallExtras): ModelCall<unknown>;
  /** Awaits `p` while moving the manual clock from timer to timer when no HTTP call is in flight. */
  drive<T>(p: Promise<T>): Promise<T>;
  /** Runs `n` ticks of the real event loop (lets sockets and microtasks make progress). */
  settle(n?: number): Promise<void>;
  /** Requests the fake provider received, per model (0 for a model never called). */
  calls(model: string): number;
  stop(): Promise<void>;
}

const noop = (): void => {};

export type ChatMessages = Array<{ role: 'user' | 'assistant'; content: string }>;

/** OpenAI-only request fields added to each call (e.g. `response_format`, `stream`). */
export interface CallExtras {
  openai?: (target: ResolvedTarget, ctx: AttemptContext) => Record<string, unknown>;
  /** Receives each attempt's context (e.g. to see `ctx.repair`). */
  onAttempt?: (target: ResolvedTarget, ctx: AttemptContext) => void;
}

export const userMessage = (content: string): ChatMessages => [{ role: 'user', content }];

/** A prompt of about `tokens` tokens by the fake provider's estimate (4 characters per token). */
export function promptOfTokens(tokens: number): string {
  return 'lorem ipsum dolor '.repeat(Math.ceil((tokens * 4) / 18)).slice(0, tokens * 4);
}

export async function startWorld(config: FakeProviderConfig, clock: Clock = new ManualClock(Date.UTC(2026, 0, 1))): Promise<World> {
  const fake = createFakeProvider(config, { clock });
  const { url, baseURL } = await fake.start();
  const openai = new OpenAI({ apiKey: 'test-key', baseURL, maxRetries: 0, timeout: 10_000 });
  const anthropic = new Anthropic({ apiKey: 'test-key', baseURL: url, maxRetries: 0, timeout: 10_000 });
  let inflight = 0;
  let idleWaiters: Array<() => void> = [];
  const whenIdle = (): Promise<void> => (inflight === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r)));

  const settle = async (n = 3): Promise<void> => {
    for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
  };

  const world: World = {
    fake,
    openai,
    anthropic,
    clock,
    get inflight() {
      return inflight;
    },
    call(messages, extra = {}) {
      return async (target, ctx) => {
        extra.onAttempt?.(target, ctx);
        inflight++;
        try {
          if (target.provider === 'anthropic') {
            return await anthropic.messages.create(
              { model: target.model, max_tokens: ctx.maxOutputTokens, messages },
              { signal: ctx.signal },
            );
          }
          const body = { model: target.model, messages, max_tokens: ctx.maxOutputTokens, ...extra.openai?.(target, ctx) };
          return await openai.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming, {
            signal: ctx.signal,
          });
        } finally {
          if (--inflight === 0) {
            const waiters = idleWaiters;
            idleWaiters = [];
            for (const w of waiters) w();
          }
        }
      };
    },
    async drive<T>(p: Promise<T>): Promise<T> {
      if (!(clock instanceof ManualClock)) return p;
      let settled = false;
      const watched = p.finally(() => {
        settled = true;
      });
      watched.catch(() => undefined);
      while (!settled) {
        await settle();
        if (settled) break;
        if (inflight > 0) await Promise.race([whenIdle(), watched.then(noop, noop)]);
        else if (clock.pending > 0) await clock.next();
        else await new Promise<void>((r) => setTimeout(r, 1));
      }
      return watched;
    },
    settle,
    calls(model) {
      return fake.counters.requestsByModel[model] ?? 0;
    },
    async stop() {
      await fake.stop();
    },
  };
  return world;
}

/** An engine on `policy` sharing the world's clock, with every event it emits collected by name. */
export function engineFor(world: World, policy: PolicyInput, options: ResilienceOptions = {}) {
  const engine = createResilience(definePolicy(policy, { onWarning: () => {} }), { clock: world.clock, random: () => 0.5, ...options });
  return { engine, events: collect(engine) };
}

export type Collected = { [K in keyof ResilienceEvents]: Array<ResilienceEvents[K]> };

/** Collects every event of `engine` into arrays by name. */
export function collect(engine: Resilience): Collected {
  const names: Array<keyof ResilienceEvents> = [
    'record',
    'attempt',
    'retry',
    'fallback',
    'skip',
    'limited',
    'validation',
    'budget',
    'breaker',
    'queue',
    'alert',
  ];
  const out = {} as Record<string, unknown[]>;
  for (const name of names) {
    const list: unknown[] = [];
    out[name] = list;
    engine.events.on(name, (e: unknown) => list.push(e));
  }
  return out as Collected;
}

/** The p-th percentile (0..100) of `values`, nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export { rejection } from '../../../test/support/rejection';
