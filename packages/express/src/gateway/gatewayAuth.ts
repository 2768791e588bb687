import type { Request } from 'express';
import { nonStringIdentityField, valueType, type Identity } from '@llm-resilience/core';
import { ExpressConfigError } from '../ExpressConfigError';
import { INVALID_OPTION } from '../optionChecks';
import type { GatewayAuth } from '../types';

/**
 * The client key of a request: `Authorization: Bearer <key>`, else `x-api-key`.
 *
 * @example
 * ```ts
 * clientKeyOf(req); // 'sk-client-1'
 * ```
 */
export function clientKeyOf(req: Request): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim() || undefined;
  }
  const key = req.headers['x-api-key'];
  return typeof key === 'string' && key !== '' ? key : undefined;
}

/**
 * Turns the `auth` option into one lookup: client key -> identity (undefined: reject).
 * A map is copied into a `Map` (no prototype keys such as `__proto__` or `constructor` can match).
 *
 * @example
 * ```ts
 * const lookup = identityLookup({ 'sk-1': { user: 'alice' } });
 * await lookup('sk-1', req); // { user: 'alice' }
 * ```
 */
export function identityLookup(auth: GatewayAuth): (key: string, req: Request) => Identity | undefined | Promise<Identity | undefined> {
  if (typeof auth === 'function') return auth;
  const keys = new Map<string, Identity>(Object.entries(auth));
  return (key) => keys.get(key);
}

/**
 * Checks what an `auth` function returned for a known key: `undefined` (or another falsy value, the
 * key is unknown) and objects whose `user`, `team`, `tenant`, `environment` are strings when set pass
 * through; anything else (`{ user: 42 }` from a key store, a bare string, an array) throws an
 * {@link ExpressConfigError} `ERR_LLMR_EXPRESS_INVALID_OPTION` describing the value by type only.
 * That is the server's mistake, not the client's: the gateway answers it with 500 and logs it, where
 * the engine would otherwise refuse the request as an invalid one (400).
 *
 * @example
 * ```ts
 * checkedAuthResult({ user: 'alice' }); // { user: 'alice' }
 * checkedAuthResult(undefined);         // undefined
 * checkedAuthResult({ user: 42 });      // throws: ... returned an identity whose user is a number; ...
 * ```
 */
export function checkedAuthResult(identity: unknown): Identity | undefined {
  if (!identity) return undefined;
  let wrong: string | undefined;
  if (typeof identity !== 'object' || Array.isArray(identity)) wrong = valueType(identity);
  else {
    const field = nonStringIdentityField(identity);
    if (field !== undefined) wrong = `an identity whose ${field} is ${valueType((identity as Record<string, unknown>)[field])}`;
  }
  if (wrong === undefined) return identity as Identity;
  throw new ExpressConfigError(
    INVALID_OPTION,
    `openAIGateway() auth(key, req) returned ${wrong}; expected undefined or { user?, team?, tenant?, environment? } of strings.`,
  );
}
