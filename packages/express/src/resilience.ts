import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { isPromise } from './isPromise';
import { messageKindOf, nonStringIdentityField, RateLimitExceededError, type Identity, type LimitContext, type LimitDecision, type LimitDenied, type Reservation, type UsageAmounts } from '@llm-resilience/core';
import { checkResilienceOptions } from './checkResilienceOptions';
import { ExpressConfigError } from './ExpressConfigError';
import { INVALID_OPTION, typeOf } from './optionChecks';
import { DEFAULT_INBOUND_ESTIMATE, InboundLimits } from './InboundLimits';
import { ipKey } from './ipKey';
import { inboundDenialMessage } from './messages';
import { setRateLimitHeaders, setReservationHeaders, setRetryAfter } from './rateLimitHeaders';
import { bindRequestResilience } from './requestProperty';
import { RequestResilience, type AudienceSource } from './RequestResilience';
import type { LimitedInfo, ResilienceMiddlewareOptions, StandardHeadersDraft } from './types';
import { Validations } from './Validations';

const KNOWN_OPTIONS = [
  'engine',
  'identity',
  'route',
  'routeFor',
  'priority',
  'audience',
  'limits',
  'limitMessages',
  'estimate',
  'standardHeaders',
  'legacyHeaders',
  'validations',
  'onLimited',
  'logger',
  'requestId',
] as const;

/**
 * The default identity: the client IP as the user (mind `trust proxy`), an IPv6 address by its /64
 * prefix (see {@link ipKey}).
 */
const ipIdentity = (req: Request): Identity | undefined => (req.ip === undefined ? undefined : { user: ipKey(req.ip) });

/** True when an identity function reads the IP (then the proxy checks matter). */
function readsIp(fn: (req: Request) => unknown): boolean {
  return /\.ips?\b|\bip\b/.test(Function.prototype.toString.call(fn));
}

/**
 * The default answer when an inbound limit denies: status 429 and
 * `{ error: { type: 'rate_limited', code, message, retry_after_ms } }`. A denial no wait ends
 * (`info.retryAfterMs` is `Infinity`: the request alone exceeds the rule's capacity, such as a token
 * rule smaller than its estimate) gets 413 and `{ error: { type: 'rate_limited', code, message } }`
 * without `Retry-After`, as `resilienceErrorHandler` answers such a denial (core's `httpErrorOf`), so
 * clients do not retry it forever.
 *
 * @example
 * ```ts
 * resilience({ engine, limits, onLimited: (req, res, next, info) => { metrics.limited.inc(); sendLimited(req, res, next, info); } });
 * ```
 */
export function sendLimited(_req: Request, res: Response, _next: NextFunction, info: LimitedInfo): void {
  if (res.headersSent) return;
  if (messageKindOf('rate_limited', info.retryAfterMs) === 'too_large') {
    // The middleware sets it only for a finite wait; an onLimited may have set one before calling this.
    res.removeHeader('Retry-After');
    res.status(413).json({ error: { type: 'rate_limited', code: info.error.code, message: info.message } });
    return;
  }
  res.status(429).json({
    error: {
      type: 'rate_limited',
      code: info.error.code,
      message: info.message,
      retry_after_ms: Math.ceil(info.retryAfterMs),
    },
  });
}

/**
 * Express middleware (Express 5 and 4) that binds the shared engine to each request:
 *
 * - `req.resilience.execute(route, call)` runs LLM calls with the request's identity and priority,
 *   and aborts them when the client disconnects;
 * - optional inbound limits (requests, concurrency, tokens, cost per user/team/tenant/route) are
 *   reserved on the engine's store before the handler runs, with `RateLimit` headers in the chosen
 *   IETF draft, `Retry-After` and a 429 JSON body carrying the audience-appropriate message (413
 *   without `Retry-After`, worded as too large, when the request can never pass a rule);
 * - misconfiguration is reported at start-up (thrown) or on the first request that shows it
 *   (warned once, code `ERR_LLMR_EXPRESS_*`, link to docs/express.md).
 *
 * @example
 * ```ts
 * app.use(resilience({
 *   engine,
 *   identity: (req) => ({ user: req.get('x-user-id'), team: req.get('x-team-id') }),
 *   route: 'support_reply',
 *   limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 20, window: '1m' }],
 * }));
 * app.post('/chat', async (req, res) => res.json((await req.resilience.execute('support_reply', callModel)).value));
 * app.use(resilienceErrorHandler());
 * ```
 */
export function resilience(options: ResilienceMiddlewareOptions): RequestHandler {
  if (typeof options !== 'object' || options === null) {
    throw new ExpressConfigError('ERR_LLMR_EXPRESS_NO_ENGINE', 'resilience(options) needs an options object with at least { engine }.');
  }
  const engine = options.engine;
  if (typeof engine?.execute !== 'function' || typeof engine.policy !== 'object') {
    throw new ExpressConfigError(
      'ERR_LLMR_EXPRESS_NO_ENGINE',
      `resilience() needs options.engine, the engine from createResilience(policy); got ${engine === undefined ? 'undefined' : typeof engine}.`,
    );
  }
  checkResilienceOptions(options, engine);
  const validations = new Validations(options.validations, options.logger);
  validations.unknownOptions(options, KNOWN_OPTIONS, 'resilience()');
  validations.creationStack('resilience()');

  const draft: StandardHeadersDraft | false = options.standardHeaders ?? 'draft-7';
  const legacy = options.legacyHeaders ?? false;
  const inbound = options.limits && options.limits.length > 0 ? new InboundLimits(options.limits, engine.store, engine.clock) : undefined;
  const identityOf = options.identity ?? ipIdentity;
  const checkProxy = options.identity === undefined || readsIp(options.identity);
  const routeFor = options.routeFor;
  const defaultRoute = options.route;
  const priorityOf = options.priority;
  const requestIdOf = options.requestId;
  const estimateOf = options.estimate;
  const audienceSource: AudienceSource = options.audience;
  const onLimited = options.onLimited ?? sendLimited;
  const limitMessages = options.limitMessages;

  const limited = (req: Request, res: Response, next: NextFunction, ctx: RequestResilience, denied: LimitDenied): void => {
    const status = inbound!.statusOfDenial(denied);
    const error = RateLimitExceededError.fromDenial(denied);
    const info: LimitedInfo = {
      ruleId: status.id,
      metric: status.metric,
      limit: status.limit,
      windowMs: status.windowMs,
      retryAfterMs: denied.retryAfterMs,
      scope: denied.scope,
      message: inboundDenialMessage(ctx.audience, status.id, denied.retryAfterMs, limitMessages, engine, ctx.route),
      error,
      status,
    };
    setRateLimitHeaders(res, draft, legacy, [status]);
    setRetryAfter(res, denied.retryAfterMs);
    onLimited(req, res, next, info);
  };

  const admitted = (req: Request, res: Response, next: NextFunction, ctx: RequestResilience, lctx: LimitContext, d: LimitDecision): void => {
    if (!d.ok) return limited(req, res, next, ctx, d);
    if (res.closed || res.destroyed) {
      // The client left while an asynchronous store (Redis) was deciding: its `close` has fired, so no
      // listener would ever free the slot. Nothing ran: give everything back, and do not run the handler.
      const done = d.fail('release');
      if (isPromise(done)) done.catch(() => undefined);
      return;
    }
    ctx.holdLimits(inbound!, d);
    if (draft !== false || legacy) setReservationHeaders(res, draft, legacy, d, inbound!);
    if (inbound!.needsSettle) settleOnClose(res, ctx, d, inbound!, lctx);
    next();
  };

  return function resilienceMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (checkProxy) validations.proxy(req);
    let identity: Identity | undefined;
    let route: string | undefined;
    let priority: string | undefined;
    let requestId: string | undefined;
    try {
      identity = identityOf(req);
      route = routeFor ? (routeFor(req) ?? defaultRoute) : defaultRoute;
      priority = priorityOf?.(req);
      requestId = requestIdOf?.(req);
    } catch (err) {
      return next(err);
    }
    const wrong = identityFieldProblem(identity);
    if (wrong !== undefined) {
      // `{ user: req.user }` would count every caller in one bucket ("[object Object]"): a server fault.
      return next(new ExpressConfigError(INVALID_OPTION, `resilience(): identity(req) returned ${wrong}; expected undefined or { user?, team?, tenant?, environment? } of strings.`));
    }
    // A traffic class or request id that is not a string would reach the engine, which rejects the call
    // as the client's invalid_request (400): it is the server's fault (as the gateway treats priority).
    const wrongName = nameProblem(priority, 'priority', 'a traffic class of the policy') ?? nameProblem(requestId, 'requestId', 'a request id');
    if (wrongName !== undefined) return next(new ExpressConfigError(INVALID_OPTION, `resilience(): ${wrongName}`));
    if (validations.on('identity')) validations.identity(identity);
    const ctx = new RequestResilience(engine, req, res, identity, route, priority, audienceSource, requestId);
    const previous = bindRequestResilience<RequestResilience>(req, res, ctx);
    // A resilience() before this one on the request (the app's, this one on a router): the calls made
    // through this ctx are the ones it settles its limits with, so they go on its call list too.
    if (previous instanceof RequestResilience) ctx.continueFrom(previous);
    if (inbound === undefined) return next();

    if (previous?.counted === true) validations.doubleCount();
    ctx.counted = true;
    const lctx: LimitContext = {};
    if (identity) {
      if (identity.user !== undefined && identity.user !== '') lctx.user = identity.user;
      if (identity.team !== undefined && identity.team !== '') lctx.team = identity.team;
      if (identity.tenant !== undefined && identity.tenant !== '') lctx.tenant = identity.tenant;
      if (identity.environment !== undefined && identity.environment !== '') lctx.environment = identity.environment;
    }
    if (route !== undefined) lctx.route = route;
    if (validations.on('limitScope')) {
      for (const rule of inbound.rules) {
        for (const dim of rule.scope) {
          if (lctx[dim] !== undefined) continue;
          validations.limitScope(InboundLimits.idOf(rule), dim);
          break;
        }
      }
    }
    let decision: LimitDecision | Promise<LimitDecision>;
    try {
      const estimate: UsageAmounts = estimateOf ? inboundEstimate(estimateOf(req), validations) : DEFAULT_INBOUND_ESTIMATE;
      decision = inbound.reserve(lctx, estimate);
    } catch (err) {
      return next(err);
    }
    if (isPromise(decision)) {
      decision.then((d) => admitted(req, res, next, ctx, lctx, d)).catch(next);
    } else {
      admitted(req, res, next, ctx, lctx, decision);
    }
  };
}

/**
 * Token, cost and concurrency rules: charge real usage (and free the slot) when the response has
 * ended and so have the calls made through `req.resilience.execute` (a stream whose client left is
 * failed with what it used after the response closed). A call started after that (a handler that
 * answered 202 and works afterwards) is charged to the token and cost rules on its own when it ends.
 */
function settleOnClose(res: Response, ctx: RequestResilience, reservation: Reservation, inbound: InboundLimits, lctx: LimitContext): void {
  // The tracker, not ctx: what waits for the calls must not keep the request (its signal's listeners
  // may hold a stream's result, which must stay collectable; see RequestResilience.execute).
  const calls = ctx.tracker;
  const guarded = (fn: () => void | Promise<void>): void => {
    try {
      const done = fn();
      if (isPromise(done)) done.catch(() => undefined);
    } catch {
      // A store failure must not crash the server after the response; the bucket refills by itself.
    }
  };
  const settle = (): void => {
    // A call may have started between the last one ending and now: wait for it too, so that every
    // call ending after the settlement started after it (and is charged on its own).
    const ended = calls.allEnded();
    if (ended !== undefined) return void ended.then(settle);
    guarded(() => reservation.settle(calls.usage()));
    calls.onLateCall((usage) => guarded(() => inbound.charge(lctx, usage)));
  };
  res.once('close', settle);
}

/**
 * The estimate `estimate(req)` gives, each field it leaves out (or gives as `undefined`: the
 * `req.body.max_tokens` of a request without one) taken from the default. A field that is not a finite
 * number >= 0 gets the default too, with the `estimate` check's warning: it is most likely a client's
 * value passed on unchecked, and must not fail the request.
 *
 * A field below the default (0 from a client's `max_tokens: 0`) is raised to it: 1 token, $0.000001.
 * The limiter does not check a rule whose estimate is 0 (it only charges it at settle), so an
 * over-budget team would be let in for as long as its clients sent 0.
 */
function inboundEstimate(given: Partial<UsageAmounts> | undefined, validations: Validations): UsageAmounts {
  const field = (name: keyof UsageAmounts): number => {
    const v: unknown = given?.[name];
    const least = DEFAULT_INBOUND_ESTIMATE[name];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v < least ? least : v;
    if (v !== undefined) validations.estimate(name, v, least);
    return least;
  };
  return { inputTokens: field('inputTokens'), outputTokens: field('outputTokens'), costUsd: field('costUsd') };
}

/** What is wrong with an identity's fields, by type only (they are user ids); undefined when each is a string or absent. */
function identityFieldProblem(identity: Identity | undefined): string | undefined {
  if (identity === undefined || identity === null) return undefined;
  if (typeof identity !== 'object') return typeOf(identity);
  const field = nonStringIdentityField(identity);
  return field === undefined ? undefined : `an identity whose ${field} is ${typeOf(identity[field])}`;
}

/** What is wrong with a `priority(req)` or `requestId(req)` result, by type only; undefined when it is a string or undefined. */
function nameProblem(value: unknown, option: 'priority' | 'requestId', expected: string): string | undefined {
  if (value === undefined || typeof value === 'string') return undefined;
  return `${option}(req) returned ${typeOf(value)}; expected ${expected} (a string) or undefined.`;
}
