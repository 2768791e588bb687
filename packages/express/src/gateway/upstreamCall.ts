import type { AttemptContext, ResolvedTarget } from '@llm-resilience/core';
import type { UpstreamConfig } from '../types';
import { AnthropicStreamTranslator, fromAnthropicMessage, toAnthropicRequest } from './anthropicTranslate';
import { carriesOutput, isObject, type ChatChunk, type ChatCompletion, type ChatRequestBody, type ChatUsage, type JsonObject } from './chatTypes';
import { parseSse } from './sse';
import { UpstreamHttpError, UpstreamReplyError, UpstreamStreamError } from './UpstreamError';
import { withoutSecrets } from './withoutSecrets';

const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';

/**
 * Everything one attempt against one upstream needs.
 *
 * @example
 * ```ts
 * const call: UpstreamCall = { name: 'openai', upstream, target, ctx, body, clientSignal, fetch };
 * ```
 */
export interface UpstreamCall {
  /** Upstream name (for messages; never the key). */
  name: string;
  upstream: UpstreamConfig;
  target: ResolvedTarget;
  ctx: AttemptContext;
  body: ChatRequestBody;
  /** Aborts when the gateway's client goes away; outlives the attempt (streams). */
  clientSignal: AbortSignal;
  fetch: typeof fetch;
}

/**
 * Where a streamed reply stands once its first output arrived: the chunks read so far, the rest
 * of the stream, and what the upstream said at its end.
 *
 * @example
 * ```ts
 * const s = await openUpstreamStream(call);
 * for (const c of s.head) send(c);
 * for (let n = await s.rest.next(); !n.done; n = await s.rest.next()) send(n.value);
 * if (!s.state.finished) throw new Error('cut');
 * ```
 */
export interface OpenedStream {
  head: ChatChunk[];
  rest: AsyncIterator<ChatChunk>;
  state: StreamState;
  /** The output tokens the attempt reserved (its `max_tokens`), charged at least if the stream breaks off. */
  reservedOutput: number;
  /** Stops reading from the upstream. */
  abort(reason?: unknown): void;
}

/**
 * End-of-stream facts: whether the upstream's final event (`[DONE]`, `message_stop`) arrived, and
 * the last usage it reported.
 *
 * @example
 * ```ts
 * if (state.finished) result.complete(toUsage(state.usage));
 * ```
 */
export interface StreamState {
  finished: boolean;
  usage: ChatUsage | undefined;
}

function joinURL(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

/** An AbortController that follows the attempt's signal and the client's. */
function linkedController(call: UpstreamCall): AbortController {
  const ac = new AbortController();
  for (const s of [call.ctx.signal, call.clientSignal]) {
    if (s.aborted) ac.abort(s.reason);
    else s.addEventListener('abort', () => ac.abort(s.reason), { once: true });
  }
  return ac;
}

function requestFor(call: UpstreamCall, stream: boolean): { url: string; init: RequestInit } {
  const { upstream, target, ctx, body } = call;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' };
  let payload: JsonObject;
  let url: string;
  if (upstream.kind === 'anthropic') {
    url = joinURL(upstream.baseURL, '/messages');
    headers['anthropic-version'] = upstream.anthropicVersion ?? DEFAULT_ANTHROPIC_VERSION;
    if (upstream.apiKey !== undefined) headers['x-api-key'] = upstream.apiKey;
    payload = toAnthropicRequest(body, target.model, ctx.maxOutputTokens, stream);
  } else {
    url = joinURL(upstream.baseURL, '/chat/completions');
    if (upstream.apiKey !== undefined) headers.authorization = `Bearer ${upstream.apiKey}`;
    payload = { ...body, model: target.model };
    if (typeof body.max_completion_tokens === 'number') payload.max_completion_tokens = ctx.maxOutputTokens;
    else if (typeof body.max_tokens === 'number') payload.max_tokens = ctx.maxOutputTokens;
    if (stream) payload.stream_options = { ...(isObject(body.stream_options) ? body.stream_options : {}), include_usage: true };
    else delete payload.stream_options;
    payload.stream = stream;
  }
  return { url, init: { method: 'POST', headers: { ...headers, ...upstream.headers }, body: JSON.stringify(payload) } };
}

async function send(call: UpstreamCall, stream: boolean, signal: AbortSignal): Promise<Response> {
  const { url, init } = requestFor(call, stream);
  const response = await call.fetch(url, { ...init, signal });
  call.ctx.reportHeaders(response.headers);
  if (response.status < 200 || response.status >= 300) throw await UpstreamHttpError.from(call.name, response, credentialsOf(call.upstream));
  return response;
}

/**
 * What an upstream's error (a non-2xx body, a 2xx error body, an in-stream error event) must not echo
 * on: its key and the values of its credential-like headers. Cut out before anything reads the error.
 */
function credentialsOf(upstream: UpstreamCall['upstream']): string[] {
  const out = upstream.apiKey !== undefined ? [upstream.apiKey] : [];
  for (const [name, value] of Object.entries(upstream.headers ?? {})) if (/key|auth|token|secret|password|cookie/i.test(name)) out.push(value);
  return out;
}

/**
 * One non-streaming attempt: the upstream's reply as an OpenAI `chat.completion` (Anthropic
 * replies translated). Rejects with an {@link UpstreamHttpError} on a non-2xx status, and with an
 * {@link UpstreamReplyError} on a 2xx body that is not a reply (no `choices`, an error body, ...).
 *
 * @example
 * ```ts
 * await engine.execute(request, (target, ctx) => completeUpstream({ ...base, target, ctx }));
 * ```
 */
export async function completeUpstream(call: UpstreamCall): Promise<ChatCompletion> {
  const ac = linkedController(call);
  const response = await send(call, false, ac.signal);
  let json: unknown;
  try {
    json = await response.json();
  } catch (err) {
    if (ac.signal.aborted) throw ac.signal.reason;
    throw new UpstreamReplyError(call.name, 'the body is not valid JSON', { cause: err });
  }
  return replyOf(call, json);
}

/**
 * The completion in a 2xx body, or the failure it is: a body that is not a completion must not reach
 * the client as a success (nor be recorded as one). An error body is classified by its payload, with
 * the credentials the call sent cut out of it (like a non-2xx body's).
 */
function replyOf(call: UpstreamCall, json: unknown): ChatCompletion {
  if (!isObject(json)) throw new UpstreamReplyError(call.name, `the body is ${json === null ? 'null' : 'not a JSON object'}`);
  const anthropic = call.upstream.kind === 'anthropic';
  // OpenAI-style `{ "error": {...} }`; Anthropic's `{ "type": "error", "error": {...} }`.
  if ((json.error !== undefined && json.error !== null) || (anthropic && json.type === 'error')) {
    throw new UpstreamReplyError(call.name, 'the body is an error', { error: withoutSecrets(json.error ?? json, credentialsOf(call.upstream)) });
  }
  if (anthropic) {
    if (!Array.isArray(json.content)) throw new UpstreamReplyError(call.name, 'the body has no content array');
    return fromAnthropicMessage(json, Math.floor(Date.now() / 1000));
  }
  if (!Array.isArray(json.choices)) throw new UpstreamReplyError(call.name, 'the body has no choices array');
  return json as ChatCompletion;
}

/**
 * The chunks of an OpenAI-style stream. An error event (`event: error`, or data with an `error`) ends
 * it with an {@link UpstreamStreamError} carrying the event's payload, `secrets` (the credentials the
 * call sent) cut out of it.
 */
async function* openAIChunks(name: string, body: ReadableStream<Uint8Array>, state: StreamState, signal: AbortSignal, secrets: readonly string[]): AsyncGenerator<ChatChunk> {
  try {
    for await (const m of parseSse(body)) {
      if (m.data === '[DONE]') {
        state.finished = true;
        return;
      }
      let obj: unknown;
      try {
        obj = JSON.parse(m.data);
      } catch {
        throw new UpstreamStreamError(name, 'an event was not valid JSON');
      }
      if (m.event === 'error' || (isObject(obj) && obj.error !== undefined && obj.error !== null)) {
        throw new UpstreamStreamError(name, 'the upstream sent an error event', { error: withoutSecrets(isObject(obj) && obj.error ? obj.error : obj, secrets) });
      }
      if (!isObject(obj)) continue;
      if (isObject(obj.usage)) state.usage = obj.usage as ChatUsage;
      yield obj as ChatChunk;
    }
  } catch (err) {
    throw wrapReadError(name, err, signal);
  }
}

/**
 * The chunks of an Anthropic stream, translated. An `error` event ends it with an
 * {@link UpstreamStreamError} carrying the event's payload, `secrets` cut out of it.
 */
async function* anthropicChunks(name: string, body: ReadableStream<Uint8Array>, state: StreamState, signal: AbortSignal, secrets: readonly string[]): AsyncGenerator<ChatChunk> {
  const t = new AnthropicStreamTranslator(Math.floor(Date.now() / 1000));
  try {
    for await (const m of parseSse(body)) {
      let obj: unknown;
      try {
        obj = JSON.parse(m.data);
      } catch {
        throw new UpstreamStreamError(name, 'an event was not valid JSON');
      }
      if (!isObject(obj)) continue;
      let chunks: ChatChunk[];
      try {
        chunks = t.push(m.event, obj);
      } catch (payload) {
        throw new UpstreamStreamError(name, 'the upstream sent an error event', { error: withoutSecrets(payload, secrets) });
      }
      state.usage = t.usage;
      for (const c of chunks) yield c;
      if (t.finished) {
        state.finished = true;
        return;
      }
    }
  } catch (err) {
    throw wrapReadError(name, err, signal);
  }
}

function wrapReadError(name: string, err: unknown, signal: AbortSignal): unknown {
  if (err instanceof UpstreamStreamError) return err;
  if (signal.aborted) return signal.reason;
  return new UpstreamStreamError(name, 'reading the reply failed', { cause: err });
}

/**
 * One streaming attempt. Resolves only once the upstream answered 2xx and its first output chunk
 * arrived (so the engine may still retry or fall back before that); rejects on a non-2xx status, an
 * error event or a stream that breaks before its first token. The returned stream keeps reading
 * after the attempt, until it ends or the client goes away.
 *
 * @example
 * ```ts
 * const r = await engine.execute({ ...request, stream: true }, (target, ctx) => openUpstreamStream({ ...base, target, ctx }));
 * ```
 */
export async function openUpstreamStream(call: UpstreamCall): Promise<OpenedStream> {
  const ac = linkedController(call);
  const response = await send(call, true, ac.signal);
  if (!response.body) throw new UpstreamStreamError(call.name, 'the reply had no body');
  const state: StreamState = { finished: false, usage: undefined };
  const source =
    call.upstream.kind === 'anthropic'
      ? anthropicChunks(call.name, response.body, state, ac.signal, credentialsOf(call.upstream))
      : openAIChunks(call.name, response.body, state, ac.signal, credentialsOf(call.upstream));
  const head: ChatChunk[] = [];
  try {
    for (;;) {
      const n = await source.next();
      if (n.done) {
        if (state.finished) break;
        throw new UpstreamStreamError(call.name, 'the stream ended before its first token');
      }
      head.push(n.value);
      if (carriesOutput(n.value)) break;
    }
  } catch (err) {
    ac.abort(err);
    throw err;
  }
  return { head, rest: source, state, reservedOutput: call.ctx.maxOutputTokens, abort: (reason?: unknown) => ac.abort(reason) };
}
