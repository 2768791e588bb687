import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AttemptContext, Usage } from './types';
import { drive, setup } from './engineTestKit';

/*
 * A streamed call may report partial usage when the stream opens (Anthropic's message_start says
 * `output_tokens: 1`; see unfinishedUsage's doc): the stream's estimate stays the one it was admitted with.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
async function collectUntil(done: () => boolean, times = 50): Promise<void> {
  for (let i = 0; i < times && !done(); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A stream-opening call that reports the partial usage of a stream's first event. */
const opensWithPartialUsage = async (_t: unknown, ctx: AttemptContext) => {
  ctx.reportUsage({ inputTokens: 10, outputTokens: 1 });
  return { chunks: [] };
};

describe('a stream whose call reported partial usage when it opened', () => {
  // plausibleUsage replaces an implausible field by the estimate the call was admitted with (400 here).
  it('complete(usage) with an implausible output count charges the admitted estimate, not the partial count from stream start', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a'] } }, { logger: { warn: () => {} } });
    const r = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, maxOutputTokens: 400, stream: true }, opensWithPartialUsage));
    const rec = r.complete({ inputTokens: 10, outputTokens: Number.NaN } as Usage);
    expect(rec.output_tokens).toBe(400);
  });

  // docs/concepts/limits.md: "A result dropped without either is completed with its estimate".
  it('a dropped stream is completed with its estimate when garbage-collected, not the partial usage from stream start', async () => {
    const { engine, clock, records } = setup({}, { chat: { chain: ['a'] } }, { logger: { error: () => {}, warn: () => {} } });
    await (async () => {
      await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, maxOutputTokens: 400, stream: true }, opensWithPartialUsage));
    })();
    await collectUntil(() => records.length > 0);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'success', output_tokens: 400 });
  });
});
