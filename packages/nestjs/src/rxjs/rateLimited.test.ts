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
});
