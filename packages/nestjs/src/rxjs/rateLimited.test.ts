import { createResilience, definePolicy } from '@llm-resilience/core';
import { defer, lastValueFrom, of } from 'rxjs';
import { NestConfigError } from '../NestConfigError';
import { runWithResilienceContext } from '../requestContext';
import { rateLimited } from './rateLimited';

function engine() {
  return createResilience(
    definePolicy({
      targets: { a: { provider: 'openai', model: 'model-a' } },
      routes: { chat: { chain: ['a'], priority: 'live' } },
      limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 1, window: '1m' }],
    }),
  );
}

describe('rateLimited', () => {
  it('admits each subscription against the policy limits of its identity', async () => {
    const e = engine();
    let calls = 0;
    const source = defer(() => {
      calls++;
      return of('reply');
    });
    await expect(lastValueFrom(source.pipe(rateLimited({ engine: e, route: 'chat', identity: { user: 'u1' } })))).resolves.toBe('reply');
    await expect(lastValueFrom(source.pipe(rateLimited({ engine: e, route: 'chat', identity: { user: 'u1' } })))).rejects.toMatchObject({
      kind: 'rate_limited',
    });
    await expect(lastValueFrom(source.pipe(rateLimited({ service: { engine: e }, route: 'chat', identity: () => ({ user: 'u2' }) })))).resolves.toBe(
      'reply',
    );
    expect(calls).toBe(2);
  });

  it('takes the identity of the ambient request context by default', async () => {
    const e = engine();
    const o = of('x').pipe(rateLimited({ engine: e, route: 'chat' }));
    await runWithResilienceContext({ identity: { user: 'ctx-user' } }, () => lastValueFrom(o));
    await expect(runWithResilienceContext({ identity: { user: 'ctx-user' } }, () => lastValueFrom(o))).rejects.toMatchObject({ kind: 'rate_limited' });
  });

  it('needs an engine', () => {
    expect(() => rateLimited({ route: 'chat' })).toThrow(NestConfigError);
  });

  it.each<[string, unknown, string, string]>([
    ['undefined options', undefined, 'ERR_LLMR_NEST_INVALID_OPTIONS', 'rateLimited: expected options ({ engine | service, route, ... }), got undefined.'],
    ['an engine that is an empty object', { engine: {}, route: 'chat' }, 'ERR_LLMR_NEST_INVALID_OPTIONS', 'rateLimited engine: expected a Resilience engine (from createResilience) or a ResilienceService, got an object without execute().'],
    ['an engine that is a string', { engine: 'x', route: 'chat' }, 'ERR_LLMR_NEST_INVALID_OPTIONS', 'rateLimited engine: expected a Resilience engine (from createResilience) or a ResilienceService, got a string.'],
    ['a service without an engine', { service: { engine: {} }, route: 'chat' }, 'ERR_LLMR_NEST_INVALID_OPTIONS', 'rateLimited service: expected a Resilience engine (from createResilience) or a ResilienceService, got an object whose engine is an object without execute().'],
    ['a route that is a number', { engine: 'E', route: 5 }, 'ERR_LLMR_NEST_INVALID_OPTIONS', 'rateLimited route: expected a route name of the policy, got 5.'],
    ['a route the policy does not have', { engine: 'E', route: 'chta' }, 'ERR_LLMR_NEST_UNKNOWN_ROUTE', "rateLimited route: 'chta' is not a route of the policy. Known routes: chat."],
    ['a priority the policy does not have', { engine: 'E', route: 'chat', priority: 'urgent' }, 'ERR_LLMR_NEST_UNKNOWN_PRIORITY', "rateLimited priority: 'urgent' is not a traffic class of the policy. Known traffic classes: live, batch, experiment."],
    ['an identity of the wrong shape', { engine: 'E', route: 'chat', identity: { user: 42 } }, 'ERR_LLMR_NEST_INVALID_IDENTITY', 'rateLimited identity is an object whose user is a number;'],
    ['an identity that is a string', { engine: 'E', route: 'chat', identity: 'u1' }, 'ERR_LLMR_NEST_INVALID_IDENTITY', 'rateLimited identity: expected an identity object or a function returning one, got a string.'],
    ['an unknown key', { engine: 'E', route: 'chat', identiy: { user: 'u1' } }, 'ERR_LLMR_NEST_INVALID_OPTIONS', "rateLimited identiy: not an option (did you mean 'identity'?)"],
    ['both engine and service', { engine: 'E', service: 'E', route: 'chat' }, 'ERR_LLMR_NEST_INVALID_OPTIONS', 'rateLimited: give either engine or service, not both.'],
  ])('rejects %s when the operator is created', (_name, options, code, message) => {
    const e = engine();
    const withEngine =
      typeof options === 'object' && options !== null
        ? Object.fromEntries(Object.entries(options).map(([k, v]) => [k, v === 'E' ? e : v]))
        : options;
    let caught: unknown;
    try {
      rateLimited(withEngine as never);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(NestConfigError);
    expect(caught).toMatchObject({ code });
    expect((caught as Error).message.startsWith(message)).toBe(true);
  });

  it('checks what an identity function returns at each subscription', async () => {
    const o = of('x').pipe(rateLimited({ engine: engine(), route: 'chat', identity: () => ({ user: { id: 'u1' } }) as never }));
    await expect(lastValueFrom(o)).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_INVALID_IDENTITY',
      message: expect.stringMatching(/^rateLimited identity\(\) returned an object whose user is an object;/),
    });
  });
});
