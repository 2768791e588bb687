import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import {
  createResilience,
  definePolicy,
  type AttemptContext,
  type PolicyInput,
  type RequestRecord,
  type ResolvedTarget,
  type Resilience,
  type ResilienceOptions,
} from '@llm-resilience/core';
import { createFakeProvider, type FakeProvider, type FakeProviderConfig } from '@llm-resilience/testing';

/** The fake provider's models: two OpenAI-style ones and one Anthropic-style one. */
export const FAKE_CONFIG: FakeProviderConfig = {
  seed: 7,
  apiKey: 'upstream-secret-key',
  models: {
    'fast-a': { contextWindow: 16_000, limits: { rpm: 10_000 } },
    'fast-b': { contextWindow: 16_000 },
    'claude-x': { provider: 'anthropic', contextWindow: 16_000 },
  },
};

/**
 * Targets on two provider names (so one provider's breaker never blocks the other) and routes
 * that fall back at once on capacity errors (no backoff sleeps in tests).
 */
export function testPolicy(extra: Partial<PolicyInput> = {}): PolicyInput {
  const noRetry = { perKind: { overloaded: 0, network: 0, unknown: 0, timeout: 0, rate_limited: 0 } };
  return {
    targets: {
      'fast-a': { provider: 'primary', model: 'fast-a', contextWindow: 16_000 },
      'fast-b': { provider: 'backup', model: 'fast-b', contextWindow: 16_000 },
      'claude-x': { provider: 'anthropic', model: 'claude-x', contextWindow: 16_000 },
    },
    routes: {
      support_reply: { chain: ['fast-a', 'fast-b'], retry: noRetry },
      solo: { chain: ['fast-a'], retry: noRetry },
      claude: { chain: ['claude-x'], retry: noRetry },
      ops: { chain: ['fast-a', 'fast-b'], retry: noRetry, audience: 'internal' },
    },
    ...extra,
  };
}

/** An engine over {@link testPolicy}. */
export function testEngine(extra: Partial<PolicyInput> = {}, options: ResilienceOptions = {}): Resilience {
  return createResilience(definePolicy(testPolicy(extra), { onWarning: () => undefined }), options);
}

/** A model call over plain fetch to the fake provider at `baseURL`, as an app would write it. */
export function fetchChatCall(baseURL: string, prompt: string) {
  return async (target: ResolvedTarget, ctx: AttemptContext) => {
    const res = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer upstream-secret-key' },
      body: JSON.stringify({ model: target.model, messages: [{ role: 'user', content: prompt }], max_tokens: ctx.maxOutputTokens }),
      signal: ctx.signal,
    });
    const body = (await res.json()) as { choices?: Array<{ message: { content: string } }>; error?: unknown };
    if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status}`), { status: res.status, headers: res.headers, error: body.error });
    return body;
  };
}

/** A started fake provider. */
export async function startFake(): Promise<{ fake: FakeProvider; url: string; baseURL: string }> {
  const fake = createFakeProvider(FAKE_CONFIG);
  const { url, baseURL } = await fake.start();
  return { fake, url, baseURL };
}

/**
 * One fake provider for the whole test file: started before all tests, its counters and faults reset
 * before each, stopped after all. Read `fake` and `baseURL` inside tests, once it has started.
 */
export function useFakeProvider(): { readonly fake: FakeProvider; readonly baseURL: string } {
  let started: { fake: FakeProvider; baseURL: string } | undefined;
  const get = () => {
    if (started === undefined) throw new Error('useFakeProvider(): the fake provider starts in beforeAll; read it inside a test.');
    return started;
  };
  beforeAll(async () => {
    started = await startFake();
  });
  afterAll(() => started?.fake.stop());
  beforeEach(() => {
    get().fake.reset();
    get().fake.setFaults([]);
  });
  return {
    get fake() {
      return get().fake;
    },
    get baseURL() {
      return get().baseURL;
    },
  };
}

/** Listens on a free port; `close` also drops keep-alive connections. */
export async function listen(app: Express): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A promise with its resolve function outside (to wait on events, never on time). */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves with the next record the engine emits. */
export function nextRecord(engine: Resilience): Promise<RequestRecord> {
  return new Promise((resolve) => {
    const sub = engine.events.on('record', (r) => {
      sub.dispose();
      resolve(r);
    });
  });
}

export { rejection } from '../../../test/support/rejection';

/** A warning logger that keeps what it got. */
export function warningLog(): { codes: () => unknown[]; messages: () => string[]; logger: { warn: (m: string, f?: Record<string, unknown>) => void } } {
  const got: Array<{ message: string; code: unknown }> = [];
  return {
    codes: () => got.map((g) => g.code),
    messages: () => got.map((g) => g.message),
    logger: {
      warn: (message, f) => {
        got.push({ message, code: f?.code });
      },
    },
  };
}
