import { createResilience, definePolicy, type RequestRecord } from '@llm-resilience/core';
import { ForbiddenException } from '@nestjs/common';
import OpenAI from 'openai';
import { defer, firstValueFrom, lastValueFrom, NEVER, of, throwError, toArray } from 'rxjs';
import { NestConfigError } from '../NestConfigError';
import { fromResilience } from './fromResilience';

function engine(limit = 100) {
  return createResilience(
    definePolicy({
      targets: { a: { provider: 'openai', model: 'model-a' }, b: { provider: 'openai', model: 'model-b' } },
      routes: { chat: { chain: ['a', 'b'], retry: { perKind: { overloaded: 0 } } } },
      limits: [{ scope: ['user'], metric: 'requests', limit, window: '1m' }],
    }),
  );
}
const overloaded = () => OpenAI.APIError.generate(503, { error: { message: 'busy' } }, undefined, new Headers());

describe('fromResilience', () => {
  it('is cold: each subscription is one engine request', async () => {
    const e = engine();
    const records: RequestRecord[] = [];
    e.events.on('record', (r) => records.push(r));
    const o = fromResilience(e, { route: 'chat' }, (t) => of(t.model));
    expect(records).toHaveLength(0);
    await expect(lastValueFrom(o)).resolves.toBe('model-a');
    await expect(lastValueFrom(o)).resolves.toBe('model-a');
    expect(records).toHaveLength(2);
  });

  it('emits every value of the attempt that succeeded, none of the failed ones', async () => {
    const e = engine();
    const o = fromResilience(e, { route: 'chat' }, (t) =>
      t.id === 'a' ? defer(() => of('partial-a')).pipe(() => throwError(overloaded)) : of('b1', 'b2'),
    );
    await expect(lastValueFrom(o.pipe(toArray()))).resolves.toEqual(['b1', 'b2']);
  });

  it('errors with the engine typed error and hands the result to onResult', async () => {
    const e = engine();
    await expect(lastValueFrom(fromResilience(e, { route: 'chat' }, () => throwError(overloaded)))).rejects.toMatchObject({
      code: 'ERR_LLMR_CHAIN_EXHAUSTED',
      kind: 'overloaded',
    });
    let target = '';
    await lastValueFrom(fromResilience(e, { route: 'chat' }, () => of(1), { onResult: (r) => (target = r.target.id) }));
    expect(target).toBe('a');
  });

  it("errors with the call's own HttpException as thrown, once: the engine sees an invalid_request", async () => {
    // A breaker that opens on the first failure it is told of.
    const e = createResilience(
      definePolicy({
        targets: { a: { provider: 'openai', model: 'model-a' }, b: { provider: 'openai', model: 'model-b' } },
        routes: { chat: { chain: ['a', 'b'] } },
        breaker: { consecutiveFailures: 1, minimumCalls: 1 },
      }),
    );
    const records: RequestRecord[] = [];
    const alerts: unknown[] = [];
    e.events.on('record', (r) => records.push(r));
    e.events.on('alert', (a) => alerts.push(a));
    const forbidden = new ForbiddenException('You cannot read this document.');
    let calls = 0;
    const o = fromResilience(e, { route: 'chat', identity: { user: 'u1' } }, () => {
      calls++;
      throw forbidden;
    });
    await expect(lastValueFrom(o)).rejects.toBe(forbidden);
    expect(calls).toBe(1); // no retry, not the next target of the chain
    expect(alerts).toEqual([]); // a 403 of the application is not an auth failure of the provider
    expect(records[0]).toMatchObject({ outcome: 'failure', error_kind: 'invalid_request', fallback_used: false });
    expect(records[0]?.attempts).toHaveLength(1);
    expect(e.breakers.stateOf('a')).toBe('closed');
  });

  it('accepts promises and plain values from the call', async () => {
    const e = engine();
    await expect(lastValueFrom(fromResilience(e, { route: 'chat' }, async (t) => t.id))).resolves.toBe('a');
    await expect(lastValueFrom(fromResilience(e, { route: 'chat' }, (t) => t.provider))).resolves.toBe('openai');
  });

  it('cancels the request when the subscriber unsubscribes early', async () => {
    const e = engine();
    const recorded = new Promise<RequestRecord>((resolve) => e.events.on('record', resolve));
    let signal: AbortSignal | undefined;
    let markStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    const sub = fromResilience(e, { route: 'chat' }, (_t, ctx) => {
      signal = ctx.signal;
      markStarted();
      return NEVER;
    }).subscribe();
    await started;
    sub.unsubscribe();
    const record = await recorded;
    expect(signal?.aborted).toBe(true);
    expect(record).toMatchObject({ outcome: 'failure', error_kind: 'cancelled' });
    expect(record.attempts).toHaveLength(1);
  });

  it('reads the request lazily from a function', async () => {
    const e = engine(1);
    let n = 0;
    const o = fromResilience(e, () => ({ route: 'chat', identity: { user: `u${++n}` } }), () => of('ok'));
    await expect(firstValueFrom(o)).resolves.toBe('ok');
    await expect(firstValueFrom(o)).resolves.toBe('ok'); // another user each time: the limit of 1 is not hit
  });

  it('checks its arguments when called, not at the first subscription', () => {
    const e = engine();
    const call = () => of('x');
    const cases: Array<[() => unknown, string]> = [
      [() => fromResilience(null as never, { route: 'chat' }, call), 'fromResilience engine: expected a Resilience engine (from createResilience) or a ResilienceService, got null.'],
      [() => fromResilience({ execute() {} } as never, { route: 'chat' }, call), 'fromResilience engine: expected a Resilience engine (from createResilience) or a ResilienceService, got an object without shutdown().'],
      [() => fromResilience(e, 'chat' as never, call), 'fromResilience request: expected a request object ({ route, ... }) or a function returning one, got a string.'],
      [() => fromResilience(e, { route: 'chta' }, call), "fromResilience request route: 'chta' is not a route of the policy. Known routes: chat."],
      [() => fromResilience(e, { route: 'chat', identity: { user: 1 } as never }, call), 'fromResilience request identity is an object whose user is a number;'],
      [() => fromResilience(e, { route: 'chat' }, 'call' as never), 'fromResilience call: expected a function (target, ctx) => ObservableInput, got a string.'],
      [() => fromResilience(e, { route: 'chat' }, call, { onResult: 1 } as never), 'fromResilience options.onResult: expected a function (result) => void, got a number.'],
      [() => fromResilience(e, { route: 'chat' }, call, { onResul: () => {} } as never), "fromResilience options.onResul: not an option (did you mean 'onResult'?)"],
    ];
    for (const [run, message] of cases) {
      let caught: unknown;
      try {
        run();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(NestConfigError);
      expect((caught as Error).message.startsWith(message)).toBe(true);
    }
  });

  it('checks the identity of a request made by a function at each subscription', async () => {
    const o = fromResilience(engine(), () => ({ route: 'chat', identity: 'u1' as never }), () => of('x'));
    await expect(lastValueFrom(o)).rejects.toMatchObject({ code: 'ERR_LLMR_NEST_INVALID_IDENTITY', message: expect.stringMatching(/^fromResilience request\(\): identity is a string;/) });
  });
});
