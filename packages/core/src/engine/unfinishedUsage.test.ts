import { unfinishedUsage } from './unfinishedUsage';

describe('unfinishedUsage', () => {
  const estimate = { inputTokens: 800, outputTokens: 400 };

  it('never settles less output than reserved, and keeps more when more was seen', () => {
    expect(unfinishedUsage({ inputTokens: 812, outputTokens: 1 }, estimate)).toEqual({ inputTokens: 812, outputTokens: 400 });
    expect(unfinishedUsage({ inputTokens: 812, outputTokens: 900 }, estimate)).toEqual({ inputTokens: 812, outputTokens: 900 });
  });

  it('takes the estimate for what the stream had not reported', () => {
    expect(unfinishedUsage(undefined, estimate)).toEqual({ inputTokens: 800, outputTokens: 400 });
    // OpenAI-style partial usage: no prompt count before the last chunk.
    expect(unfinishedUsage({ inputTokens: 0, outputTokens: 37 }, estimate)).toEqual({ inputTokens: 800, outputTokens: 400 });
  });

  it('returns a new object, not the estimate', () => {
    const u = unfinishedUsage(undefined, estimate);
    expect(u).not.toBe(estimate);
  });
});
