import type { IncomingMessage, ServerResponse } from 'node:http';
import { modelSettings } from './config';
import { countStatus, countTokens } from './counters';
import { ERROR_RESPONSE_FAULTS, type FaultSchedule } from './faults';
import { retryAfterHeaders } from './headers';
import type { ModelLimiter } from './limits';
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

function apiKeyOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7);
  const key = req.headers['x-api-key'];
  return typeof key === 'string' ? key : undefined;
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
  if (ctx.config.apiKey !== undefined && apiKeyOf(req) !== ctx.config.apiKey) return sendError(ctx, res, protocol, { type: 'auth' }, base);
  const parsed = protocol.parse(body);
  if (isProviderError(parsed)) return sendError(ctx, res, protocol, parsed, base);
  const { model } = parsed;
  counters.requestsByModel[model] = (counters.requestsByModel[model] ?? 0) + 1;
  const settings = modelSettings(ctx.config, model);
  if (!settings) return sendError(ctx, res, protocol, { type: 'model_not_found', model }, base);
  if (settings.maxOutputTokens !== undefined && parsed.maxTokens !== undefined && parsed.maxTokens > settings.maxOutputTokens) {
    const message = `max_tokens: ${parsed.maxTokens} > ${settings.maxOutputTokens}, which is the maximum allowed number of output tokens for ${model}`;
    return sendError(ctx, res, protocol, { type: 'invalid_request', message, param: 'max_tokens' }, base);
  }
  if (parsed.inputTokens + (parsed.maxTokens ?? 0) > settings.contextWindow) {
    const err: ProviderError = { type: 'context_length', model, inputTokens: parsed.inputTokens, maxTokens: parsed.maxTokens ?? 0, contextWindow: settings.contextWindow, injected: false };
    return sendError(ctx, res, protocol, err, base);
  }

  const limiter = ctx.limiter(model, settings);
  const limitHeaders = (): Headers => (limiter.hasLimits ? protocol.rateLimitHeaders(limiter.snapshot(clock.now()), clock.now()) : {});
  const ticket = limiter.admit({ inputTokens: parsed.inputTokens, maxOutputTokens: parsed.maxTokens }, clock.now());
  if (!ticket.ok) {
    const hint = ticket.retryAfterMs === undefined ? {} : retryAfterHeaders(ticket.retryAfterMs);
    return sendError(ctx, res, protocol, { type: 'rate_limit', model, rejection: ticket }, { ...base, ...limitHeaders(), ...hint });
  }
  let output = 0;
  try {
    output = await respond(ctx, req, res, protocol, parsed, settings, base, limitHeaders, signal);
  } finally {
    limiter.settle(ticket, output, clock.now());
  }
}

/** After admission: applies the fault (if any) and sends the reply. Returns the output tokens produced. */
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
): Promise<number> {
  const { counters, clock } = ctx;
  const now = clock.now();
  const fault = ctx.faults.pick(parsed.model, (now - ctx.epochMs) / 1000);
  const kind = fault?.kind;
  if (fault) counters.faults[fault.kind] = (counters.faults[fault.kind] ?? 0) + 1;
  const hint = fault?.retryAfterSeconds === undefined ? {} : retryAfterHeaders(fault.retryAfterSeconds * 1000);

  if (fault && kind === 'rate_limit') {
    const ms = (fault.retryAfterSeconds ?? 1) * 1000;
    const headers = { ...base, ...limitHeaders(), ...protocol.exhaustedHeaders(settings.limits?.rpm ?? 60, ms, now), ...retryAfterHeaders(ms) };
    sendError(ctx, res, protocol, { type: 'rate_limit', model: parsed.model }, headers);
    return 0;
  }
  if (fault && kind === 'rate_limit_no_hint') {
    sendError(ctx, res, protocol, { type: 'rate_limit', model: parsed.model }, base);
    return 0;
  }
  if (fault && kind && ERROR_RESPONSE_FAULTS.has(kind)) {
    sendError(ctx, res, protocol, ERROR_FOR[kind]!(parsed, settings, fault), { ...base, ...limitHeaders(), ...hint });
    return 0;
  }
  if (kind === 'connection_reset') {
    counters.connectionResets++;
    req.socket.resetAndDestroy();
    return 0;
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
    if (kind === 'stream_cut') pacing.cutAfterChunks = Math.min(fault?.afterChunks ?? Math.floor(chunks / 2), Math.max(0, chunks - 1));
    if (kind === 'malformed_json') pacing.malformed = { at: 0, event: protocol.malformedEvent() };
    if (res.destroyed) return 0;
    countStatus(counters, 200);
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.flushHeaders();
    const outcome = await writeSse(res, events, pacing, signal);
    if (outcome === 'cut') counters.streamsCut++;
    else if (kind !== 'malformed_json') countTokens(counters, parsed.model, parsed.inputTokens, reply.outputTokens);
    return reply.outputTokens;
  }

  await sleep(pacing.firstTokenMs + pacing.perTokenMs * reply.outputTokens, signal);
  if (res.destroyed) return reply.outputTokens;
  if (kind === 'malformed_json') {
    countStatus(counters, 200);
    res.writeHead(200, { ...headers, 'content-type': 'application/json' });
    res.end(protocol.malformedBody(parsed, reply, meta));
    return reply.outputTokens;
  }
  if (kind === 'stream_cut') {
    const json = JSON.stringify(protocol.body(parsed, reply, meta));
    countStatus(counters, 200);
    res.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(json)) });
    res.write(json.slice(0, Math.floor(json.length / 2)));
    await cutConnection(res);
    counters.streamsCut++;
    return reply.outputTokens;
  }
  sendJson(res, counters, 200, headers, protocol.body(parsed, reply, meta));
  countTokens(counters, parsed.model, parsed.inputTokens, reply.outputTokens);
  return reply.outputTokens;
}
