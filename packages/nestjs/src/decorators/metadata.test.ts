import { mergeRateLimited } from './metadata';

describe('mergeRateLimited', () => {
  it('lets the method override the class field by field', () => {
    const key = (u: string) => u;
    expect(mergeRateLimited({ route: 'chat', priority: 'live', key }, { priority: 'batch' })).toEqual({ route: 'chat', priority: 'batch', key });
    expect(mergeRateLimited(undefined, { route: 'x' })).toEqual({ route: 'x' });
    expect(mergeRateLimited({ route: 'x' }, undefined)).toEqual({ route: 'x' });
    expect(mergeRateLimited(undefined, undefined)).toBeUndefined();
  });

  it('treats identity and key as one setting: a method that sets either replaces both of the class\'s', () => {
    const byTenant = (t: string) => ({ tenant: t });
    const byUser = (u: string) => u;
    const classWho = { route: 'chat', identity: byTenant, key: byUser };
    expect(mergeRateLimited(classWho, { key: byUser })).toEqual({ route: 'chat', key: byUser });
    expect(mergeRateLimited({ route: 'chat', key: byUser }, { identity: byTenant })).toEqual({ route: 'chat', identity: byTenant });
    // Same level: both kept, and identity wins when the request is built.
    expect(mergeRateLimited({ route: 'chat' }, { identity: byTenant, key: byUser })).toEqual({ route: 'chat', identity: byTenant, key: byUser });
    // A method that says nothing about who keeps the class's setting.
    expect(mergeRateLimited(classWho, { priority: 'batch' })).toEqual({ ...classWho, priority: 'batch' });
  });

  it('keeps the limits of both, a method rule replacing the class rule with its id', () => {
    const merged = mergeRateLimited(
      { limits: [{ id: 'u', scope: ['user'], limit: 10, window: '1m' }, { scope: ['team'], limit: 100, window: '1m' }] },
      { limits: [{ id: 'u', scope: ['user'], limit: 2, window: '1m' }] },
    );
    expect(merged?.limits).toEqual([
      { scope: ['team'], limit: 100, window: '1m' },
      { id: 'u', scope: ['user'], limit: 2, window: '1m' },
    ]);
    expect(mergeRateLimited({ limits: [{ scope: [], limit: 1, window: '1s' }] }, { route: 'r' })?.limits).toHaveLength(1);
  });
});
