import type { Request } from 'express';
import type { Identity } from '@llm-resilience/core';
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
