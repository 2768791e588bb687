import type { Logger } from './types';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/**
 * A logger whose methods never throw: the engine logs from inside a request (an implausible usage
 * report, a provider that needs attention), and a logger that fails there must not turn a successful
 * call into a failed one or hide the provider's error. Levels the logger lacks stay absent.
 *
 * @example
 * ```ts
 * const logger = guardLogger(pino());
 * logger.warn?.('implausible token usage reported', { requestId }); // never throws
 * ```
 */
export function guardLogger(logger: Logger): Logger {
  const guarded: Logger = {};
  for (const level of LEVELS) {
    const log = logger[level];
    if (typeof log !== 'function') continue;
    guarded[level] = (message, fields) => {
      try {
        log.call(logger, message, fields);
      } catch {
        // Nowhere left to report it: the logger is the reporting channel.
      }
    };
  }
  return guarded;
}
