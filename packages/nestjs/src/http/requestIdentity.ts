import type { Identity } from '@llm-resilience/core';
import type { ExecutionContext } from '@nestjs/common';
import type { ResilienceModuleOptions } from '../types';

function str(v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/**
 * The default identity of an HTTP request: `req.user.id` (or `sub`, `userId`) with `req.user.team`
 * (or `teamId`) and `req.user.tenant` (or `tenantId`), as Passport-style auth leaves them; without
 * an authenticated user, the client IP as user.
 *
 * @example
 * ```ts
 * defaultIdentity({ user: { id: 'u1', tenant: 'acme' } }); // { user: 'u1', tenant: 'acme' }
 * defaultIdentity({ ip: '10.0.0.7' });                      // { user: '10.0.0.7' }
 * ```
 */
export function defaultIdentity(req: unknown): Identity | undefined {
  if (typeof req !== 'object' || req === null) return undefined;
  const r = req as { user?: Record<string, unknown>; ip?: unknown };
  const out: Identity = {};
  const u = r.user;
  if (typeof u === 'object' && u !== null) {
    const user = str(u.id) ?? str(u.sub) ?? str(u.userId);
    const team = str(u.team) ?? str(u.teamId);
    const tenant = str(u.tenant) ?? str(u.tenantId);
    if (user !== undefined) out.user = user;
    if (team !== undefined) out.team = team;
    if (tenant !== undefined) out.tenant = tenant;
  }
  if (out.user === undefined) {
    const ip = str(r.ip);
    if (ip !== undefined) out.user = ip;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Names, for messages, the function that gave a request its identity: a subclass's overridden
 * `getIdentity` (of a guard or interceptor), else the module's `identity(context)`, else
 * {@link defaultIdentity}; with the handler the request was for.
 *
 * @example
 * ```ts
 * identitySource(context, this, this.getIdentity !== ResilienceGuard.prototype.getIdentity, this.options);
 * // 'ResilienceModule identity(context), for a request to ChatController.ask,'
 * ```
 */
export function identitySource(context: ExecutionContext, owner: object, overridden: boolean, options: ResilienceModuleOptions): string {
  const fn = overridden
    ? `${(owner as { constructor: { name: string } }).constructor.name}.getIdentity(context)`
    : options.identity
      ? 'ResilienceModule identity(context)'
      : 'defaultIdentity(req)';
  return `${fn}, for a request to ${context.getClass().name}.${context.getHandler().name},`;
}
