import type { Logger } from '@llm-resilience/core';
import { ExpressConfigError } from '../ExpressConfigError';

/**
 * What may be logged of an unexpected error: its class name, its `code` when it has a short one
 * (`ECONNREFUSED`), and the call-site lines of its stack. Never its message, which may hold
 * connection strings, keys or user data; except, as `detail`, the message of an
 * {@link ExpressConfigError}, which is ours and describes values by type only (an option callback
 * that returned the wrong kind of value).
 *
 * @example
 * ```ts
 * failureFields(new Error('db down: postgres://admin:hunter2@db')); // { error: 'Error', stack: '    at ...' }
 * ```
 */
export function failureFields(err: unknown): { error: string; errorCode?: string; detail?: string; stack?: string } {
  if (!(err instanceof Error)) return { error: err === null ? 'null' : typeof err };
  const out: { error: string; errorCode?: string; detail?: string; stack?: string } = { error: err.name || 'Error' };
  if (err instanceof ExpressConfigError) out.detail = err.message;
  const code = (err as { code?: unknown }).code;
  if ((typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code)) || typeof code === 'number') out.errorCode = String(code);
  const frames = (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  if (frames.length > 0) out.stack = frames.join('\n');
  return out;
}

/**
 * The gateway's logger when none is given (and its `warn` when the given one has none):
 * `process.emitWarning` with the code, as the package's other checks do.
 *
 * @example
 * ```ts
 * const logger = options.logger ?? defaultGatewayLogger;
 * ```
 */
export const defaultGatewayLogger: Pick<Logger, 'error' | 'warn'> = { error: emitWarning, warn: emitWarning };

function emitWarning(message: string, fields?: Record<string, unknown>): void {
  process.emitWarning(message, { type: 'LlmResilienceWarning', code: String(fields?.code ?? '') });
}
