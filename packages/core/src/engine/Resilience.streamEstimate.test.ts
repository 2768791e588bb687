import type { AttemptContext, Usage } from './types';
import { drive, setup } from './engineTestKit';

/*
 * A streamed call may report partial usage when the stream opens (Anthropic's message_start says
 * `output_tokens: 1`; see unfinishedUsage's doc): the stream's estimate stays the one it was admitted with.
 */

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
});
