import { IncomingMessage } from 'node:http';
import { bindRequestResilience } from './requestProperty';

interface FakeRequest {
  resilience?: unknown;
  res?: { locals?: Record<PropertyKey, unknown> };
}

/** A request shaped as Express makes one: app prototype -> Express's request prototype -> IncomingMessage. */
function expressLike() {
  const expressRequest = Object.create(IncomingMessage.prototype) as object;
  const appRequest = Object.create(expressRequest) as object;
  const make = () => {
    const res = { locals: Object.create(null) as Record<PropertyKey, unknown> };
    const req = Object.create(appRequest) as FakeRequest;
    req.res = res;
    return { req, res };
  };
  return { expressRequest, appRequest, make };
}

describe('bindRequestResilience', () => {
  it('keeps the value beside an Express request, readable and assignable as req.resilience', () => {
    const { expressRequest, make } = expressLike();
    const { req, res } = make();
    const ctx = { id: 1 };
    expect(bindRequestResilience(req, res, ctx)).toBeUndefined();
    expect(req.resilience).toBe(ctx);
    // Nothing was added to the request object itself.
    expect(Object.prototype.hasOwnProperty.call(req, 'resilience')).toBe(false);
    expect(Object.keys(req)).toEqual(['res']);
    expect(Object.getOwnPropertyDescriptor(expressRequest, 'resilience')?.get).toBeInstanceOf(Function);
    // The value lives in res.locals under a symbol: string keys (templates, JSON) do not see it, a spread keeps it.
    expect(Object.keys(res.locals)).toEqual([]);
    const copied = make();
    copied.req.res!.locals = { ...res.locals };
    expect(copied.req.resilience).toBe(ctx);

    const next = { id: 2 };
    expect(bindRequestResilience(req, res, next)).toBe(ctx);
    expect(req.resilience).toBe(next);
    req.resilience = undefined;
    expect(req.resilience).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(req, 'resilience')).toBe(false);
  });

  it('gives each request its own value, and none to a request that was not bound', () => {
    const { make } = expressLike();
    const a = make();
    const b = make();
    const c = make();
    bindRequestResilience(a.req, a.res, 'a');
    bindRequestResilience(b.req, b.res, 'b');
    expect([a.req.resilience, b.req.resilience, c.req.resilience]).toEqual(['a', 'b', undefined]);
  });

  it('serves requests of sub-apps, whose prototype sits between the request and the app prototype', () => {
    const { appRequest, make } = expressLike();
    const subAppRequest = Object.create(appRequest) as object;
    const { req, res } = make();
    Object.setPrototypeOf(req, subAppRequest);
    bindRequestResilience(req, res, 'sub');
    Object.setPrototypeOf(req, appRequest); // the sub-app hands the request back to its parent
    expect(req.resilience).toBe('sub');
    expect(Object.prototype.hasOwnProperty.call(req, 'resilience')).toBe(false);
  });

  it('uses a plain property on requests that are not Express requests or have no res.locals', () => {
    const plain: FakeRequest = {};
    expect(bindRequestResilience(plain, {}, 'p')).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(plain, 'resilience')?.value).toBe('p');
    expect(bindRequestResilience(plain, {}, 'q')).toBe('p');
    expect(plain.resilience).toBe('q');

    const { make } = expressLike();
    const { req } = make();
    bindRequestResilience(req, { locals: undefined }, 'no-locals');
    expect(Object.getOwnPropertyDescriptor(req, 'resilience')?.value).toBe('no-locals');
  });

  it('assigning req.resilience on a request without res keeps the value as an own property', () => {
    const { make } = expressLike();
    const bound = make();
    bindRequestResilience(bound.req, bound.res, 'installs the accessor');
    const orphan = make().req;
    delete orphan.res;
    orphan.resilience = 'kept';
    expect(orphan.resilience).toBe('kept');
    expect(Object.getOwnPropertyDescriptor(orphan, 'resilience')?.value).toBe('kept');
  });

  it('goes through an accessor someone else defined (another copy of this package) instead of replacing it', () => {
    const { expressRequest, make } = expressLike();
    const theirs = new WeakMap<object, unknown>();
    Object.defineProperty(expressRequest, 'resilience', {
      configurable: true,
      get(this: object) {
        return theirs.get(this);
      },
      set(this: object, v: unknown) {
        theirs.set(this, v);
      },
    });
    const { req, res } = make();
    bindRequestResilience(req, res, 'x');
    expect(theirs.get(req)).toBe('x');
    expect(req.resilience).toBe('x');
    expect(Object.getOwnPropertySymbols(res.locals)).toEqual([]);
  });
});
