/**
 * Drops the arguments of the command an ioredis error carries (`error.command.args`) before the error
 * reaches an event, a log or another error's `cause`: for the handshake they hold the password
 * (`HELLO 3 AUTH default <password>`), and for our scripts the limit keys. The command's name stays.
 * The error is changed in place and returned; anything else is returned as it is.
 *
 * @example
 * ```ts
 * onEvent({ type: 'error', operation: 'reserve', error: scrubRedisError(err) });
 * ```
 */
export function scrubRedisError<T>(error: T): T {
  if (error === null || typeof error !== 'object') return error;
  const command = (error as { command?: unknown }).command;
  if (command === null || typeof command !== 'object' || !('args' in command)) return error;
  try {
    Object.defineProperty(error, 'command', {
      value: { name: (command as { name?: unknown }).name },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } catch {
    // A frozen error keeps its command: nothing else can be done without losing the error itself.
  }
  return error;
}
