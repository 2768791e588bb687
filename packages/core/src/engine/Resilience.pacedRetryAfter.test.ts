import type { AttemptContext } from './types';
import { ChainExhaustedError } from '../errors/ChainExhaustedError';
import { httpErrorOf } from '../errors/httpErrorOf';
import { drive, ok, scripted, setup } from './engineTestKit';

describe('a chain ended only by paced skips says when a target can take the request again', () => {
  function exhaustedQuota() {
    const { engine, clock } = setup({}, { solo: { chain: ['a'] }, pair: { chain: ['a', 'b'] } });
    const resetIn = (s: number) => new Date(clock.now() + s * 1000).toISOString();
    const headers = (ctx: AttemptContext) => {
      ctx.reportHeaders({
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': resetIn(60),
      });
      return ok();
    };
    return { engine, clock, ...scripted({ a: [headers, headers], b: [ok(), ok()] }) };
  }

  it('carries the shortest refused pacing wait as retryAfterMs (Retry-After over HTTP)', async () => {
    const { engine, clock, fn, calls } = exhaustedQuota();
    await drive(clock, engine.execute({ route: 'solo', inputTokens: 10 }, fn));
    // One request (plus a 2% margin) of 50 is back in 2.4 s: more than live traffic waits, so `a` is skipped.
    const err = await drive(clock, engine.execute({ route: 'solo', inputTokens: 10 }, fn)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect((err as ChainExhaustedError).record.skipped).toEqual([expect.objectContaining({ target: 'a', reason: 'paced' })]);
    expect((err as ChainExhaustedError).retryAfterMs).toBe(2400);
    expect(httpErrorOf(err)).toMatchObject({ status: 503, retryAfterMs: 2400 });
    expect(calls).toEqual(['a']);
  });

  it('says nothing of a wait when a target failed or was skipped for another reason', async () => {
    const { engine, clock, fn } = exhaustedQuota();
    await drive(clock, engine.execute({ route: 'solo', inputTokens: 10 }, fn));
    // `b` is not approved for this data class: its skip has no wait, so the chain's error has none.
    const err = await drive(clock, engine.execute({ route: 'pair', inputTokens: 10, dataClass: 'internal' }, fn)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect((err as ChainExhaustedError).record.skipped.map((k) => k.reason)).toEqual(['paced', 'data_class']);
    expect((err as ChainExhaustedError).retryAfterMs).toBeUndefined();
  });
});
