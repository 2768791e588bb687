import { referenceIssuesOfRaw } from './references';

const CLASSES = ['live', 'batch', 'experiment'];

describe('referenceIssuesOfRaw', () => {
  it('finds chain entries, priorities and downgrade routes that name nothing', () => {
    const input = {
      targets: { a: {}, b: {} },
      trafficClasses: { nightly: {} },
      routes: { chat: { chain: ['a', 'c', { provider: 'x', model: 'y' }], priority: 'nightly' }, bulk: { chain: ['b'], priority: 'urgent' } },
      budgets: [{ downgradeTo: 'chat' }, { downgradeTo: 'cheap' }],
    };
    expect(referenceIssuesOfRaw(input, CLASSES)).toEqual([
      { path: 'routes.chat.chain[1]', message: "expected the name of a target (one of 'a', 'b'), got 'c'" },
      { path: 'routes.bulk.priority', message: "expected a traffic class (one of 'live', 'batch', 'experiment', 'nightly'), got 'urgent'" },
      { path: 'budgets[1].downgradeTo', message: "expected the name of a route (one of 'chat', 'bulk'), got 'cheap'" },
    ]);
  });

  it('reads what it can of garbage and never throws', () => {
    expect(referenceIssuesOfRaw(null, CLASSES)).toEqual([]);
    expect(referenceIssuesOfRaw('policy', CLASSES)).toEqual([]);
    expect(referenceIssuesOfRaw({ routes: { chat: { chain: 'a' } } }, CLASSES)).toEqual([]);
    expect(referenceIssuesOfRaw({ routes: { chat: { chain: ['a'] } } }, CLASSES)).toEqual([
      { path: 'routes.chat.chain[0]', message: "expected the name of a target (one of none defined), got 'a'" },
    ]);
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('trap');
        },
      },
    );
    expect(referenceIssuesOfRaw({ targets: {}, routes: { chat: { chain: ['x'] }, bad: hostile } }, CLASSES)).toEqual([
      { path: 'routes.chat.chain[0]', message: "expected the name of a target (one of none defined), got 'x'" },
    ]);
  });
});
