import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import {
  classifyError,
  type ChatMessage,
  type ExecuteResult,
  type Identity,
  type Resilience,
  type ResilienceRequest,
  type ResolvedTarget,
  type StreamingResult,
  type Usage,
  unfinishedUsage,
  valueType,
} from '@llm-resilience/core';
import { disconnectSignal } from '../disconnectSignal';
import { ExpressConfigError } from '../ExpressConfigError';
import { httpErrorOf, httpMessageKind } from '@llm-resilience/core';
import { messageFor, streamInterruptedMessage } from '../messages';
import { setRetryAfter } from '../rateLimitHeaders';
import { setShouldRetry } from '../shouldRetry';
import { helpLink } from '../helpLink';
import { hasRoute } from '../optionChecks';
import type { Audience, OpenAIGatewayOptions, UpstreamConfig } from '../types';
import { Validations } from '../Validations';
import { toAnthropicRequest } from './anthropicTranslate';
import { bodyErrorAnswer, GATEWAY_FAILED, gatewayFailedAnswer, type ErrorAnswer } from './bodyErrorAnswer';
import { parseByteSize } from './byteSize';
import { ChatRequestError } from './ChatRequestError';
import { isObject, type ChatChunk, type ChatRequestBody, type ChatUsage } from './chatTypes';
import { assertChatMessages } from './checkChatMessages';
import { checkGatewayOptions, fail } from './checkGatewayOptions';
import { defaultGatewayLogger, failureFields } from './failureFields';
import { checkedAuthResult, clientKeyOf, identityLookup } from './gatewayAuth';
import { openAIErrorBody, openAITypeForStatus } from './openAIErrorBody';
import { assertJsonDepth } from './jsonDepth';
import { formatSse } from './sse';
import { StreamIdleError, UpstreamStreamError } from './UpstreamError';
import { completeUpstream, openUpstreamStream, type OpenedStream, type UpstreamCall } from './upstreamCall';

const KNOWN_OPTIONS = ['engine', 'upstreams', 'auth', 'models', 'exposeRoutes', 'prefix', 'priority', 'dataClass', 'audience', 'bodyLimit', 'upstreamBodyLimit', 'fetch', 'streamIdleTimeoutMs', 'logger'];
const DEFAULT_STREAM_IDLE_MS = 60_000;
/** Code of the warning logged (once per gateway) when another body parser read a request before it. */
const BODY_ALREADY_PARSED = 'ERR_LLMR_EXPRESS_GATEWAY_BODY_ALREADY_PARSED';
/** See `upstreamBodyLimit` in `types.ts` for why 64 MiB. */
const DEFAULT_UPSTREAM_BODY_LIMIT = '64mb';

/**
 * Response header naming the target that served a reply (its id in the policy; never keys).
 *
 * @example
 * ```ts
 * const { response } = await client.chat.completions.create(params).withResponse();
 * response.headers.get(TARGET_HEADER); // 'fast-b' after a fallback
 * ```
 */
export const TARGET_HEADER = 'x-llm-resilience-target';
/**
 * Response header with the number of attempts the engine made (retries and fallbacks included).
 *
 * @example
 * ```ts
 * Number(response.headers.get(ATTEMPTS_HEADER)); // 2
 * ```
 */
export const ATTEMPTS_HEADER = 'x-llm-resilience-attempts';
/**
 * Response header with the engine's request id (the `request_id` of its record).
 *
 * @example
 * ```ts
 * log.info({ requestId: response.headers.get(REQUEST_ID_HEADER) });
 * ```
 */
export const REQUEST_ID_HEADER = 'x-llm-resilience-request-id';

/**
 * The upstream name of a target: `target.meta.upstream` when set, else its provider.
 *
 * @example
 * ```ts
 * upstreamNameOf(policy.targets['fast-a']); // 'openai'
 * ```
 */
export function upstreamNameOf(target: ResolvedTarget): string {
  const u = target.meta?.upstream;
  return typeof u === 'string' ? u : target.provider;
}

function toUsage(u: ChatUsage | undefined): Usage | undefined {
  if (!u) return undefined;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
  return { inputTokens: n(u.prompt_tokens), outputTokens: n(u.completion_tokens) };
}

/** Writes, waiting for `drain` under backpressure; rejects once the client is gone. */
function write(res: Response, text: string, clientSignal: AbortSignal): Promise<void> {
  if (clientSignal.aborted || res.destroyed) return Promise.reject(clientSignal.reason ?? new Error('client gone'));
  if (res.write(text)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = () => {
      res.off('drain', done);
      clientSignal.removeEventListener('abort', gone);
      resolve();
    };
    const gone = () => {
      res.off('drain', done);
      reject(clientSignal.reason);
    };
    res.on('drain', done);
    clientSignal.addEventListener('abort', gone, { once: true });
  });
}

/** A chunk as the client asked for it: usage only when it set `stream_options.include_usage`. */
function chunkText(chunk: ChatChunk, includeUsage: boolean): string | undefined {
  if (includeUsage) return formatSse(JSON.stringify(chunk));
  if (Array.isArray(chunk.choices) && chunk.choices.length === 0) return undefined;
  if ('usage' in chunk) {
    const { usage: _usage, ...rest } = chunk;
    return formatSse(JSON.stringify(rest));
  }
  return formatSse(JSON.stringify(chunk));
}

function setResultHeaders(res: Response, r: ExecuteResult<unknown>): void {
  res.setHeader(TARGET_HEADER, r.target.id);
  res.setHeader(ATTEMPTS_HEADER, String(r.record.attempts.length));
  res.setHeader(REQUEST_ID_HEADER, r.record.request_id);
}

/**
 * An Express router that speaks the OpenAI chat API and runs every request through the engine:
 * `POST {prefix}/chat/completions` (streaming and not) and `GET {prefix}/models`.
 *
 * - `model` is an alias of `models` (or, with `exposeRoutes`, a route name); the route's chain
 *   picks targets, each sent to `upstreams[target.meta.upstream ?? target.provider]` with plain
 *   `fetch` (OpenAI-compatible passthrough, or translated to Anthropic messages and back);
 * - limits, budgets, retries, fallbacks, breakers, pacing (upstream `x-ratelimit-*` headers are
 *   reported to the engine) all apply; clients authenticate with their own keys mapped to
 *   identities (401 otherwise); upstream keys stay on the server;
 * - streams fall back only before the first token: the attempt resolves once the upstream said 200
 *   and its first output chunk (audio included) arrived, or 64 chunks without output did; a stream that breaks later ends with an SSE error event
 *   (`data: {"error": {...}}`), never with a clean `[DONE]`; usage is settled from the upstream's
 *   final usage chunk; a stream that breaks off (or whose client leaves) charges the prompt and at
 *   least the reserved output (`max_tokens` times `n`), which the provider may have billed; the
 *   stream idle timeout restarts on every upstream event or comment (pings), not only on output;
 * - replies carry `x-llm-resilience-target`, `-attempts` and `-request-id`; errors are OpenAI-style
 *   bodies with the audience message, `Retry-After` when known, never provider names or keys;
 * - a 2xx upstream body that is not a reply (no `choices`, an `{ error }` body, not JSON, longer
 *   than `upstreamBodyLimit`) fails the attempt (retried or sent to a fallback), never reaching the
 *   client as a success; a longer body is not read past the bound, its connection closed;
 * - every option is checked at creation (`ExpressConfigError` naming the option and what it must be);
 * - malformed messages, a body nested more than 128 levels deep, and on routes
 *   that reach an Anthropic upstream anything the translation cannot carry whole (audio parts,
 *   `n` > 1, `logprobs`, ...), get 400 with `param` before any model call (no upstream or breaker
 *   is charged); body-parser errors keep their status (400, 413, 415) with an OpenAI-style body;
 *   a body already read by a parser mounted in front of the gateway (its limit replaces
 *   `bodyLimit`) is used as it is, with one `logger.warn` (`ERR_LLMR_EXPRESS_GATEWAY_BODY_ALREADY_PARSED`);
 *   an `auth` function that throws, or returns an identity that is not an object of strings
 *   (`{ user: 42 }`), gets 500 `ERR_LLMR_EXPRESS_GATEWAY_FAILED` (logged to `logger` without its
 *   message); other methods on the two paths get 404 `unknown_url`.
 *
 * @example
 * ```ts
 * app.use(openAIGateway({
 *   engine,
 *   upstreams: { openai: { kind: 'openai', baseURL: 'https://api.openai.com/v1', apiKey: process.env.OPENAI_API_KEY } },
 *   auth: { 'sk-client-1': { user: 'alice', team: 'support' } },
 *   models: { support: 'support_reply' },
 * }));
 * // client side:
 * const client = new OpenAI({ apiKey: 'sk-client-1', baseURL: 'http://localhost:3000/v1' });
 * await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'hi' }] });
 * ```
 */
export function openAIGateway(options: OpenAIGatewayOptions): Router {
  if (!isObject(options)) fail('ERR_LLMR_EXPRESS_NO_ENGINE', 'needs an options object with { engine, upstreams, auth }.');
  const engine: Resilience = options.engine;
  if (typeof engine?.execute !== 'function' || !isObject(engine.policy)) {
    fail('ERR_LLMR_EXPRESS_NO_ENGINE', 'options.engine must be the engine from createResilience(policy).');
  }
  new Validations(true).unknownOptions(options, KNOWN_OPTIONS, 'openAIGateway()');
  checkGatewayOptions(options);
  const upstreams: Record<string, UpstreamConfig> = options.upstreams;
  const lookup = identityLookup(options.auth);
  const policyRoutes = engine.policy.routes;
  const servable = (route: string) => policyRoutes[route]!.chain.every((t) => upstreams[upstreamNameOf(t)] !== undefined);
  const aliases = new Map<string, string>();
  for (const [alias, route] of Object.entries(options.models ?? {})) {
    if (!hasRoute(policyRoutes, route)) {
      fail('ERR_LLMR_EXPRESS_GATEWAY_UNKNOWN_ROUTE', `models.${alias} names route '${route}', which is not in the policy. Known routes: ${Object.keys(policyRoutes).join(', ')}.`);
    }
    const missing = policyRoutes[route]!.chain.map(upstreamNameOf).filter((u) => upstreams[u] === undefined);
    if (missing.length > 0) {
      fail(
        'ERR_LLMR_EXPRESS_GATEWAY_NO_UPSTREAM',
        `route '${route}' (model '${alias}') has targets on ${[...new Set(missing)].map((m) => `'${m}'`).join(', ')} but upstreams has no such entry. ` +
          `Add it to upstreams, or set target.meta.upstream.`,
      );
    }
    aliases.set(alias, route);
  }
  const direct = new Set(options.exposeRoutes === false ? [] : Object.keys(policyRoutes).filter(servable));
  const routeOf = (model: string): string | undefined => aliases.get(model) ?? (direct.has(model) ? model : undefined);
  const modelIds = [...new Set([...aliases.keys(), ...direct])];
  const doFetch = options.fetch ?? globalThis.fetch;
  // Checked above: a size of at least one byte.
  const maxBodyBytes = parseByteSize(options.upstreamBodyLimit ?? DEFAULT_UPSTREAM_BODY_LIMIT)!;
  const identities = new WeakMap<Request, Identity>();
  const audienceOf = (route: string): Audience => options.audience ?? policyRoutes[route]?.audience ?? 'customer';

  const unauthorized = (res: Response, message: string) => {
    res.setHeader('WWW-Authenticate', 'Bearer');
    res.status(401).json(openAIErrorBody(message, 'invalid_request_error', 'invalid_api_key'));
  };

  const logger = options.logger ?? defaultGatewayLogger;
  const answer = (res: Response, a: ErrorAnswer) => {
    res.status(a.status).json(a.body);
  };
  /** Logs a failure of the gateway's own (never the error's message) and answers 500. */
  const failed = (res: Response, stage: string, err: unknown): void => {
    const fields = failureFields(err);
    const what = fields.errorCode !== undefined ? `${fields.error} ${fields.errorCode}` : fields.error;
    logger.error?.(`openAIGateway(): ${stage} failed (${what}); the client got 500 ${GATEWAY_FAILED}.`, { code: GATEWAY_FAILED, stage, ...fields });
    if (res.headersSent) {
      res.end();
      return;
    }
    answer(res, gatewayFailedAnswer());
  };

  const authenticate = (req: Request, res: Response, next: NextFunction): void => {
    const key = clientKeyOf(req);
    if (key === undefined) return unauthorized(res, 'Missing API key. Send your gateway key as "Authorization: Bearer <key>".');
    Promise.resolve()
      .then(() => lookup(key, req))
      // A result of the wrong kind (`{ user: 42 }`) is the server's mistake: it fails like a throw.
      .then(checkedAuthResult)
      .then(
        (identity) => {
          if (!identity) return unauthorized(res, 'Incorrect API key provided.');
          identities.set(req, identity);
          next();
        },
        // The key store is down or the function is buggy: not the client's fault, and its message
        // (a connection string?) is not for the client.
        (err: unknown) => failed(res, 'the auth lookup', err),
      );
  };

  /** Reads the JSON body; errors of the parser are answered here, OpenAI-style. */
  const parseJson = express.json({ limit: options.bodyLimit ?? '4mb' });
  let foreignParserSeen = false;
  const readBody = (req: Request, res: Response, next: NextFunction): void => {
    if (!foreignParserSeen && req.body !== undefined && (req.readableEnded || (req as { _body?: unknown })._body === true)) {
      // Another parser read the body first (an app-level `express.json()`): `parseJson` skips it, so
      // that parser's limit applies instead of `bodyLimit`, and its errors never reach the gateway.
      foreignParserSeen = true;
      const message =
        `openAIGateway(): the request body was already read by a body parser mounted before the gateway (an app-level express.json()?). ` +
        `That parser's size limit replaces bodyLimit, and its errors reach your app's error handlers instead of getting OpenAI-style answers. ` +
        `Mount the parser on your own routes only (app.post('/chat', express.json(), handler)). See ${helpLink(BODY_ALREADY_PARSED)}.`;
      const fields = { code: BODY_ALREADY_PARSED, help: helpLink(BODY_ALREADY_PARSED) };
      try {
        // Called as a method: a logger class (pino, Nest's Logger) needs its `this`.
        if (logger.warn !== undefined) logger.warn(message, fields);
        else defaultGatewayLogger.warn?.(message, fields);
      } catch {
        // A logger that throws must not fail the request it was warning about.
      }
    }
    parseJson(req, res, (err?: unknown) => {
      if (err === undefined || err === null || err === false) return next();
      const a = bodyErrorAnswer(err);
      if (a.status >= 500) return failed(res, 'reading the request body', err);
      answer(res, a);
    });
  };

  /** True when a route's chain reaches an Anthropic upstream (its requests must translate). */
  const anthropicRoutes = new Set(Object.keys(policyRoutes).filter((r) => policyRoutes[r]!.chain.some((t) => upstreams[upstreamNameOf(t)]?.kind === 'anthropic')));
  const rejected = (res: Response, err: unknown): void => {
    if (!(err instanceof ChatRequestError)) throw err;
    res.status(400).json(openAIErrorBody(err.message, 'invalid_request_error', err.openAICode, err.param === '' ? null : err.param));
  };

  const sendError = (res: Response, err: unknown, route: string | undefined, clientSignal: AbortSignal): void => {
    if (res.headersSent) {
      res.end();
      return;
    }
    const http = httpErrorOf(err);
    if (http === undefined) return failed(res, 'the request', err);
    if (http.kind === 'cancelled' && (clientSignal.aborted || res.destroyed)) return;
    const audience = route !== undefined ? audienceOf(route) : (options.audience ?? 'customer');
    setRetryAfter(res, http.retryAfterMs);
    setShouldRetry(res, http);
    if (http.requestId !== undefined) res.setHeader(REQUEST_ID_HEADER, http.requestId);
    const record = isObject(err) && isObject((err as { record?: unknown }).record) ? (err as { record: { attempts?: unknown[] } }).record : undefined;
    if (Array.isArray(record?.attempts)) res.setHeader(ATTEMPTS_HEADER, String(record.attempts.length));
    res.status(http.status).json(openAIErrorBody(http.userMessage ?? messageFor(httpMessageKind(http), audience, engine), openAITypeForStatus(http.kind, http.status), http.code));
  };

  const idleMs = options.streamIdleTimeoutMs ?? DEFAULT_STREAM_IDLE_MS;
  /**
   * Reads the rest of a stream: each call gives the next chunk, or fails with a
   * {@link StreamIdleError} once the upstream sent nothing for `idleMs`. Any event or SSE comment is a
   * sign of life (an Anthropic `ping`, a `: keep-alive`), not only one that yields a chunk: the parser
   * reports each through `state.onEvent`, which only notes the time; one timer per chunk waited for,
   * put off by what arrived meanwhile.
   */
  const chunkReader = (s: OpenedStream): (() => Promise<IteratorResult<ChatChunk>>) => {
    if (!(idleMs > 0)) return () => s.rest.next();
    const clock = engine.clock;
    let lastEvent = clock.now();
    s.state.onEvent = () => {
      lastEvent = clock.now();
    };
    const silence = async (signal: AbortSignal): Promise<never> => {
      for (let wait = idleMs; ; ) {
        await clock.sleep(wait, signal);
        const quiet = clock.now() - lastEvent;
        if (quiet >= idleMs) throw new StreamIdleError(idleMs);
        wait = Math.min(idleMs, idleMs - quiet);
      }
    };
    return () => {
      lastEvent = clock.now();
      const stop = new AbortController();
      return Promise.race([s.rest.next(), silence(stop.signal)]).finally(() => stop.abort());
    };
  };

  const pipeStream = async (res: Response, r: StreamingResult<OpenedStream>, includeUsage: boolean, clientSignal: AbortSignal, route: string): Promise<void> => {
    const s = r.value;
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Accel-Buffering', 'no');
    setResultHeaders(res, r);
    res.flushHeaders();
    try {
      const nextChunk = chunkReader(s);
      for (const c of s.head) {
        const text = chunkText(c, includeUsage);
        if (text !== undefined) await write(res, text, clientSignal);
      }
      for (;;) {
        const n = await nextChunk();
        if (n.done) break;
        const text = chunkText(n.value, includeUsage);
        if (text !== undefined) await write(res, text, clientSignal);
      }
      if (!s.state.finished) {
        throw new UpstreamStreamError(upstreamNameOf(r.target), 'the stream ended before its final event');
      }
      await write(res, formatSse('[DONE]'), clientSignal);
      res.end();
      r.complete(toUsage(s.state.usage));
    } catch (err) {
      s.abort(err);
      // The provider billed the prompt and what it generated until the stream closed.
      const used = unfinishedUsage(toUsage(s.state.usage), { inputTokens: r.record.input_tokens, outputTokens: s.reservedOutput });
      if (clientSignal.aborted || res.destroyed) {
        r.fail(clientSignal.reason ?? err, used);
        return;
      }
      const kind = classifyError(err).kind;
      const body = openAIErrorBody(
        streamInterruptedMessage(audienceOf(route), kind),
        'stream_error',
        'ERR_LLMR_EXPRESS_STREAM_INTERRUPTED',
      );
      res.end(formatSse(JSON.stringify(body)));
      r.fail(err, used);
    }
  };

  const chatCompletions = (req: Request, res: Response): void => {
    const identity = identities.get(req)!;
    const body: unknown = req.body;
    if (!isObject(body)) {
      res.status(400).json(openAIErrorBody('We could not parse the JSON body of your request.', 'invalid_request_error', null));
      return;
    }
    try {
      // First: a body nested thousands of levels deep parses, but overflows the stack of every
      // recursive walk after it (JSON.stringify in each attempt, the Anthropic translation). Refused
      // here, it is the client's 400, never an upstream failure that trips the breakers for everyone.
      assertJsonDepth(body);
    } catch (err) {
      return rejected(res, err);
    }
    if (typeof body.model !== 'string' || body.model === '') {
      res.status(400).json(openAIErrorBody('you must provide a model parameter', 'invalid_request_error', null, 'model'));
      return;
    }
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      res.status(400).json(openAIErrorBody("Missing required parameter: 'messages'.", 'invalid_request_error', null, 'messages'));
      return;
    }
    try {
      assertChatMessages(body.messages);
    } catch (err) {
      return rejected(res, err);
    }
    // Both token caps are checked (an upstream gets whichever the client sent; the newer one wins), and
    // `n`, which multiplies what is reserved.
    for (const param of ['max_tokens', 'max_completion_tokens', 'n'] as const) {
      const v = body[param];
      if (v !== undefined && v !== null && !(typeof v === 'number' && Number.isInteger(v) && v >= 1)) {
        res.status(400).json(openAIErrorBody(`Invalid '${param}': expected an integer >= 1, got ${JSON.stringify(v)}.`, 'invalid_request_error', null, param));
        return;
      }
    }
    if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
      // OpenAI refuses a string "true"; taking it as false would answer a streaming client with JSON.
      res.status(400).json(openAIErrorBody(`Invalid 'stream': expected a boolean, got ${JSON.stringify(body.stream)}.`, 'invalid_request_error', null, 'stream'));
      return;
    }
    const max = body.max_completion_tokens ?? body.max_tokens;
    const route = routeOf(body.model);
    if (route === undefined) {
      res.status(404).json(openAIErrorBody(`The model \`${body.model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found', 'model'));
      return;
    }
    const chat = body as ChatRequestBody;
    const stream = chat.stream === true;
    if (anthropicRoutes.has(route)) {
      // Checked before the engine runs, against the whole chain: a request that an Anthropic
      // target of it cannot take whole is refused now rather than cut down, or refused only when a
      // fallback happens to reach that target.
      try {
        toAnthropicRequest(chat, '', 1, stream);
      } catch (err) {
        return rejected(res, err);
      }
    }
    // `n` choices may each generate `max` tokens and are billed together: the engine reserves (and a
    // cut stream is charged) all of them. Anthropic routes refuse `n` above 1 (checked above).
    const choices = typeof body.n === 'number' && body.n > 1 ? body.n : 1;
    const clientSignal = disconnectSignal(req, res);
    // Only for token estimation: the engine reads role and content.
    const request: ResilienceRequest = { route, identity, input: { messages: chat.messages as ChatMessage[] }, signal: clientSignal };
    if (typeof max === 'number') request.maxOutputTokens = max * choices;
    const priority = nameFrom(options.priority?.(req, identity), 'priority', 'a traffic class of the policy');
    if (priority !== undefined) request.priority = priority;
    const dataClass = nameFrom(options.dataClass?.(req, identity), 'dataClass', 'the name of a data class');
    if (dataClass !== undefined) request.dataClass = dataClass;
    if (options.audience !== undefined) request.audience = options.audience;
    const callFor = (target: ResolvedTarget, ctx: UpstreamCall['ctx']): UpstreamCall => {
      const name = upstreamNameOf(target);
      return { name, upstream: upstreams[name]!, target, ctx, body: chat, clientSignal, fetch: doFetch, maxBodyBytes, choices };
    };

    const run = async () => {
      if (!stream) {
        const r = await engine.execute(request, (target, ctx) => completeUpstream(callFor(target, ctx)));
        if (clientSignal.aborted) return;
        setResultHeaders(res, r);
        res.status(200).json(r.value);
        return;
      }
      const r = await engine.execute({ ...request, stream: true }, (target, ctx) => openUpstreamStream(callFor(target, ctx)));
      await pipeStream(res, r, chat.stream_options?.include_usage === true, clientSignal, route);
    };
    run().catch((err: unknown) => sendError(res, err, route, clientSignal));
  };

  const listModels = (_req: Request, res: Response): void => {
    res.json({ object: 'list', data: modelIds.map((id) => ({ id, object: 'model', created: 0, owned_by: 'llm-resilience' })) });
  };

  /** Errors thrown inside the gateway's routes (a throwing `priority` or `dataClass` option, a bug). */
  const routeErrors = (err: unknown, _req: Request, res: Response, _next: NextFunction): void => failed(res, 'the request', err);

  /** A method the gateway does not serve on one of its paths: 404 like OpenAI (`unknown_url`). */
  const unknownURL = (req: Request, res: Response, next: NextFunction): void => {
    if (req.method === 'OPTIONS') return next(); // CORS preflights and Express's automatic answer
    res
      .status(404)
      .json(openAIErrorBody(`Unknown request URL: ${req.method} ${req.originalUrl.split('?')[0]}. Please check the URL for typos.`, 'invalid_request_error', 'unknown_url'));
  };

  const prefix = (options.prefix ?? '/v1').replace(/\/+$/, '');
  const modelsPath = `${prefix}/models`;
  const chatPath = `${prefix}/chat/completions`;
  const router = express.Router();
  router.get(modelsPath, authenticate, listModels, routeErrors);
  router.post(chatPath, authenticate, readBody, chatCompletions, routeErrors);
  router.all([modelsPath, chatPath], unknownURL);
  return router;
}

/**
 * What a `priority(req, identity)` or `dataClass(req, identity)` option returned, when it is a string
 * or `undefined`. Anything else (a number, the whole document) is a fault of the server's code: it
 * throws an `ExpressConfigError` that the gateway answers with a 500 and logs, the value described by
 * its type only.
 */
function nameFrom(value: unknown, option: 'priority' | 'dataClass', expected: string): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  throw new ExpressConfigError(
    'ERR_LLMR_EXPRESS_INVALID_OPTION',
    `openAIGateway() ${option}(req, identity) returned ${valueType(value)}; expected ${expected} (a string) or undefined.`,
  );
}
