import { RunnableLambda } from '@langchain/core/runnables';
import { definePolicy, type ResolvedTarget } from '@llm-resilience/core';
import { TargetRunnables } from './TargetRunnables';
import { UnmappedTargetError } from './UnmappedTargetError';

const policy = definePolicy(
  {
    targets: {
      a: { provider: 'openai', model: 'model-a' },
      b: { provider: 'openai', model: 'model-b' },
      c: { provider: 'anthropic', model: 'model-c' },
      cheap: { provider: 'openai', model: 'model-cheap' },
    },
    routes: { chat: { chain: ['a', 'b', 'c'] }, cheap: { chain: ['cheap'] } },
  },
  { onWarning: () => undefined },
);
const t = (id: string): ResolvedTarget => policy.targets[id]!;
const lambda = (name: string) => RunnableLambda.from(async () => name);

describe('TargetRunnables', () => {
  it('serves the chain positionally: the wrapped runnable first, then the fallbacks in order', () => {
    const [p, f1, f2] = [lambda('p'), lambda('f1'), lambda('f2')];
    const map = new TargetRunnables(policy, 'chat', p, [f1, f2], {});
    expect(map.problems).toEqual([]);
    expect(map.primaryId).toBe('a');
    expect(map.get(t('a'))).toBe(p);
    expect(map.get(t('b'))).toBe(f1);
    expect(map.get(t('c'))).toBe(f2);
    expect(map.direct()).toEqual([p, f1, f2]);
  });

  it('lets explicit targets win, builds factories once on first use, and maps targets of other routes', () => {
    const p = lambda('p');
    const forB = lambda('b');
    const factory = jest.fn((target: ResolvedTarget) => lambda(target.model));
    const cheap = lambda('cheap');
    const map = new TargetRunnables(policy, 'chat', p, [], { b: forB, c: factory, cheap });
    expect(map.problems).toEqual([]);
    expect(map.get(t('b'))).toBe(forB);
    expect(factory).not.toHaveBeenCalled();
    const c1 = map.get(t('c'));
    expect(map.get(t('c'))).toBe(c1);
    expect(factory).toHaveBeenCalledTimes(1);
    expect(factory).toHaveBeenCalledWith(t('c'));
    expect(map.get(t('cheap'))).toBe(cheap);
  });

  it('lists every problem: unmapped chain targets, too many fallbacks, unknown target ids', () => {
    const p = lambda('p');
    const map = new TargetRunnables(policy, 'chat', p, [], { nope: lambda('x') });
    expect(map.problems).toEqual([
      expect.stringContaining("targets['nope'] is not a target of the policy"),
      expect.stringContaining("target 'b' (chain[1] of route 'chat') has no runnable"),
      expect.stringContaining("target 'c' (chain[2] of route 'chat') has no runnable"),
    ]);
    const tooMany = new TargetRunnables(policy, 'cheap', p, [lambda('1')], {});
    expect(tooMany.problems).toEqual([expect.stringContaining("1 fallback runnable(s) given, but route 'cheap' has only 0")]);
  });

  it('reports an unknown route, and throws UnmappedTargetError for a target nobody serves', () => {
    const bad = new TargetRunnables(policy, 'chta', lambda('p'), [], {});
    expect(bad.problems).toEqual([expect.stringContaining("route 'chta' is not in the policy (known routes: chat, cheap)")]);
    const map = new TargetRunnables(policy, 'cheap', lambda('p'), [], {});
    expect(() => map.get(t('a'))).toThrow(UnmappedTargetError);
    try {
      map.get(t('a'));
    } catch (e) {
      expect(e).toMatchObject({ kind: 'invalid_request', code: 'ERR_LLMR_UNMAPPED_TARGET', target: 'a' });
    }
  });
});
