import { ChainExhaustedError } from '../errors/ChainExhaustedError';
import type { Usage } from './types';
import { drive, scripted, setup } from './engineTestKit';

/* A streamed request finished with `usage: null` (what an OpenAI chunk carries) is finished all the same. */

const SLOT = { id: 'slot', scope: ['model'] as Array<'model'>, metric: 'concurrency' as const, limit: 1 };
const ROUTE = { chat: { chain: ['a'], retry: { maxAttempts: 1, maxLimiterWait: 0 } } };

describe('Resilience: a stream finished with a null usage (an OpenAI chunk carries `usage: null`)', () => {
  // null is no usage (as in extractedUsage): the estimate or the reported usage is settled.
  it('complete(null) still releases the concurrency slot and emits one record', async () => {
    const { engine, clock, records } = setup({ limits: [SLOT] }, ROUTE);
    const r = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, maxOutputTokens: 20, stream: true }, async () => ({ chunks: [] })));
    r.complete(null as unknown as Usage);
    expect(records.filter((x) => x.request_id === r.record.request_id)).toHaveLength(1);
    const next = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn)).catch((e: unknown) => e);
    expect(next).not.toBeInstanceOf(ChainExhaustedError); // the slot was given back
  });

  it('fail(err, null) still releases the concurrency slot and emits one failure record', async () => {
    const { engine, clock, records } = setup({ limits: [SLOT] }, ROUTE);
    const r = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, maxOutputTokens: 20, stream: true }, async () => ({ chunks: [] })));
    r.fail(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), null as unknown as Usage);
    expect(records.filter((x) => x.request_id === r.record.request_id)).toEqual([expect.objectContaining({ outcome: 'failure' })]);
    const next = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn)).catch((e: unknown) => e);
    expect(next).not.toBeInstanceOf(ChainExhaustedError);
  });
});
