/**
 * Public types of `@llm-resilience/express`: every option of {@link resilience}, {@link openAIGateway}
 * and {@link resilienceErrorHandler}, each with its default.
 */
import type { NextFunction, Request, Response } from 'express';
import type {
  Identity,
  LimitContext,
  LimitMetric,
  Logger,
  Resilience,
  ScopeDimension,
  UsageAmounts,
} from '@llm-resilience/core';
import type { RateLimitExceededError } from '@llm-resilience/core';
import type { RequestResilience } from './RequestResilience';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /**
       * Set by the `resilience()` middleware: runs LLM calls through the shared engine with this
       * request's identity, priority and a signal that aborts when the client disconnects.
       * Undefined on requests that did not pass through `resilience()`. An accessor over
       * `res.locals` (see docs/express.md, "req.resilience"): add to `res.locals`, do not replace it.
       *
       * @example
       * ```ts
       * app.post('/chat', async (req, res) => {
       *   const { value } = await req.resilience.execute('support_reply', (t, ctx) => callModel(t, ctx));
       *   res.json(value);
       * });
       * ```
       */
      resilience: RequestResilience;
    }
  }
}

/**
 * Who reads failure messages: your own team (specific) or customers (calm, no provider names).
 *
 * @example
 * ```ts
 * const audience: Audience = 'customer';
 * ```
 */
export type Audience = 'internal' | 'customer';

/**
 * A duration: milliseconds, or a string like `'500ms'`, `'1s'`, `'1m'`, `'1h'`, `'1d'`.
 *
 * @example
 * ```ts
 * const window: WindowDuration = '1m';
 * ```
 */
export type WindowDuration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

/**
 * Which IETF `RateLimit` header draft to send (the same choice as express-rate-limit's
 * `standardHeaders`):
 *
 * - `draft-6`: `RateLimit-Policy`, `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`;
 * - `draft-7`: `RateLimit-Policy` and one combined `RateLimit: limit=.., remaining=.., reset=..`;
 * - `draft-8`: named policies, one list member per rule: `RateLimit: "user-rpm";r=19;t=60` and
 *   `RateLimit-Policy: "user-rpm";q=20;w=60;pk=:…:`.
 *
 * @example
 * ```ts
 * const draft: StandardHeadersDraft = 'draft-8';
 * ```
 */
export type StandardHeadersDraft = 'draft-6' | 'draft-7' | 'draft-8';

/**
 * An inbound limit checked by the middleware before the handler runs, in the policy's syntax.
 * Scope dimensions come from the request: `user`/`team`/`tenant`/`environment` from `identity(req)`,
 * `route` from `routeFor(req)` (or `route`). `provider` and `model` are not known inbound and are
 * rejected at start-up.
 *
 * `requests` and `concurrency` rules count the HTTP request. Token and cost rules reserve
 * `estimate(req)` (default: 1 input and 1 output token, so 2 for a `totalTokens` rule, and $0.000001 —
 * "is there budget left?") and are settled, when the response ends, with the real usage of the LLM
 * calls made through `req.resilience.execute`.
 *
 * @example
 * ```ts
 * const rules: InboundLimitRule[] = [
 *   { id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 20, window: '1m' },
 *   { id: 'team-tokens', scope: ['team'], metric: 'totalTokens', limit: 500_000, window: '1h' },
 * ];
 * ```
 */
export interface InboundLimitRule {
  /** Name in headers and errors. Default `` `${scope.join('+') || 'global'}:${metric}:${window}` ``. */
  id?: string;
  scope: Array<Exclude<ScopeDimension, 'provider' | 'model'>>;
  metric: LimitMetric;
  limit: number;
  /** Required for every metric but `concurrency`; between 1 s and 1 day. */
  window?: WindowDuration;
  /**
   * Bucket capacity. Default `limit`. The `RateLimit` headers and `req.resilience.limits` still name
   * `limit` per window as the quota, with `remaining` at most `limit`.
   */
  burst?: number;
  /** Only apply when these dimensions have these values. */
  match?: Partial<Record<Exclude<ScopeDimension, 'provider' | 'model'>, string>>;
}

/**
 * One inbound limit as it stands after this request (what the `RateLimit` headers show).
 *
 * @example
 * ```ts
 * req.resilience.limits?.forEach((l) => console.log(l.id, l.remaining, l.resetMs));
 * ```
 */
export interface InboundLimitStatus {
  id: string;
  metric: LimitMetric;
  /** Units per window (or in flight, for `concurrency`). */
  limit: number;
  /** Window in ms (0 for `concurrency`). */
  windowMs: number;
  /**
   * Units that could still be used right now, at most `limit`: a rule whose `burst` is above its
   * `limit` may hold more, but the quota named is `limit` per window.
   */
  remaining: number;
  /** Milliseconds until `limit` units (the quota) are back: with a `burst` above `limit`, before the bucket is full. */
  resetMs: number;
  /** The store key (rule id and scope values); used for the draft-8 partition key. */
  key: string;
}

/**
 * What `onLimited` receives when an inbound limit denies a request.
 *
 * @example
 * ```ts
 * onLimited: (req, res, next, info) => res.status(429).json({ message: info.message, retryIn: info.retryAfterMs })
 * ```
 */
export interface LimitedInfo {
  /** Id of the rule that denied. */
  ruleId: string;
  metric: LimitMetric;
  limit: number;
  windowMs: number;
  /** When the request could pass; `Infinity` when it never can under this rule. */
  retryAfterMs: number;
  /** The rule's scope values for this request (may contain user ids: do not show them to others). */
  scope: LimitContext;
  /** The audience-appropriate message (never provider names or quota numbers for customers). */
  message: string;
  /** The error, for logging or `next(err)`. */
  error: RateLimitExceededError;
  /** The denying rule as the headers report it (remaining 0). */
  status: InboundLimitStatus;
}

/**
 * Switchable start-up checks. `true`/`false` turns all of them on or off; an object sets single
 * checks (`default` applies to the ones not named). Each check warns once, with a code and a link
 * to `docs/express.md#<code>`.
 *
 * | check | code | fires when |
 * |---|---|---|
 * | `xForwardedFor` | `ERR_LLMR_EXPRESS_UNEXPECTED_X_FORWARDED_FOR` | `X-Forwarded-For` is present but `trust proxy` is false and the identity uses the IP |
 * | `trustProxy` | `ERR_LLMR_EXPRESS_PERMISSIVE_TRUST_PROXY` | `trust proxy` is `true` (anyone can spoof their IP) and the identity uses the IP |
 * | `ip` | `ERR_LLMR_EXPRESS_UNDEFINED_IP` | the default identity met a request without `req.ip` |
 * | `identity` | `ERR_LLMR_EXPRESS_UNDEFINED_IDENTITY` | `identity(req)` returned undefined or an identity without values |
 * | `limitScope` | `ERR_LLMR_EXPRESS_LIMIT_SCOPE_UNDEFINED` | a limit's scope dimension has no value for a request, so the limit did not apply |
 * | `doubleCount` | `ERR_LLMR_EXPRESS_DOUBLE_COUNT` | two `resilience()` middlewares with limits ran on one request |
 * | `estimate` | `ERR_LLMR_EXPRESS_INVALID_ESTIMATE` | `estimate(req)` gave a field that is not a finite number >= 0 (the default was reserved for it) |
 * | `creationStack` | `ERR_LLMR_EXPRESS_CREATED_IN_REQUEST_HANDLER` | `resilience()` was called inside a request handler |
 * | `unknownOptions` | `ERR_LLMR_EXPRESS_UNKNOWN_OPTION` | an option name is not known (a typo) |
 *
 * @example
 * ```ts
 * resilience({ engine, validations: { xForwardedFor: false } });
 * ```
 */
export interface ValidationsConfig {
  /** Value for checks not named. Default `true`. */
  default?: boolean;
  xForwardedFor?: boolean;
  trustProxy?: boolean;
  ip?: boolean;
  identity?: boolean;
  limitScope?: boolean;
  doubleCount?: boolean;
  estimate?: boolean;
  creationStack?: boolean;
  unknownOptions?: boolean;
}

/**
 * Options of the {@link resilience} middleware.
 *
 * @example
 * ```ts
 * app.use(resilience({
 *   engine,
 *   identity: (req) => ({ user: req.get('x-user-id'), team: req.get('x-team-id') }),
 *   routeFor: (req) => (req.path.startsWith('/chat') ? 'support_reply' : undefined),
 *   limits: [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 20, window: '1m' }],
 *   standardHeaders: 'draft-7',
 * }));
 * ```
 */
export interface ResilienceMiddlewareOptions {
  /** The shared engine (`createResilience(policy)`). Required. */
  engine: Resilience;
  /**
   * Who the request is for. Keys inbound limits and is passed to every `req.resilience.execute`.
   * Default: `{ user: ipKey(req.ip) }`: the client IP, an IPv6 one by its /64 prefix (then configure
   * Express's `trust proxy` behind a proxy).
   */
  identity?: (req: Request) => Identity | undefined;
  /** Route name used for the `route` dimension of inbound limits and as the audience source. Default none. */
  route?: string;
  /** Route per request (wins over `route`). Default: `route`. */
  routeFor?: (req: Request) => string | undefined;
  /** Traffic class per request (`live`, `batch`, ...). Default: each route's own priority. */
  priority?: (req: Request) => string | undefined;
  /**
   * Who reads 429 messages. Default: the audience of `route`/`routeFor(req)` in the policy, else
   * `'customer'`. A function's answer other than `'customer'` or `'internal'` (undefined, a typo)
   * counts as no answer: the default applies (for `execute`, the audience of the route called).
   */
  audience?: Audience | ((req: Request) => Audience);
  /** Inbound limits, reserved on the engine's store before the handler runs. Default none. */
  limits?: InboundLimitRule[];
  /**
   * Message of the 429 sent when an inbound limit denies, per audience. Default: customer
   * `'You are sending requests too quickly. Please wait a moment and try again.'`; internal names
   * the rule and the wait. Not used for the 413 of a request a rule can never let through (worded
   * as too large).
   */
  limitMessages?: Partial<Record<Audience, string>>;
  /** Reservation for token and cost rules per request. Default `{ inputTokens: 1, outputTokens: 1, costUsd: 0.000001 }`. */
  estimate?: (req: Request) => Partial<UsageAmounts>;
  /** Which `RateLimit` header draft to send, or `false` for none. Default `'draft-7'`. */
  standardHeaders?: StandardHeadersDraft | false;
  /** Also send `X-RateLimit-Limit/Remaining/Reset`. Default `false`. */
  legacyHeaders?: boolean;
  /** Start-up checks (see {@link ValidationsConfig}). Default `true`. */
  validations?: boolean | ValidationsConfig;
  /**
   * Replaces the 429 response when an inbound limit denies. Headers (`RateLimit`, `Retry-After`)
   * are already set. Default (`sendLimited`): status 429 and
   * `{ error: { type: 'rate_limited', code, message, retry_after_ms } }`; 413 without `Retry-After`
   * or `retry_after_ms` when the request can never pass (`info.retryAfterMs` is `Infinity`).
   */
  onLimited?: (req: Request, res: Response, next: NextFunction, info: LimitedInfo) => void;
  /**
   * Receives validation warnings; must have a `warn` function (checked at start-up). Default:
   * `process.emitWarning(message, { code })`.
   */
  logger?: Pick<Logger, 'warn'>;
  /** Request id per request, passed to the engine (records, logs). Default: generated by the engine. */
  requestId?: (req: Request) => string | undefined;
}

/**
 * Options of {@link resilienceErrorHandler}.
 *
 * @example
 * ```ts
 * app.use(resilienceErrorHandler({ audience: 'customer', onError: (err, req) => log.warn({ err }) }));
 * ```
 */
export interface ErrorHandlerOptions {
  /** Engine whose policy messages are used when `req.resilience` is absent. Default: `req.resilience.engine`. */
  engine?: Resilience;
  /** Who reads the message when the error does not carry one. Default: `req.resilience.audience`, else `'customer'`. */
  audience?: Audience;
  /** Called for every error the handler answers (for logging). Default none. */
  onError?: (err: unknown, req: Request) => void;
}

/**
 * An upstream the gateway forwards to. Keys never leave the server.
 *
 * - `openai`: any OpenAI-compatible `POST {baseURL}/chat/completions` (OpenAI, Azure-compatible
 *   proxies, vLLM, the fake provider's `baseURL`);
 * - `anthropic`: `POST {baseURL}/messages` (Anthropic's `https://api.anthropic.com/v1`), translated
 *   from and to the OpenAI chat format, streaming included.
 *
 * @example
 * ```ts
 * const upstreams: Record<string, UpstreamConfig> = {
 *   openai: { kind: 'openai', baseURL: 'https://api.openai.com/v1', apiKey: process.env.OPENAI_API_KEY },
 *   anthropic: { kind: 'anthropic', baseURL: 'https://api.anthropic.com/v1', apiKey: process.env.ANTHROPIC_API_KEY },
 * };
 * ```
 */
export interface UpstreamConfig {
  kind: 'openai' | 'anthropic';
  /** Base URL including the version segment (`…/v1`); http(s), without credentials (`user:password@` is refused at start-up). */
  baseURL: string;
  /** Sent as `Authorization: Bearer` (openai) or `x-api-key` (anthropic). Default none. */
  apiKey?: string;
  /** Extra headers on every upstream request. Default none. */
  headers?: Record<string, string>;
  /** `anthropic-version` header. Default `'2023-06-01'`. */
  anthropicVersion?: string;
}

/**
 * Client authentication of the gateway: a map from client API key to identity, or a function
 * (return undefined to reject). Clients send `Authorization: Bearer <key>` (or `x-api-key`).
 * Each identity of a map is an object with at least one of `user`, `team`, `tenant`, `environment`
 * (strings), checked at start-up. A function's result is checked on each request: an identity that
 * is not an object, or has a field that is not a string (`{ user: 42 }`), is a server fault answered
 * with 500 `ERR_LLMR_EXPRESS_GATEWAY_FAILED` and logged, like a function that throws.
 *
 * @example
 * ```ts
 * const auth: GatewayAuth = { 'sk-team-a-123': { user: 'alice', team: 'a', tenant: 'acme' } };
 * const lookup: GatewayAuth = async (key) => db.apiKeys.identityFor(key);
 * ```
 */
export type GatewayAuth =
  | Record<string, Identity>
  | ((apiKey: string, req: Request) => Identity | undefined | Promise<Identity | undefined>);

/**
 * Options of {@link openAIGateway}.
 *
 * @example
 * ```ts
 * app.use(openAIGateway({
 *   engine,
 *   upstreams: { openai: { kind: 'openai', baseURL: 'https://api.openai.com/v1', apiKey: process.env.OPENAI_API_KEY } },
 *   auth: { 'sk-client-1': { user: 'alice', team: 'support' } },
 *   models: { support: 'support_reply' },
 * }));
 * ```
 */
export interface OpenAIGatewayOptions {
  engine: Resilience;
  /** Upstream per target provider (`target.meta.upstream` overrides the provider name). */
  upstreams: Record<string, UpstreamConfig>;
  auth: GatewayAuth;
  /** Model alias -> route. A request whose `model` names a route directly works too. Default `{}`. */
  models?: Record<string, string>;
  /** Serve routes by their own name (and list them in `/v1/models`). Default `true`. */
  exposeRoutes?: boolean;
  /** Path prefix of the endpoints: `''` or `/`-separated segments of letters, digits, `.`, `_`, `~`, `-`, `%`. Default `'/v1'`. */
  prefix?: string;
  /** Traffic class per request. Default: the route's. */
  priority?: (req: Request, identity: Identity) => string | undefined;
  /** Data class per request (fallbacks never cross it). Default none. */
  dataClass?: (req: Request, identity: Identity) => string | undefined;
  /** Who reads error messages. Default: each route's audience. */
  audience?: Audience;
  /** Largest JSON body: bytes (> 0) or a size such as `'100kb'`. Default `'4mb'`. */
  bodyLimit?: string | number;
  /**
   * `fetch` used for upstream calls. Default `globalThis.fetch`. Called with `redirect: 'manual'`: a
   * 3xx answer fails the attempt (`ERR_LLMR_EXPRESS_UPSTREAM_REDIRECT`), never followed.
   */
  fetch?: typeof fetch;
  /**
   * Largest upstream reply the gateway reads: bytes (a whole number >= 1) or a size such as `'16mb'`
   * (units of 1024, as for `bodyLimit`). Checked at start-up; there is no "off" (pass a larger size).
   *
   * - A 2xx non-streaming body longer than this (counted after decompression) is not read further:
   *   the upstream body is cancelled, which closes its connection, and the attempt fails as a reply
   *   that is not one (`UpstreamReplyError`, `ERR_LLMR_EXPRESS_UPSTREAM_BAD_REPLY`, kind `network`),
   *   so the engine retries or falls back, and the client gets the usual error when no target is left.
   * - In a stream it bounds each single event (one line, or one event's lines, without their end),
   *   in characters, each line counting 33 more than its length (its line end and what keeping it
   *   costs, so that endless short lines hold no more memory than the bound says), not the stream:
   *   an event that grows past it breaks the stream like a cut (`ERR_LLMR_EXPRESS_STREAM_BROKEN`).
   * - A non-2xx error body is read up to it, and never more than 1 MiB.
   *
   * Default `'64mb'`. A long text reply is well under 1 MB; the largest legitimate ones stay below
   * the default: a 32 768-token reply with `top_logprobs: 20` on every token is about 45 MB, base64
   * audio or images a few MB each. What goes past it is a misbehaving proxy or a `baseURL` pointing
   * at something that is not a model, which would otherwise be buffered whole in memory. Lower it to
   * bound the memory of each reply in flight more tightly (a reply is held as bytes, then text, then
   * parsed: a few times its size).
   */
  upstreamBodyLimit?: string | number;
  /**
   * Longest silence of an upstream stream after its first token (measured on the engine's clock): any
   * event or SSE comment restarts it (an Anthropic `ping`, a `: keep-alive`), not only a chunk of
   * output; a stalled stream then ends with an error event. `0` disables it; at most
   * `2_147_483_647` (Node's longest timer). Default `60_000`.
   */
  streamIdleTimeoutMs?: number;
  /**
   * Receives the gateway's own failures, the ones clients get as 500
   * `ERR_LLMR_EXPRESS_GATEWAY_FAILED` (an `auth` function that throws or rejects, a bug): a message
   * and `{ code, stage, error, errorCode?, stack? }` (the error's class, its `code`, its call sites;
   * never its message, which may hold connection strings or keys).
   * Its `warn` receives, once per gateway, `ERR_LLMR_EXPRESS_GATEWAY_BODY_ALREADY_PARSED`: a body
   * parser mounted before the gateway read a request first, so its limit replaced `bodyLimit`.
   * Default (and `warn` when the logger has none): `process.emitWarning(message, { code })`.
   */
  logger?: Pick<Logger, 'error' | 'warn'>;
}
