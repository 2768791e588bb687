import type { IncomingMessage, ServerResponse } from 'node:http';
import { modelSettings } from './config';
import { countRequest, countStatus, countTokens } from './counters';
import { ERROR_RESPONSE_FAULTS, type FaultSchedule } from './faults';
import { retryAfterHeaders } from './headers';
import type { ModelLimiter, SettleOutcome } from './limits';
import { isProviderError, type ChatRequest, type Protocol, type ProviderError } from './protocol';
import { sampleLogNormal, type Random } from './random';
import { buildReply } from './replies';
import { cutConnection, sleep, writeSse, type SsePacing } from './sse';
import type { FakeClock, FakeModelConfig, FakeProviderConfig, FakeProviderCounters, FaultKind, FaultRule } from './types';

/**
 * What the pipeline needs from the server.
 *
 * @example
 * ```ts
 * await handleChat(ctx, req, res, openAIProtocol, body, signal);
 * ```
 */
export interface PipelineContext {
  config: FakeProviderConfig;
  clock: FakeClock;
  epochMs: number;
  seed: number;
  counters: FakeProviderCounters;
  faults: FaultSchedule;
  latencyRandom: Random;
  limiter(model: string, settings: FakeModelConfig): ModelLimiter;
  nextId(): number;
}

type Headers = Record<string, string>;

/**
 * Sends a JSON response unless the socket is gone, counting its status.
 *
 * @example
 * ```ts
 * sendJson(res, counters, 200, {}, { ok: true });
 * ```
 */
export function sendJson(res: ServerResponse, counters: FakeProviderCounters, status: number, headers: Headers, body: unknown): void {
  if (res.destroyed || res.headersSent) return;
  countStatus(counters, status);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function sendError(ctx: PipelineContext, res: ServerResponse, protocol: Protocol, err: ProviderError, headers: Headers): void {
  const { status, body } = protocol.error(err);
  sendJson(res, ctx.counters, status, headers, body);
}

const ERROR_FOR: Partial<Record<FaultKind, (req: ChatRequest, s: FakeModelConfig, f: FaultRule) => ProviderError>> = {
  overloaded_503: () => ({ type: 'overloaded', status: 503 }),
  overloaded_529: () => ({ type: 'overloaded', status: 529 }),
  server_error_500: () => ({ type: 'server_error' }),
  insufficient_quota: () => ({ type: 'insufficient_quota' }),
  content_filter: (_r, _s, f) => ({ type: 'content_filter', variant: f.variant ?? 'openai' }),
  auth: () => ({ type: 'auth' }),
  context_length: (r, s) => ({ type: 'context_length', model: r.model, inputTokens: r.inputTokens, maxTokens: r.maxTokens ?? 0, contextWindow: s.contextWindow, injected: true }),
  rate_limit_no_hint: (r) => ({ type: 'rate_limit', model: r.model }),
};

/**
 * The headers of an injected 429 (the `rate_limit` fault, and a `stream_error` fault of `errorType`
 * `rate_limit` on a request that does not stream): `retry-after` / `retry-after-ms` of the rule's
 * `retryAfterSeconds` (default 1), and the request limit (the model's `rpm`, else 60) exhausted until then.
 */
function rateLimitFaultHeaders(fault: FaultRule, settings: FakeModelConfig, protocol: Protocol, now: number): Headers {
  const ms = (fault.retryAfterSeconds ?? 1) * 1000;
  return { ...protocol.exhaustedHeaders(settings.limits?.rpm ?? 60, ms, now), ...retryAfterHeaders(ms) };
}

/**
 * The error of a `stream_error` fault: sent inside the stream after its 200, or as the HTTP response
 * to a request that does not stream (an overload is then Anthropic's 529 and OpenAI's 503).
 */
function streamErrorOf(fault: FaultRule, req: ChatRequest, protocol: Protocol): ProviderError {
  switch (fault.errorType ?? 'overloaded') {
    case 'rate_limit':
      return { type: 'rate_limit', model: req.model };
    case 'server_error':
      return { type: 'server_error' };
    case 'overloaded':
      return { type: 'overloaded', status: protocol.api === 'anthropic' ? 529 : 503 };
  }
}

function apiKeyOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7);
  const key = req.headers['x-api-key'];
  return typeof key === 'string' ? key : undefined;
}

/**
 * True when the scenario sets no `apiKey`, or the request sends it (`Authorization: Bearer …` or
 * `x-api-key`). Every endpoint checks it, `GET /v1/models` included.
 *
 * @example
 * ```ts
 * if (!isAuthorized(config, req)) return sendError(ctx, res, protocol, { type: 'auth' }, base);
 * ```
 */
export function isAuthorized(config: FakeProviderConfig, req: IncomingMessage): boolean {
  return config.apiKey === undefined || apiKeyOf(req) === config.apiKey;
}

function firstTokenMs(ctx: PipelineContext, s: FakeModelConfig): number {
  const lat = s.latency;
  if (!lat) return 0;
  if (lat.distribution) return sampleLogNormal(ctx.latencyRandom, lat.distribution.p50, lat.distribution.p95);
  return (lat.firstTokenMs ?? 0) + (lat.jitterMs ? ctx.latencyRandom() * lat.jitterMs : 0);
}

/**
 * Handles one chat request end to end: auth, parse, model, request validation, limits, faults, reply.
 *
 * @example
 * ```ts
 * await handleChat(ctx, req, res, openAIProtocol, body, signal);
 * ```
 */
export async function handleChat(ctx: PipelineContext, req: IncomingMessage, res: ServerResponse, protocol: Protocol, body: unknown, signal: AbortSignal): Promise<void> {
  const { counters, clock } = ctx;
  const seq = ctx.nextId();
  const base: Headers = { [protocol.requestIdHeader]: `req_fake${seq.toString(16).padStart(8, '0')}` };
  counters.requests++;
  if (!isAuthorized(ctx.config, req)) return sendError(ctx, res, protocol, { type: 'auth' }, base);
  const parsed = protocol.parse(body);
  if (isProviderError(parsed)) return sendError(ctx, res, protocol, parsed, base);
  const { model } = parsed;
  countRequest(counters, model);
  const settings = modelSettings(ctx.config, model);
  if (!settings) return sendError(ctx, res, protocol, { type: 'model_not_found', model }, base);
  // Every response of a model with limits carries its limit headers, the 400s below included; those
  // 400s are answered before admission, so they consume no limit (a snapshot charges nothing).
  const limiter = ctx.limiter(model, settings);
  const limitHeaders = (): Headers => (limiter.hasLimits ? protocol.rateLimitHeaders(limiter.snapshot(clock.now()), clock.now()) : {});
  if (settings.maxOutputTokens !== undefined && parsed.maxTokens !== undefined && parsed.maxTokens > settings.maxOutputTokens) {
    const message = `max_tokens: ${parsed.maxTokens} > ${settings.maxOutputTokens}, which is the maximum allowed number of output tokens for ${model}`;
    return sendError(ctx, res, protocol, { type: 'invalid_request', message, param: 'max_tokens' }, { ...base, ...limitHeaders() });
  }
  if (parsed.inputTokens + (parsed.maxTokens ?? 0) > settings.contextWindow) {
    const err: ProviderError = { type: 'context_length', model, inputTokens: parsed.inputTokens, maxTokens: parsed.maxTokens ?? 0, contextWindow: settings.contextWindow, injected: false };
    return sendError(ctx, res, protocol, err, { ...base, ...limitHeaders() });
  }

  const ticket = limiter.admit({ inputTokens: parsed.inputTokens, maxOutputTokens: parsed.maxTokens }, clock.now());
  if (!ticket.ok) {
    const hint = ticket.retryAfterMs === undefined ? {} : retryAfterHeaders(ticket.retryAfterMs);
    return sendError(ctx, res, protocol, { type: 'rate_limit', model, rejection: ticket }, { ...base, ...limitHeaders(), ...hint });
  }
  // Anything that throws (the client went away, stop()) is a failed request: it keeps its charge.
  let served: Served = FAILED;
  try {
    served = await respond(ctx, req, res, protocol, parsed, settings, base, limitHeaders, signal);
  } finally {
    limiter.settle(ticket, served.outputTokens, clock.now(), served.outcome);
  }
}

/** What an admitted request produced, for {@link ModelLimiter.settle}. */
interface Served {
  outputTokens: number;
  outcome: SettleOutcome;
}

const FAILED: Served = { outputTokens: 0, outcome: 'failed' };

/**
 * After admission: applies the fault (if any) and sends the reply. Only a reply served to the end
 * is `completed`; error responses, resets, cut or malformed replies and vanished clients are `failed`.
 */
async function respond(
  ctx: PipelineContext,
  req: IncomingMessage,
  res: ServerResponse,
  protocol: Protocol,
  parsed: ChatRequest,
  settings: FakeModelConfig,
  base: Headers,
  limitHeaders: () => Headers,
  signal: AbortSignal,
): Promise<Served> {
  const { counters, clock } = ctx;
  const now = clock.now();
  const fault = ctx.faults.pick(parsed.model, (now - ctx.epochMs) / 1000);
  const kind = fault?.kind;
  if (fault) counters.faults[fault.kind] = (counters.faults[fault.kind] ?? 0) + 1;
  const hint = fault?.retryAfterSeconds === undefined ? {} : retryAfterHeaders(fault.retryAfterSeconds * 1000);

  if (fault && kind === 'rate_limit') {
    sendError(ctx, res, protocol, { type: 'rate_limit', model: parsed.model }, { ...base, ...limitHeaders(), ...rateLimitFaultHeaders(fault, settings, protocol, now) });
    return FAILED;
  }
  if (fault && kind === 'rate_limit_no_hint') {
    sendError(ctx, res, protocol, { type: 'rate_limit', model: parsed.model }, base);
    return FAILED;
  }
  if (fault && kind && ERROR_RESPONSE_FAULTS.has(kind)) {
    sendError(ctx, res, protocol, ERROR_FOR[kind]!(parsed, settings, fault), { ...base, ...limitHeaders(), ...hint });
    return FAILED;
  }
  if (fault?.kind === 'stream_error' && !parsed.stream) {
    // A 429 carries what the rate_limit fault's 429 carries: retry-after and the exhausted request limit.
    const headers = (fault.errorType ?? 'overloaded') === 'rate_limit' ? rateLimitFaultHeaders(fault, settings, protocol, now) : hint;
    sendError(ctx, res, protocol, streamErrorOf(fault, parsed, protocol), { ...base, ...limitHeaders(), ...headers });
    return FAILED;
  }
  if (kind === 'connection_reset') {
    counters.connectionResets++;
    req.socket.resetAndDestroy();
    return FAILED;
  }
  if (kind === 'hang') {
    await new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
  if (kind === 'timeout') await sleep(fault?.delayMs ?? 60_000, signal);

  const reply = buildReply({
    model: parsed.model,
    promptText: parsed.promptText,
    format: parsed.format,
    maxTokens: parsed.maxTokens,
    replyTokens: settings.replyTokens ?? 16,
    seed: ctx.seed,
    invalidJson: kind === 'invalid_json_reply',
  });
  const pacing: SsePacing = {
    firstTokenMs: firstTokenMs(ctx, settings) + (kind === 'slow_first_token' ? (fault?.delayMs ?? 2_000) : 0),
    perTokenMs: kind === 'slow_tokens' ? (fault?.perTokenMs ?? 50) : (settings.latency?.perTokenMs ?? 0),
  };
  const seq = ctx.nextId().toString(16).padStart(8, '0');
  const meta = { id: protocol.api === 'openai' ? `chatcmpl-fake${seq}` : `msg_fake${seq}`, createdMs: now };
  const headers = { ...base, ...limitHeaders() };

  if (parsed.stream) {
    const events = protocol.stream(parsed, reply, meta);
    const chunks = events.filter((e) => e.tokens > 0).length;
    // stream_cut and stream_error keep at least the last content chunk back, so the reply is never whole.
    const sentChunks = (f: FaultRule) => Math.min(f.afterChunks ?? Math.floor(chunks / 2), Math.max(0, chunks - 1));
    if (fault?.kind === 'stream_cut') pacing.cutAfterChunks = sentChunks(fault);
    if (fault?.kind === 'stream_error') pacing.endWith = { at: sentChunks(fault), events: protocol.streamError(streamErrorOf(fault, parsed, protocol)) };
    if (kind === 'malformed_json') pacing.endWith = { at: 0, events: [protocol.malformedEvent()] };
    if (res.destroyed) return FAILED;
    countStatus(counters, 200);
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.flushHeaders();
    const outcome = await writeSse(res, events, pacing, signal);
    if (outcome === 'cut') {
      counters.streamsCut++;
      return { outputTokens: reply.outputTokens, outcome: 'failed' };
    }
    if (outcome === 'ended') {
      if (kind === 'stream_error') counters.streamErrors++;
      return { outputTokens: reply.outputTokens, outcome: 'failed' };
    }
    countTokens(counters, parsed.model, parsed.inputTokens, reply.outputTokens);
    return { outputTokens: reply.outputTokens, outcome: 'completed' };
  }

  await sleep(pacing.firstTokenMs + pacing.perTokenMs * reply.outputTokens, signal);
  if (res.destroyed) return { outputTokens: reply.outputTokens, outcome: 'failed' };
  if (kind === 'malformed_json') {
    countStatus(counters, 200);
    res.writeHead(200, { ...headers, 'content-type': 'application/json' });
    res.end(protocol.malformedBody(parsed, reply, meta));
    return { outputTokens: reply.outputTokens, outcome: 'failed' };
  }
  if (kind === 'stream_cut') {
    const json = JSON.stringify(protocol.body(parsed, reply, meta));
    countStatus(counters, 200);
    res.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(json)) });
    res.write(json.slice(0, Math.floor(json.length / 2)));
    await cutConnection(res);
    counters.streamsCut++;
    return { outputTokens: reply.outputTokens, outcome: 'failed' };
  }
  sendJson(res, counters, 200, headers, protocol.body(parsed, reply, meta));
  countTokens(counters, parsed.model, parsed.inputTokens, reply.outputTokens);
  return { outputTokens: reply.outputTokens, outcome: 'completed' };
}
