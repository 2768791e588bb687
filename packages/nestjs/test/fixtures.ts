import { definePolicy, type Policy } from '@llm-resilience/core';
import type { LoggerService } from '@nestjs/common';
import { createFakeProvider, type FakeProvider } from '@llm-resilience/testing';
import OpenAI from 'openai';

/** Models the fake provider serves; the policy's targets call them by these names. */
export const MODELS = ['support-a', 'support-b', 'support-c'] as const;

/**
 * The policy of the e2e apps: a three-model support chain, a per-user request limit, no waiting
 * (retries are off or 1 ms so tests run at real speed) and breakers that never open during a test.
 */
export function testPolicy(opts: { userRpm?: number; audience?: 'internal' | 'customer'; supportMessages?: { customer?: string; internal?: string } } = {}): Policy {
  return definePolicy({
    targets: {
      a: { provider: 'openai', model: 'support-a' },
      b: { provider: 'openai', model: 'support-b' },
      c: { provider: 'openai', model: 'support-c' },
    },
    routes: {
      support_reply: {
        chain: ['a', 'b', 'c'],
        priority: 'live',
        audience: opts.audience ?? 'customer',
        ...(opts.supportMessages ? { messages: opts.supportMessages } : {}),
        retry: { perKind: { overloaded: 0, rate_limited: 0, timeout: 0, network: 0, unknown: 0 }, backoff: { strategy: 'constant', delay: 1 } },
      },
      single: {
        chain: ['a'],
        priority: 'live',
        audience: opts.audience ?? 'customer',
        timeout: 300,
        retry: { perKind: { overloaded: 0, rate_limited: 0 }, backoff: { strategy: 'constant', delay: 1 } },
      },
    },
    limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: opts.userRpm ?? 1000, window: '1m' }],
    breaker: { consecutiveFailures: 1000, minimumCalls: 1000 },
  });
}

/** A started fake provider serving the three support models, and an OpenAI SDK client pointed at it. */
export async function startFake(): Promise<{ fake: FakeProvider; openai: OpenAI }> {
  const fake = createFakeProvider({
    seed: 7,
    models: Object.fromEntries(MODELS.map((m) => [m, { contextWindow: 16_000, replyTokens: 8 }])),
  });
  const { baseURL } = await fake.start();
  // The engine owns retries: the SDK must not retry on its own.
  const openai = new OpenAI({ apiKey: 'test-key', baseURL, maxRetries: 0 });
  return { fake, openai };
}

/** The model named in a fake reply (`[support-b] reply to ...`). */
export function answeredBy(text: string): string | undefined {
  return /^\[([^\]]+)\]/.exec(text)?.[1];
}

/** What a {@link capturedLogs} logger received, by level (each entry: the arguments of one call). */
export interface CapturedLogs {
  /** A Nest `LoggerService` to give `createNestApplication({ logger })` or `moduleRef.useLogger(...)`. */
  logger: LoggerService;
  warnings: unknown[][];
  errors: unknown[][];
}

/** A logger that keeps what Nest's `Logger` sends it, so tests can read what operators would see. */
export function capturedLogs(): CapturedLogs {
  const warnings: unknown[][] = [];
  const errors: unknown[][] = [];
  const ignore = (): void => undefined;
  return {
    warnings,
    errors,
    logger: {
      log: ignore,
      debug: ignore,
      verbose: ignore,
      warn: (...args: unknown[]) => warnings.push(args),
      error: (...args: unknown[]) => errors.push(args),
      fatal: (...args: unknown[]) => errors.push(args),
    },
  };
}

function hasCode(err: unknown, code: string): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if ((e as { code?: unknown }).code === code) return true;
  return false;
}

/** The log entries (argument lists) that mention `code`: in a string, or as the `code` of an error or of its causes. */
export function entriesWith(entries: readonly unknown[][], code: string): unknown[][] {
  return entries.filter((args) => args.some((a) => (typeof a === 'string' && a.includes(code)) || hasCode(a, code)));
}
