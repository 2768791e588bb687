import { isInstance } from './isInstance';

class A {}
class B extends A {}

describe('isInstance', () => {
  it('answers as instanceof does for ordinary values', () => {
    expect(isInstance(new B(), A)).toBe(true);
    expect(isInstance(new A(), B)).toBe(false);
    expect(isInstance(null, A)).toBe(false);
    expect(isInstance('text', A)).toBe(false);
  });

  it('answers false for a revoked Proxy and for a Proxy whose getPrototypeOf trap throws', () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(() => proxy instanceof A).toThrow(TypeError);
    expect(isInstance(proxy, A)).toBe(false);
    const hostile = new Proxy({}, { getPrototypeOf: () => { throw new Error('no'); } });
    expect(isInstance(hostile, A)).toBe(false);
  });
});
