import { systemClock } from '../clock';
import { definePolicy } from '../policy/definePolicy';
import type { PolicyInput } from '../policy/schema';
import { createResilience } from './createResilience';
import { limitKey } from '../limits/limitKey';
import { compile, windowKey } from '../limits/CompiledRule';
import type { LimitRule } from '../limits/LimitRule';
import { MemoryLimiterStore } from '../limits/MemoryLimiterStore';
import { noopMetrics } from '../observability/Metrics';
import { ChainExhaustedError } from '../errors/ChainExhaustedError';
import type { AttemptContext } from './types';
import { drive, ok, scripted, setup } from './engineTestKit';

/*
 * A call cut off by its timeout or the caller's abort that keeps running (it ignores its signal) still
 * uses the provider: its target-scoped reservation stays until it ends.
 */

/** A model call that ignores its signal and ends when the test says so. */
function stubborn() {
  let finish!: (value: unknown) => void;
  let failWith!: (error: unknown) => void;
  let reportUsage: AttemptContext['reportUsage'] | undefined;
  const ended = new Promise<unknown>((resolve, reject) => {
    finish = resolve;
    failWith = reject;
  });
  const fn = (_t: unknown, ctx: AttemptContext) => {
    reportUsage = ctx.reportUsage;
    return ended;
  };
  return { fn, finish, failWith, report: (u: { inputTokens: number; outputTokens: number }) => reportUsage!(u) };
}

const SLOTS = { id: 'slots', scope: ['model'] as Array<'model'>, metric: 'concurrency' as const, limit: 1 };
// A day's window: it replenishes one token per 8.6 s of the store's own (system) clock, far slower than a test runs.
const TPM = { id: 'tpm', scope: ['model'] as Array<'model'>, metric: 'totalTokens' as const, limit: 10_000, window: '1d' as const };
const ONE_TRY: PolicyInput['routes'] = { chat: { chain: ['a'], timeout: '1s', retry: { maxAttempts: 1, maxLimiterWait: 0 } } };

/** Units `rule` holds right now for the scope values `ctx` (slots of a concurrency rule, tokens of a rate rule: one-day windows here). */
function heldOn(
  store: MemoryLimiterStore,
  rule: { id: string; scope: Array<'model' | 'user' | 'tenant'>; metric: string; limit: number; fixedWindow?: boolean },
  ctx: { model?: string; user?: string; tenant?: string },
  now = 0,
): number {
  const windowMs = rule.metric !== 'concurrency' ? 86_400_000 : 0;
  const compiled = compile({ ...rule, metric: rule.metric as LimitRule['metric'], windowMs });
  // A fixed window (budgets) is a bounded counter per window to the store, its key naming the window.
  const key = compiled.fixed ? windowKey(compiled, limitKey(rule, ctx)!, now) : limitKey(rule, ctx)!;
  return store.usage([{ key, kind: compiled.spec.kind, limit: rule.limit, windowMs, amount: 0 }])[0]!;
}
const slotsHeld = (store: MemoryLimiterStore) => heldOn(store, SLOTS, { model: 'model-a' });
const tpmHeld = (store: MemoryLimiterStore) => heldOn(store, TPM, { model: 'model-a' });

/** `memory` behind a store that answers a turn later, as a networked store does. */
function asyncStore(memory: MemoryLimiterStore, onAdjust: () => void = () => undefined) {
  return {
    reserve: (charges: Parameters<MemoryLimiterStore['reserve']>[0]) => Promise.resolve(memory.reserve(charges)),
    adjust: (adjustments: Parameters<MemoryLimiterStore['adjust']>[0]) =>
      new Promise<void>((resolve) =>
        setImmediate(() => {
          memory.adjust(adjustments);
          onAdjust();
          resolve();
        }),
      ),
  };
}

describe('Resilience: a call cut off while it still runs', () => {
  it('keeps its concurrency slot after its timeout until it ends, then frees it', async () => {
    const { engine, clock } = setup({ limits: [SLOTS] }, ONE_TRY);
    const call = stubborn();
    const first = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, call.fn)).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(ChainExhaustedError);
    expect((first as ChainExhaustedError).record.attempts).toEqual([expect.objectContaining({ target: 'a', errorKind: 'timeout' })]);

    // Still running: the provider has a call in flight, so the one slot is taken.
    const second = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn)).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(ChainExhaustedError);
    expect((second as ChainExhaustedError).record.skipped).toEqual([expect.objectContaining({ target: 'a', reason: 'limited' })]);

    call.finish(ok());
    await new Promise((r) => setImmediate(r));
    const third = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn));
    expect(third.record.final_target).toBe('a');
  });

  it('settles the tokens with what the call used once it ends (it was billed), or as a failure when it fails', async () => {
    const store = new MemoryLimiterStore();
    const { engine, clock } = setup({ limits: [TPM] }, ONE_TRY, { store });
    const billed = stubborn();
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 100, maxOutputTokens: 200 }, billed.fn)).catch(() => undefined);
    // Cut off, still running: the estimate stays reserved (100 in + 200 out).
    expect(tpmHeld(store)).toBeCloseTo(300, 0);
    billed.report({ inputTokens: 100, outputTokens: 5_000 }); // a long answer, reported after the cut-off
    billed.finish(ok('late'));
    await new Promise((r) => setImmediate(r));
    expect(tpmHeld(store)).toBeCloseTo(5_100, 0);

    const failed = stubborn();
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 100, maxOutputTokens: 200 }, failed.fn)).catch(() => undefined);
    expect(tpmHeld(store)).toBeCloseTo(5_400, 0);
    failed.failWith(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    await new Promise((r) => setImmediate(r));
    // A failed call keeps only its request count (the rule's onFailure default): the tokens came back.
    expect(tpmHeld(store)).toBeCloseTo(5_100, 0);
  });

  it('holds the reservation for at most one more timeout when the call never ends, and gives held ones back at shutdown', async () => {
    const store = new MemoryLimiterStore();
    const { engine, clock } = setup({ limits: [SLOTS] }, ONE_TRY, { store });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, stubborn().fn)).catch(() => undefined);
    const busy = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn)).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(ChainExhaustedError);
    await clock.advance(1_000); // the target's timeout again: the hold ends
    const served = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn));
    expect(served.record.final_target).toBe('a');

    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, stubborn().fn)).catch(() => undefined);
    expect(slotsHeld(store)).toBe(1);
    await engine.shutdown();
    // Shut down: the held slot is given back (the store may be shared), and its time limit is cancelled.
    expect(slotsHeld(store)).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('tells the logger once per target that its calls ignore ctx.signal', async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const logger = { warn: (message: string, fields?: Record<string, unknown>) => warnings.push({ message, ...fields }) };
    const { engine, clock } = setup({ limits: [TPM] }, ONE_TRY, { logger });
    const calls = [stubborn(), stubborn()];
    for (const call of calls) await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, call.fn)).catch(() => undefined);
    // An honest call (it rejects on abort) is no news.
    const honest = (_t: unknown, ctx: AttemptContext) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, honest)).catch(() => undefined);
    expect(warnings).toEqual([expect.objectContaining({ message: expect.stringContaining('ignores ctx.signal'), target: 'a' })]);
    for (const call of calls) call.finish(ok());
  });

  it('keeps the slot of a call the caller aborted that goes on running', async () => {
    const { engine, clock } = setup({ limits: [SLOTS] }, ONE_TRY);
    const call = stubborn();
    const ac = new AbortController();
    const first = engine.execute({ route: 'chat', inputTokens: 10, signal: ac.signal }, call.fn);
    await new Promise((r) => setImmediate(r));
    ac.abort();
    await expect(first).rejects.toMatchObject({ kind: 'cancelled' });
    const busy = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn)).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(ChainExhaustedError);
    call.finish(ok());
    await new Promise((r) => setImmediate(r));
    const served = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn));
    expect(served.record.final_target).toBe('a');
  });

  it('frees the slot at once when the call honours its signal', async () => {
    const { engine, clock } = setup({ limits: [SLOTS] }, ONE_TRY);
    const honest = (_t: unknown, ctx: AttemptContext) =>
      new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, honest)).catch(() => undefined);
    const t0 = clock.now();
    const served = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn));
    expect(served.record.final_target).toBe('a');
    expect(clock.now()).toBe(t0);
  });

  it('on the system clock, ends the hold after one more timeout', async () => {
    const store = new MemoryLimiterStore();
    const policy = definePolicy({ targets: { a: { provider: 'openai', model: 'model-a' } }, routes: { chat: { chain: ['a'], timeout: 20, retry: { maxAttempts: 1 } } }, limits: [SLOTS] });
    const engine = createResilience(policy, { clock: systemClock, store });
    await expect(engine.execute({ route: 'chat', inputTokens: 10 }, stubborn().fn)).rejects.toBeInstanceOf(ChainExhaustedError);
    expect(slotsHeld(store)).toBe(1);
    const until = Date.now() + 2_000;
    while (slotsHeld(store) > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    expect(slotsHeld(store)).toBe(0);
  });

  it('releases the slot before a retry when the call honours its signal a little late (rejects a turn after the abort)', async () => {
    const { engine, clock } = setup({ limits: [SLOTS] }, { chat: { chain: ['a'], timeout: '1s', retry: { maxAttempts: 2, maxLimiterWait: 0, backoff: { strategy: 'constant', delay: 1 } } } });
    let calls = 0;
    const lateButHonest = (_t: unknown, ctx: AttemptContext) => {
      if (++calls > 1) return Promise.resolve(ok());
      return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => setImmediate(() => reject(ctx.signal.reason)), { once: true }));
    };
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, lateButHonest));
    expect(res.record.attempts.map((a) => a.errorKind ?? a.outcome)).toEqual(['timeout', 'success']);
    expect(res.record.skipped).toEqual([]);
  });

  it('keeps the timeout as the request\'s error when its own still-running call holds the slot a retry needs', async () => {
    const { engine, clock } = setup({ limits: [SLOTS] }, { chat: { chain: ['a'], timeout: '1s', retry: { maxAttempts: 2, maxLimiterWait: 0, backoff: { strategy: 'constant', delay: 1 } } } });
    const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, stubborn().fn)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    const record = (err as ChainExhaustedError).record;
    expect(record.attempts.map((a) => a.errorKind)).toEqual(['timeout']);
    expect(record.skipped).toEqual([expect.objectContaining({ target: 'a', reason: 'limited' })]);
    expect(err).toMatchObject({ kind: 'timeout' });
  });

  it('waits at shutdown until held reservations are given back to a store that answers asynchronously', async () => {
    const memory = new MemoryLimiterStore();
    const applied: string[] = [];
    const slow = asyncStore(memory, () => applied.push('adjust'));
    const { engine, clock } = setup({ limits: [SLOTS] }, ONE_TRY, { store: slow });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, stubborn().fn)).catch(() => undefined);
    expect(slotsHeld(memory)).toBe(1);
    await engine.shutdown();
    expect(applied).toEqual(['adjust']);
    expect(slotsHeld(memory)).toBe(0);
  });

  it("keeps the user's request-scoped concurrency slot too while the user's cut-off call runs, also when a fallback answered", async () => {
    const userSlots = { id: 'user-slots', scope: ['user'] as Array<'user'>, metric: 'concurrency' as const, limit: 2 };
    const store = new MemoryLimiterStore();
    const held = (user: string) => heldOn(store, userSlots, { user });
    const { engine, clock } = setup(
      { limits: [userSlots] },
      { chat: { chain: ['a', 'long'], timeout: '1s', retry: { maxAttempts: 2, perKind: { timeout: 0 }, maxLimiterWait: 0 } } },
      { store },
    );
    const call = stubborn();
    // a ignores its signal and is cut off; long answers.
    // The clock moves only to a's timeout (drive() would go on to the end of the hold).
    const first = engine.execute({ route: 'chat', inputTokens: 10, identity: { user: 'u1' } }, (t, ctx) => (t.id === 'a' ? call.fn(t, ctx) : Promise.resolve(ok())));
    await clock.advance(1_000);
    const answered = await first;
    expect(answered.record.final_target).toBe('long');
    expect(held('u1')).toBe(1); // u1's call on a still runs

    const failed = stubborn();
    const second = engine.execute({ route: 'chat', inputTokens: 10, identity: { user: 'u2' } }, (t, ctx) =>
      t.id === 'a' ? failed.fn(t, ctx) : Promise.reject(Object.assign(new Error('invalid'), { status: 400 })),
    );
    await clock.advance(1_000);
    await expect(second).rejects.toMatchObject({ kind: 'invalid_request' });
    expect(held('u2')).toBe(1); // the request failed, its call on a still runs

    call.finish(ok());
    failed.failWith(new Error('late'));
    await new Promise((r) => setImmediate(r));
    expect([held('u1'), held('u2')]).toEqual([0, 0]);
    // A request with nothing held gives its slot back when it ends, as before.
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, identity: { user: 'u3' } }, scripted({}).fn));
    expect(held('u3')).toBe(0);
  });

  it('reports a later denial by other traffic as rate_limited once its own held call has ended', async () => {
    const { engine, clock } = setup({ limits: [SLOTS] }, { chat: { chain: ['a'], timeout: '1s', retry: { maxAttempts: 2, maxLimiterWait: 0, backoff: { strategy: 'constant', delay: 1_500 } } } });
    const turn = () => new Promise((r) => setImmediate(r));
    const own = stubborn();
    const first = engine.execute({ route: 'chat', inputTokens: 10 }, own.fn);
    const settled = first.catch((e: unknown) => e);
    await clock.advance(1_000); // first attempt cut off: held
    await turn();
    own.finish(ok()); // ... and over: the slot is free again
    await turn();
    const other = stubborn();
    const second = engine.execute({ route: 'chat', inputTokens: 10 }, other.fn).catch(() => undefined);
    await turn();
    await clock.advance(1_000); // the other request's call is cut off and held in turn
    await turn();
    await clock.advance(500); // the first request's retry: the slot is the other request's
    const err = await settled;
    expect((err as ChainExhaustedError).record.skipped).toEqual([expect.objectContaining({ target: 'a', reason: 'limited' })]);
    expect(err).toMatchObject({ kind: 'rate_limited' });
    other.finish(ok());
    await drive(clock, second);
  });

  it('waits at shutdown for request-scoped slots deferred behind held calls, on a store that answers asynchronously', async () => {
    const userSlots = { id: 'user-slots', scope: ['user'] as Array<'user'>, metric: 'concurrency' as const, limit: 1 };
    const memory = new MemoryLimiterStore();
    const held = () => heldOn(memory, userSlots, { user: 'u1' });
    const { engine, clock } = setup({ limits: [userSlots] }, ONE_TRY, { store: asyncStore(memory) });
    const first = engine.execute({ route: 'chat', inputTokens: 10, identity: { user: 'u1' } }, stubborn().fn).catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    await clock.advance(1_000);
    await first;
    expect(held()).toBe(1);
    await engine.shutdown();
    expect(held()).toBe(0);
  });

  it("charges a late answer's tokens and cost to the request's own limits and budgets, after an answer by a fallback and after a failure", async () => {
    const userTpm = { id: 'user-tpm', scope: ['user'] as Array<'user'>, metric: 'totalTokens' as const, limit: 10_000, window: '1d' as const };
    const budget = { id: 'daily', scope: ['tenant'] as Array<'tenant'>, limitUsd: 1, window: '1d' as const };
    const budgetRule = { id: 'daily', scope: ['tenant'] as Array<'tenant'>, metric: 'cost', limit: 1, fixedWindow: true };
    const store = new MemoryLimiterStore();
    const tokens = (user: string) => heldOn(store, userTpm, { user });
    const spent = (tenant: string) => heldOn(store, budgetRule, { tenant }, clock.now());
    const { engine, clock } = setup(
      { limits: [userTpm], budgets: [budget] },
      {
        chat: { chain: ['a', 'long'], timeout: '1s', retry: { maxAttempts: 2, perKind: { timeout: 0 }, maxLimiterWait: 0 } },
        single: { chain: ['a'], timeout: '1s', retry: { maxAttempts: 1, maxLimiterWait: 0 } },
      },
      { store },
    );
    // a ($1/$2 per 1M tokens) is cut off and answers later with 100 + 5 000 tokens: $0.0101.
    const late = { inputTokens: 100, outputTokens: 5_000 };
    const lateCost = 100e-6 + 5_000 * 2e-6;

    const answered = stubborn();
    const first = engine.execute({ route: 'chat', inputTokens: 10, maxOutputTokens: 50, identity: { user: 'u1', tenant: 't1' } }, (t, ctx) =>
      t.id === 'a' ? answered.fn(t, ctx) : Promise.resolve(ok('from long', { prompt_tokens: 10, completion_tokens: 5 })),
    );
    await clock.advance(1_000);
    expect((await first).record.final_target).toBe('long');
    // Still held: the request's estimate (10 in + 50 out, the worst target's price) stays reserved.
    expect(tokens('u1')).toBeCloseTo(60, 0);
    expect(spent('t1')).toBeCloseTo(10 * 2e-6 + 50 * 4e-6, 12);
    answered.report(late);
    answered.finish(ok('late'));
    await new Promise((r) => setImmediate(r));
    // long's answer (10 + 5 tokens, $0.00004) and a's late one.
    expect(tokens('u1')).toBeCloseTo(15 + 5_100, 0);
    expect(spent('t1')).toBeCloseTo(10 * 2e-6 + 5 * 4e-6 + lateCost, 12);

    const failed = stubborn();
    const second = engine.execute({ route: 'single', inputTokens: 10, maxOutputTokens: 50, identity: { user: 'u2', tenant: 't2' } }, failed.fn);
    await clock.advance(1_000);
    await expect(second).rejects.toMatchObject({ kind: 'timeout' });
    failed.report(late);
    failed.finish(ok('late'));
    await new Promise((r) => setImmediate(r));
    // The request failed for its caller, but its call was answered and billed.
    expect(tokens('u2')).toBeCloseTo(5_100, 0);
    expect(spent('t2')).toBeCloseTo(lateCost, 12);
  });

  it('tells listeners and metrics what a late answer used (reported, else the estimate), and nothing of a late failure', async () => {
    const events: unknown[] = [];
    const sunk: unknown[] = [];
    const { engine, clock, records } = setup({ limits: [TPM] }, ONE_TRY, { metrics: { ...noopMetrics, lateUsage: (e) => sunk.push(e) } });
    engine.events.on('lateUsage', (e) => events.push(e));
    const cutOff = async (call: ReturnType<typeof stubborn>, user: string) => {
      const run = engine.execute({ route: 'chat', inputTokens: 100, maxOutputTokens: 200, identity: { user } }, call.fn);
      await clock.advance(1_000);
      await expect(run).rejects.toMatchObject({ kind: 'timeout' });
    };

    const reported = stubborn();
    await cutOff(reported, 'u1');
    reported.report({ inputTokens: 120, outputTokens: 3_000 });
    reported.finish(ok('late'));
    await new Promise((r) => setImmediate(r));
    const where = { route: 'chat', target: 'a', provider: 'openai', model: 'model-a' };
    // a costs $1 / $2 per 1M input / output tokens.
    const first = { ...where, inputTokens: 120, outputTokens: 3_000, costUsd: expect.closeTo(120e-6 + 3_000 * 2e-6, 12), estimated: false };
    expect(events).toEqual([{ requestId: records[0]!.request_id, ...first }]);
    expect(sunk).toEqual([{ ...first, priority: records[0]!.priority }]);
    // The request's record, emitted when it timed out, counts none of it.
    expect(records[0]).toMatchObject({ outcome: 'failure', input_tokens: 100, output_tokens: 0, actual_cost: 0 });

    const silent = stubborn();
    await cutOff(silent, 'u2');
    silent.finish({ choices: [{ message: { content: 'no usage' } }] });
    await new Promise((r) => setImmediate(r));
    expect(events[1]).toEqual({ requestId: records[1]!.request_id, ...where, inputTokens: 100, outputTokens: 200, costUsd: expect.closeTo(100e-6 + 200 * 2e-6, 12), estimated: true });

    const failing = stubborn();
    await cutOff(failing, 'u3');
    failing.failWith(new Error('late failure'));
    await new Promise((r) => setImmediate(r));
    expect(events).toHaveLength(2);
    expect(sunk).toHaveLength(2);
  });

  it('reports a late answer also when no limit or budget holds anything for it (metrics only)', async () => {
    const events: unknown[] = [];
    const sunk: unknown[] = [];
    const { engine, clock } = setup({}, ONE_TRY, { metrics: { ...noopMetrics, lateUsage: (e) => sunk.push(e) } });
    engine.events.on('lateUsage', (e) => events.push(e));
    const call = stubborn();
    const run = engine.execute({ route: 'chat', inputTokens: 100, maxOutputTokens: 200 }, call.fn);
    await clock.advance(1_000);
    await expect(run).rejects.toMatchObject({ kind: 'timeout' });
    call.report({ inputTokens: 120, outputTokens: 3_000 });
    call.finish(ok('late'));
    await new Promise((r) => setImmediate(r));
    expect(events).toEqual([expect.objectContaining({ target: 'a', inputTokens: 120, outputTokens: 3_000, estimated: false })]);
    expect(sunk).toHaveLength(1);

    // One that honours its abort by rejecting answers nothing.
    const honours = engine.execute({ route: 'chat', inputTokens: 100 }, (_t, ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))));
    await clock.advance(1_000);
    await expect(honours).rejects.toMatchObject({ kind: 'timeout' });
    await new Promise((r) => setImmediate(r));
    expect(events).toHaveLength(1);
  });

  it('counts a cut-off call that reported its usage and then failed as answered: settled with it, and reported late', async () => {
    const reportsThenFails = () => {
      let failWith!: (e: unknown) => void;
      const fn = (_t: unknown, ctx: AttemptContext) => {
        ctx.reportUsage({ inputTokens: 120, outputTokens: 150 }); // the reply arrived and was billed...
        return new Promise((_resolve, reject) => (failWith = reject)); // ...then its post-processing runs on
      };
      return { fn, fail: (e: unknown) => failWith(e) };
    };
    // Nothing held (no limits): reported all the same.
    const bare = setup({}, ONE_TRY);
    const late: Array<{ inputTokens: number; outputTokens: number; estimated: boolean }> = [];
    bare.engine.events.on('lateUsage', (e) => late.push(e));
    const first = reportsThenFails();
    const run = bare.engine.execute({ route: 'chat', inputTokens: 100, maxOutputTokens: 200 }, first.fn);
    await bare.clock.advance(1_000);
    await expect(run).rejects.toMatchObject({ kind: 'timeout' });
    first.fail(new Error('its parser rejected the reply'));
    await new Promise((r) => setImmediate(r));
    expect(late).toEqual([expect.objectContaining({ inputTokens: 120, outputTokens: 150, estimated: false })]);

    // Held (a token limit): settled with the reported usage, not refunded.
    const store = new MemoryLimiterStore();
    const held = setup({ limits: [TPM] }, ONE_TRY, { store });
    const second = reportsThenFails();
    const heldRun = held.engine.execute({ route: 'chat', inputTokens: 100, maxOutputTokens: 200 }, second.fn);
    await held.clock.advance(1_000);
    await expect(heldRun).rejects.toMatchObject({ kind: 'timeout' });
    expect(tpmHeld(store)).toBeCloseTo(300, 0); // the estimate, while it runs
    second.fail(new Error('its parser rejected the reply'));
    await new Promise((r) => setImmediate(r));
    expect(tpmHeld(store)).toBeCloseTo(270, 0);
  });

  it('charges nothing for a call that honours its signal by resolving with nothing (a wrapper that swallows the abort)', async () => {
    const budgetRule = { id: 'daily', scope: ['tenant'] as Array<'tenant'>, metric: 'cost', limit: 1, fixedWindow: true };
    const store = new MemoryLimiterStore();
    const { engine, clock } = setup({ limits: [TPM], budgets: [{ id: 'daily', scope: ['tenant'], limitUsd: 1, window: '1d' }] }, ONE_TRY, { store });
    const swallows = (_t: unknown, ctx: AttemptContext) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(undefined), { once: true }));
    const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 100, maxOutputTokens: 200, identity: { tenant: 't1' } }, swallows)).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'timeout' });
    await new Promise((r) => setImmediate(r));
    // As a failed call: the request count stays, the token estimate is refunded, and the budget released.
    expect(tpmHeld(store)).toBeCloseTo(0, 0);
    expect(heldOn(store, budgetRule, { tenant: 't1' }, clock.now())).toBe(0);
  });

  it('closes a stream that a cut-off call opens after all, also with no limits to hold', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'], timeout: '1s', retry: { maxAttempts: 2, perKind: { timeout: 0 } } } });
    const call = stubborn();
    const p = engine.execute({ route: 'chat', inputTokens: 10, stream: true }, (t, ctx) => (t.id === 'a' ? call.fn(t, ctx) : Promise.resolve(ok('b streams'))));
    await clock.advance(1_000);
    const served = await p;
    expect(served.target.id).toBe('b');
    served.complete();
    const controller = new AbortController();
    call.finish({ controller, async *[Symbol.asyncIterator]() {} }); // an SDK stream, opened late
    await new Promise((r) => setImmediate(r));
    expect(controller.signal.aborted).toBe(true);
  });
});
