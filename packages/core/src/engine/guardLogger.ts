import type { Logger } from './types';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/**
 * A logger whose methods never throw: the engine logs from inside a request (an implausible usage
 * report, a provider that needs attention), and a logger that fails there must not turn a successful
 * call into a failed one or hide the provider's error. Levels the logger lacks stay absent.
 *
 * With `redact`, every string field (the fields object's own string values: an error's text, a provider
 * code) is passed through it first; the message, always the engine's own words, is not.
 *
 * @example
 * ```ts
 * const logger = guardLogger(pino(), (text) => redactor.redact(text));
 * logger.warn?.('implausible token usage reported', { requestId }); // never throws
 * ```
 */
export function guardLogger(logger: Logger, redact?: (text: string) => string): Logger {
  const guarded: Logger = {};
  for (const level of LEVELS) {
    const log = logger[level];
    if (typeof log !== 'function') continue;
    guarded[level] = (message, fields) => {
      try {
        log.call(logger, message, redact && fields ? redactFields(fields, redact) : fields);
      } catch {
        // Nowhere left to report it: the logger is the reporting channel.
      }
    };
  }
  return guarded;
}

/** `fields` with its string values redacted (a copy; the same object when it holds no string). */
function redactFields(fields: Record<string, unknown>, redact: (text: string) => string): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value !== 'string') continue;
    out ??= { ...fields };
    out[key] = redact(value);
  }
  return out ?? fields;
}
