import { ChatRequestError } from './ChatRequestError';

/**
 * For tests: the {@link ChatRequestError} that `run` throws. Any other error is rethrown, and a run
 * that throws nothing fails with `what` accepted the request.
 *
 * @example
 * ```ts
 * expect(refusalOf(() => assertChatMessages([null]), 'assertChatMessages()').param).toBe('messages[0]');
 * ```
 */
export function refusalOf(run: () => unknown, what = 'the check'): ChatRequestError {
  try {
    run();
  } catch (e) {
    if (e instanceof ChatRequestError) return e;
    throw e;
  }
  throw new Error(`${what} accepted the request`);
}
