import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ChainExhaustedError } from '../errors/ChainExhaustedError';
import type { RequestRecord } from './types';
import { drive, ok, scripted, setup } from './engineTestKit';

/*
 * A streamed request holds its reservations until its StreamingResult is completed or failed. One that
 * code drops on a forgotten path is finished when it is garbage-collected, so its concurrency slot is
 * not lost for good.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects garbage until `done()` or gives up (finalizers run in a task after a collection). */
async function collectUntil(done: () => boolean, times = 50): Promise<void> {
  for (let i = 0; i < times && !done(); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
  }
}

const SLOT = { id: 'slot', scope: ['model'] as Array<'model'>, metric: 'concurrency' as const, limit: 1 };
const ROUTE = { chat: { chain: ['a'], retry: { maxAttempts: 1, maxLimiterWait: 0 } } };

describe('Resilience: a streamed request whose result is dropped unfinished', () => {
  it('is completed with its estimate once its result is garbage-collected, with an error logged, and its slot is free again', async () => {
    const errors: Array<Record<string, unknown>> = [];
    const logger = { error: (message: string, fields?: Record<string, unknown>) => errors.push({ message, ...fields }) };
    const { engine, clock, records } = setup({ limits: [SLOT] }, ROUTE, { logger });
    // Opened and forgotten: neither complete() nor fail() is called, and nothing keeps the result.
    await (async () => {
      // A stream as an SDK returns it: no usage in it until it is read.
      const r = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, maxOutputTokens: 20, stream: true }, async () => ({ chunks: [] })));
      expect(r.target.id).toBe('a');
    })();
    const busy = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn)).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(ChainExhaustedError); // its slot is still held

    await collectUntil(() => errors.length > 0);
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringContaining('without complete() or fail()'), target: 'a' })]);
    const finished = records.find((r: RequestRecord) => r.output_tokens === 20);
    expect(finished).toMatchObject({ outcome: 'success', input_tokens: 10, output_tokens: 20 }); // the estimate
    const served = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn));
    expect(served.record.final_target).toBe('a');
  });

  it('is completed too when the dropped stream or the request signal refers back to its complete() or fail()', async () => {
    const errors: unknown[] = [];
    const { engine, clock } = setup({ limits: [SLOT] }, ROUTE, { logger: { error: (m: string) => errors.push(m) } });
    await (async () => {
      // A signal only the request refers to once this returns (a caller's own, still held, could abort
      // later and call fail(): then the result is not dropped).
      const controller = new AbortController();
      const r = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, stream: true, signal: controller.signal }, async () => ({ onEnd: undefined as unknown })));
      controller.signal.addEventListener('abort', () => r.fail(new Error('aborted')));
      (r.value as { onEnd: unknown }).onEnd = () => r.complete();
    })();
    await collectUntil(() => errors.length > 0);
    expect(errors).toEqual([expect.stringContaining('without complete() or fail()')]);
    const served = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn));
    expect(served.record.final_target).toBe('a');
  });

  it('is completed too while a cut-off call of the same request is still held (it ignored its signal)', async () => {
    const errors: unknown[] = [];
    const { engine, clock } = setup(
      { limits: [SLOT] },
      { chat: { chain: ['a', 'b'], timeout: '1s', retry: { maxAttempts: 2, perKind: { timeout: 0 }, maxLimiterWait: 0 } } },
      { logger: { error: (m: string) => errors.push(m), warn: () => undefined } },
    );
    const never = new Promise<never>(() => undefined); // a's call: never ends, ignores its signal
    await (async () => {
      const controller = new AbortController();
      const p = engine.execute({ route: 'chat', inputTokens: 10, stream: true, signal: controller.signal }, async (t, ctx) => {
        void ctx.signal; // an SDK reads it
        return t.id === 'a' ? never : { chunks: [] };
      });
      await clock.advance(1_000); // a is cut off and held; b streams
      const r = await p;
      expect(r.target.id).toBe('b');
      controller.signal.addEventListener('abort', () => r.fail(new Error('aborted')));
    })();
    await collectUntil(() => errors.length > 0);
    expect(errors).toEqual([expect.stringContaining('without complete() or fail()')]);
  });

  it('keeps waiting while its fail() alone is still held', async () => {
    const errors: unknown[] = [];
    const { engine, clock, records } = setup({ limits: [SLOT] }, ROUTE, { logger: { error: (m: string) => errors.push(m) } });
    const { fail } = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, stream: true }, async () => ({ chunks: [] })));
    await collectUntil(() => false, 10);
    expect([errors, records]).toEqual([[], []]);
    expect(fail(new Error('reader gave up'), { inputTokens: 10, outputTokens: 2 })).toMatchObject({ outcome: 'failure', output_tokens: 2 });
  });

  it('keeps waiting while its complete() is still held, also destructured off a dropped result', async () => {
    const errors: unknown[] = [];
    const { engine, clock, records } = setup({ limits: [SLOT] }, ROUTE, { logger: { error: (m: string) => errors.push(m) } });
    const { complete } = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, maxOutputTokens: 20, stream: true }, async () => ({ chunks: [] })));
    const marker = { collected: false };
    const registry = new FinalizationRegistry<{ collected: boolean }>((m) => (m.collected = true));
    registry.register({}, marker);
    await collectUntil(() => marker.collected);
    await collectUntil(() => false, 5);
    expect(errors).toEqual([]);
    expect(records).toEqual([]); // not finished behind the caller's back
    expect(complete({ inputTokens: 10, outputTokens: 7 })).toMatchObject({ outcome: 'success', output_tokens: 7 });
  });

  it('does nothing more for a result that was completed', async () => {
    const errors: unknown[] = [];
    const { engine, clock, records } = setup({ limits: [SLOT] }, ROUTE, { logger: { error: (m: string) => errors.push(m) } });
    await (async () => {
      const r = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, stream: true }, async () => ok('streamed')));
      r.complete({ inputTokens: 10, outputTokens: 3 });
    })();
    // A collection has run its finalizers once this marker's has run.
    const marker = { collected: false };
    const registry = new FinalizationRegistry<{ collected: boolean }>((m) => (m.collected = true));
    registry.register({}, marker);
    await collectUntil(() => marker.collected);
    expect(marker.collected).toBe(true);
    await collectUntil(() => false, 5); // a few more collections and turns
    expect(errors).toEqual([]);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'success', output_tokens: 3 });
  });

  // docs/concepts/limits.md: "A result dropped without either is completed with its estimate", also when
  // its call reported partial usage when the stream opened (Anthropic's first event: output_tokens 1).
  it('completes a dropped stream with its admitted estimate, not the partial usage reported at stream start', async () => {
    const { engine, clock, records } = setup({}, { chat: { chain: ['a'] } }, { logger: { error: () => {}, warn: () => {} } });
    const opens = async (_t: unknown, ctx: { reportUsage(u: { inputTokens: number; outputTokens: number }): void }) => {
      ctx.reportUsage({ inputTokens: 10, outputTokens: 1 });
      return { chunks: [] };
    };
    await (async () => {
      await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, maxOutputTokens: 400, stream: true }, opens));
    })();
    await collectUntil(() => records.length > 0);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'success', output_tokens: 400 });
  });
});
