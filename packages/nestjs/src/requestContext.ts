import { AsyncLocalStorage } from 'node:async_hooks';
import type { Identity } from '@llm-resilience/core';
import { checkIdentity } from './identityCheck';
import type { ResilienceService } from './ResilienceService';

/**
 * What a decorated method can learn from the request it runs for, without being passed it: set by
 * {@link ResilienceInterceptor} for HTTP requests, or by {@link runWithResilienceContext} anywhere
 * else (queue consumers, CLI jobs).
 *
 * @example
 * ```ts
 * runWithResilienceContext({ identity: { user: job.userId }, signal: job.signal }, () => support.reply(job.text));
 * ```
 */
export interface ResilienceRequestContext {
  /** The identity decorated methods use when their options give none. */
  identity?: Identity;
  /** Aborts engine work (queue wait, backoff, the model call) when it fires, e.g. on client disconnect. */
  signal?: AbortSignal;
  /** The service (and so the engine) of the application handling the request. */
  service?: ResilienceService;
}

const storage = new AsyncLocalStorage<ResilienceRequestContext>();

/**
 * Runs `fn` with `context` as the ambient request context of every decorated method it calls
 * (synchronously or asynchronously). Its `identity` is checked first: anything but an object whose
 * `user`, `team`, `tenant`, `environment` are strings throws `ERR_LLMR_NEST_INVALID_IDENTITY`
 * (`fn` does not run).
 *
 * @example
 * ```ts
 * await runWithResilienceContext({ identity: { user: 'u1', tenant: 'acme' } }, () => support.reply('Where is my order?'));
 * ```
 */
export function runWithResilienceContext<R>(context: ResilienceRequestContext, fn: () => R): R {
  checkIdentity(context?.identity, 'runWithResilienceContext: identity', 'is');
  return storage.run(context, fn);
}

/**
 * The ambient request context, or undefined outside of one.
 *
 * @example
 * ```ts
 * const who = currentResilienceContext()?.identity;
 * ```
 */
export function currentResilienceContext(): ResilienceRequestContext | undefined {
  return storage.getStore();
}
