import type { ServerResponse } from 'node:http';
import type { SseEvent } from './protocol';

/**
 * The longest delay one `setTimeout` keeps, 2^31 - 1 ms (about 24.8 days): Node fires a longer one
 * after 1 ms. The same value as `MAX_TIMER_MS` of `@llm-resilience/core` (a dev dependency only here).
 *
 * @example
 * ```ts
 * MAX_SLEEP_MS; // 2147483647
 * ```
 */
export const MAX_SLEEP_MS = 2_147_483_647;

/**
 * Resolves after `ms` of real time; rejects when `signal` aborts (client gone or server stopping).
 * A delay above {@link MAX_SLEEP_MS} (a sum of options each in range: time to first token plus a
 * fault's delay, or per-token time × tokens) waits that long instead of Node's 1 ms.
 *
 * @example
 * ```ts
 * await sleep(20, controller.signal);
 * ```
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  ms = Math.min(ms, MAX_SLEEP_MS);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Ends a response abruptly: what was written so far is flushed, then the socket is closed without
 * finishing the HTTP message, so the client sees a premature end of body.
 *
 * @example
 * ```ts
 * res.write(half);
 * await cutConnection(res);
 * ```
 */
export function cutConnection(res: ServerResponse): Promise<void> {
  const socket = res.socket;
  if (!socket || socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    socket.end(() => {
      socket.destroy();
      resolve();
    });
    socket.once('close', () => resolve());
  });
}

/**
 * One event in SSE framing: `event: name\ndata: ...\n\n`.
 *
 * @example
 * ```ts
 * res.write(formatSse({ event: 'message_stop', data: '{"type":"message_stop"}', tokens: 0 }));
 * ```
 */
export function formatSse(e: SseEvent): string {
  return `${e.event ? `event: ${e.event}\n` : ''}data: ${e.data}\n\n`;
}

/**
 * Pacing and fault options of {@link writeSse}.
 *
 * @example
 * ```ts
 * const pacing: SsePacing = { firstTokenMs: 20, perTokenMs: 1, cutAfterChunks: 3 };
 * ```
 */
export interface SsePacing {
  firstTokenMs: number;
  perTokenMs: number;
  /** Destroy the socket after this many content chunks (the `stream_cut` fault). */
  cutAfterChunks?: number;
  /**
   * Send `events` instead of the content chunk at index `at` and of everything after it, then end the
   * response properly (the `malformed_json` fault: a broken event; `stream_error`: an in-stream error).
   */
  endWith?: { at: number; events: SseEvent[] };
}

/**
 * How {@link writeSse} finished: `done` (every event sent), `cut` (the socket was destroyed on
 * purpose), `ended` (the stream was ended early with {@link SsePacing.endWith}'s events).
 *
 * @example
 * ```ts
 * const outcome: SseOutcome = await writeSse(res, events, pacing, signal);
 * ```
 */
export type SseOutcome = 'done' | 'cut' | 'ended';

/**
 * Writes events to an already started `text/event-stream` response. Events before the first content
 * chunk go out at once; the first content chunk waits `firstTokenMs`, each next one
 * `perTokenMs × its tokens`.
 *
 * @example
 * ```ts
 * const outcome = await writeSse(res, events, { firstTokenMs: 10, perTokenMs: 1 }, signal);
 * ```
 */
export async function writeSse(res: ServerResponse, events: SseEvent[], pacing: SsePacing, signal: AbortSignal): Promise<SseOutcome> {
  let content = 0;
  for (const e of events) {
    if (e.tokens > 0) {
      await sleep(content === 0 ? pacing.firstTokenMs : pacing.perTokenMs * e.tokens, signal);
      if (pacing.cutAfterChunks !== undefined && content >= pacing.cutAfterChunks) {
        await cutConnection(res);
        return 'cut';
      }
      if (pacing.endWith && content === pacing.endWith.at) {
        res.end(pacing.endWith.events.map(formatSse).join(''));
        return 'ended';
      }
      content++;
    }
    res.write(formatSse(e));
  }
  res.end();
  return 'done';
}
