import { IncomingMessage } from 'node:http';

const PROPERTY = 'resilience';
/** Where `req.resilience` is kept: `res.locals[SLOT]` (an enumerable symbol: `{ ...res.locals }` keeps it). */
const SLOT = Symbol('llm-resilience.request');

type Locals = Record<symbol, unknown>;
interface ExpressRequestLike {
  resilience?: unknown;
  res?: { locals?: Locals };
}

/** `req.resilience` as an accessor over `req.res.locals[SLOT]`. */
const ACCESSOR: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: ExpressRequestLike): unknown {
    return this.res?.locals?.[SLOT];
  },
  set(this: ExpressRequestLike, value: unknown) {
    const locals = this.res?.locals;
    if (typeof locals === 'object' && locals !== null) locals[SLOT] = value;
    else Object.defineProperty(this, PROPERTY, { value, writable: true, enumerable: true, configurable: true });
  },
};

/** Whether requests with a given prototype have our accessor on their chain. */
const viaAccessor = new WeakMap<object, boolean>();
let lastPrototype: object | null | undefined;
let lastViaAccessor = false;

/**
 * Sets `req.resilience` and returns its previous value, without adding a property to `req`.
 *
 * Express gives every request and response object a hidden class of its own (it swaps their
 * prototype with `Object.setPrototypeOf`), so in V8 each property added to `req` builds a new hidden
 * class, and every property read on it misses the inline caches. valgrind counted about 25 000
 * instructions per request for one added property, some 4% of a bare Express 5 request
 * (`express-rate-limit` pays it for `req.rateLimit`); a `WeakMap` keyed by the request costs twice
 * that in garbage collection once the value refers back to the request.
 *
 * So `resilience` is defined once, as a non-enumerable accessor, on Express's request prototype (the
 * object just above `http.IncomingMessage.prototype`, shared by every app and sub-app of that Express
 * copy, 4 or 5), and the value lives in `res.locals` (a dictionary Express creates for each request)
 * under a private symbol. Reading and assigning `req.resilience` in application code work as for a
 * plain property; `Object.keys(req)` and `{ ...req }` do not list it. Requests without that prototype
 * chain or without `res.locals` (plain objects in tests, other frameworks), or whose chain already
 * defines `resilience` (another copy of this package, the application), get a plain property.
 *
 * @example
 * ```ts
 * const previous = bindRequestResilience(req, res, ctx);
 * if (previous?.counted) validations.doubleCount();
 * ```
 */
export function bindRequestResilience<T>(req: { resilience?: T }, res: { locals?: unknown }, value: T): T | undefined {
  const locals = res.locals as Locals | undefined;
  if (typeof locals === 'object' && locals !== null && usesAccessor(req)) {
    const previous = locals[SLOT] as T | undefined;
    locals[SLOT] = value;
    return previous;
  }
  const previous = req.resilience;
  req.resilience = value;
  return previous;
}

function usesAccessor(req: object): boolean {
  const prototype = Object.getPrototypeOf(req) as object | null;
  if (prototype === lastPrototype) return lastViaAccessor;
  lastPrototype = prototype;
  if (prototype === null) return (lastViaAccessor = false);
  let known = viaAccessor.get(prototype);
  if (known === undefined) viaAccessor.set(prototype, (known = install(prototype)));
  return (lastViaAccessor = known);
}

/** Defines the accessor on the Express request prototype above `prototype`; true when ours is there. */
function install(prototype: object): boolean {
  for (let p: object | null = prototype; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    const existing = Object.getOwnPropertyDescriptor(p, PROPERTY);
    if (existing !== undefined) return existing.get === ACCESSOR.get;
    if (Object.getPrototypeOf(p) === IncomingMessage.prototype) {
      if (!Object.isExtensible(p)) return false;
      Object.defineProperty(p, PROPERTY, ACCESSOR);
      return true;
    }
  }
  return false;
}
