import type { AttemptContext, ResolvedTarget } from '@llm-resilience/core';
import type { UpstreamConfig } from '../types';
import { AnthropicStreamTranslator, fromAnthropicMessage, toAnthropicRequest } from './anthropicTranslate';
import { ChatRequestError } from './ChatRequestError';
import { carriesOutput, isObject, type ChatChunk, type ChatCompletion, type ChatRequestBody, type ChatUsage, type JsonObject } from './chatTypes';
import { readBounded, type BoundedBody } from './readBounded';
import { parseSse, SseEventTooLargeError } from './sse';
import { UpstreamHttpError, UpstreamReplyError, UpstreamStreamError } from './UpstreamError';
import { withoutSecrets } from './withoutSecrets';

const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';

/**
 * Everything one attempt against one upstream needs.
 *
 * @example
 * ```ts
 * const call: UpstreamCall = { name: 'openai', upstream, target, ctx, body, clientSignal, fetch, maxBodyBytes: 64 * 1024 * 1024 };
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
  /**
   * The gateway's `upstreamBodyLimit` in bytes: the largest 2xx body read, and the largest single
   * event of a stream (in characters, each line counting 33 more: see `parseSse`); an error body is
   * read up to it too, and at most 1 MiB.
   */
  maxBodyBytes: number;
  /**
   * The number of choices the client asked for (`n`, OpenAI-compatible upstreams only), 1 when absent.
   * With more than one and a client `max_tokens`, the engine's `ctx.maxOutputTokens` covers all of
   * them (the gateway asked for `n` times the cap); each choice gets the client's cap (see perChoiceCap).
   */
  choices?: number;
}

/**
 * The most chunks a stream may buffer before its first output (`carriesOutput`): past it the stream
 * is committed (the attempt resolves and the chunks go to the client) rather than held in memory
 * while the time-to-first-token timeout runs over a reply that is clearly under way (a long run of
 * chunks the gateway does not know as output, such as reasoning deltas).
 */
export const HEAD_CHUNK_LIMIT = 64;

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
  /**
   * The output tokens the attempt may have been billed for (its `max_tokens` times the choices `n`),
   * charged at least if the stream breaks off.
   */
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
  /**
   * Called for every event and SSE comment the upstream sends (pings and keep-alives included, which
   * yield no chunk): set by whoever watches the stream for silence.
   */
  onEvent?: (() => void) | undefined;
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
    const cap = perChoiceCap(call);
    // The newer field wins and goes alone: OpenAI refuses both at once, and an upstream that honours
    // `max_tokens` must not get the client's uncapped value beside the capped one.
    if (typeof body.max_completion_tokens === 'number') {
      payload.max_completion_tokens = cap;
      delete payload.max_tokens;
    } else if (typeof body.max_tokens === 'number') payload.max_tokens = cap;
    if (stream) payload.stream_options = { ...(isObject(body.stream_options) ? body.stream_options : {}), include_usage: true };
    else delete payload.stream_options;
    payload.stream = stream;
  }
  let text: string;
  try {
    text = JSON.stringify(payload);
  } catch (err) {
    // Only a body nested too deeply (or a string too long) makes JSON.stringify of parsed JSON throw.
    if (!(err instanceof RangeError)) throw err;
    // The client's body, not the upstream: kind `invalid_request` gives the breakers no verdict and
    // does not fall back. The gateway refuses such bodies before the engine runs (assertJsonDepth);
    // this is the guard behind it. Not the error as cause: it says nothing the client may read.
    throw new ChatRequestError('', 'invalid_value', 'Invalid request body: it cannot be forwarded as JSON (nested too deeply or too large).');
  }
  // Redirects are not followed: fetch would re-send the prompt, and every key header but
  // `Authorization` (`x-api-key`, Azure's `api-key`), to wherever `Location` points. A 3xx fails the
  // attempt (see UpstreamHttpError.from).
  return { url, init: { method: 'POST', headers: { ...headers, ...upstream.headers }, body: text, redirect: 'manual' } };
}

/** The choices of a call (`n`), at least 1. */
function choicesOf(call: UpstreamCall): number {
  return call.choices !== undefined && call.choices > 1 ? call.choices : 1;
}

/**
 * The `max_tokens` each choice gets: with one choice, what the engine reserved; with `n`, the client's
 * cap within the target's `maxOutputTokens` (the longest reply the model produces: a cap per reply,
 * not shared by the choices). The engine reserved `n` times the client's cap, at most the target's
 * `maxOutputTokens` in all: its reservation is then short of what `n` replies may use.
 */
function perChoiceCap(call: UpstreamCall): number {
  if (choicesOf(call) === 1) return call.ctx.maxOutputTokens;
  const { body, target } = call;
  const asked = typeof body.max_completion_tokens === 'number' ? body.max_completion_tokens : (body.max_tokens as number);
  return target.maxOutputTokens !== undefined ? Math.min(asked, target.maxOutputTokens) : asked;
}

/**
 * The output a streaming attempt may be billed for: with a client cap, what the engine reserved (all
 * choices); without one the engine's default output is per choice, so `n` times it.
 */
function reservedOutputOf(call: UpstreamCall): number {
  const capped = typeof call.body.max_completion_tokens === 'number' || typeof call.body.max_tokens === 'number';
  return capped ? call.ctx.maxOutputTokens : call.ctx.maxOutputTokens * choicesOf(call);
}

async function send(call: UpstreamCall, stream: boolean, signal: AbortSignal): Promise<Response> {
  const { url, init } = requestFor(call, stream);
  const response = await call.fetch(url, { ...init, signal });
  call.ctx.reportHeaders(response.headers);
  // A 3xx (or a browser-style opaque redirect, status 0) is no reply: UpstreamHttpError.from makes it a failed attempt.
  if (response.status < 200 || response.status >= 300) throw await UpstreamHttpError.from(call.name, response, credentialsOf(call.upstream), call.maxBodyBytes);
  return response;
}

const AUTH_SCHEME = /^(Bearer|Basic|Token)\s+/i;

/**
 * What an upstream's error (a non-2xx body, a 2xx error body, an in-stream error event) must not echo
 * on: its key and the values of its credential-like headers. Cut out before anything reads the error.
 * A header value with an auth scheme (`Bearer <token>`, `Token <token>`, `Basic <base64>`) is cut
 * whole and as its credential alone (what a provider echoes: `Incorrect API key provided: <token>`);
 * a `Basic` one also decoded, whole, and as its user and its password (an API key sent as the user
 * with an empty password, Stripe-style, is echoed alone).
 */
export function credentialsOf(upstream: UpstreamCall['upstream']): string[] {
  const out = upstream.apiKey !== undefined ? [upstream.apiKey] : [];
  for (const [name, value] of Object.entries(upstream.headers ?? {})) {
    if (!/key|auth|token|secret|password|cookie/i.test(name)) continue;
    out.push(value);
    const scheme = AUTH_SCHEME.exec(value);
    if (scheme === null) continue;
    const credential = value.slice(scheme[0].length).trim();
    if (credential === '') continue;
    out.push(credential);
    if (scheme[1]!.toLowerCase() === 'basic' && /^[A-Za-z0-9+/]+={0,2}$/.test(credential)) {
      const decoded = Buffer.from(credential, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      out.push(decoded);
      if (colon >= 0) out.push(decoded.slice(0, colon), decoded.slice(colon + 1));
    }
  }
  return out;
}

/**
 * What a `Content-Type` header may be shown as in a message: its media type when it is a plain
 * `type/subtype` of at most 100 characters, else `'none'` or `'unusual'` (the header is the
 * upstream's text, not ours to repeat).
 */
function mediaTypeOf(headers: Headers): string {
  const value = headers.get('content-type');
  if (value === null) return 'none';
  const type = value.split(';')[0]!.trim().toLowerCase();
  return type.length <= 100 && /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type) ? type : 'unusual';
}

/**
 * One non-streaming attempt: the upstream's reply as an OpenAI `chat.completion` (Anthropic
 * replies translated). Rejects with an {@link UpstreamHttpError} on a non-2xx status, and with an
 * {@link UpstreamReplyError} on a 2xx body that is not a reply (no `choices`, an error body, ...),
 * including one longer than `call.maxBodyBytes`: reading stops at the bound and the upstream's body
 * is cancelled (its connection closed), so a runaway reply costs neither memory nor the socket. The
 * error of a body that is not JSON names its size and media type, never its text (not even as its
 * `cause`: a parser's message quotes the body, which may echo a prompt).
 *
 * @example
 * ```ts
 * await engine.execute(request, (target, ctx) => completeUpstream({ ...base, target, ctx }));
 * ```
 */
export async function completeUpstream(call: UpstreamCall): Promise<ChatCompletion> {
  const ac = linkedController(call);
  const response = await send(call, false, ac.signal);
  let body: BoundedBody;
  try {
    body = await readBounded(response, call.maxBodyBytes, true);
  } catch (err) {
    if (ac.signal.aborted) throw ac.signal.reason;
    // The stream's own error (a reset connection): no body text in it.
    throw new UpstreamReplyError(call.name, 'reading the body failed', { cause: err });
  }
  if (body.truncated) {
    // The body is cancelled already; aborting the request makes sure its connection is not kept.
    ac.abort();
    throw new UpstreamReplyError(call.name, `the body is longer than upstreamBodyLimit (${call.maxBodyBytes} bytes); reading stopped there`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body.bytes));
  } catch {
    // Not the parser's error as cause: its message quotes the start of the body.
    throw new UpstreamReplyError(call.name, `the body is ${body.bytes.byteLength} bytes that are not JSON (content-type ${mediaTypeOf(response.headers)})`);
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
async function* openAIChunks(name: string, body: ReadableStream<Uint8Array>, state: StreamState, signal: AbortSignal, secrets: readonly string[], maxEventLength: number): AsyncGenerator<ChatChunk> {
  try {
    for await (const m of parseSse(body, maxEventLength, () => state.onEvent?.())) {
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
async function* anthropicChunks(name: string, body: ReadableStream<Uint8Array>, state: StreamState, signal: AbortSignal, secrets: readonly string[], maxEventLength: number): AsyncGenerator<ChatChunk> {
  const t = new AnthropicStreamTranslator(Math.floor(Date.now() / 1000));
  try {
    for await (const m of parseSse(body, maxEventLength, () => state.onEvent?.())) {
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
  if (err instanceof SseEventTooLargeError) {
    return new UpstreamStreamError(name, `an event grew past upstreamBodyLimit (${err.maxEventLength} characters) without ending; reading stopped there`);
  }
  if (signal.aborted) return signal.reason;
  return new UpstreamStreamError(name, 'reading the reply failed', { cause: err });
}

/**
 * One streaming attempt. Resolves only once the upstream answered 2xx and its first output chunk
 * arrived (so the engine may still retry or fall back before that), or {@link HEAD_CHUNK_LIMIT} chunks
 * without output did; rejects on a non-2xx status, an
 * error event or a stream that breaks before its first token. The returned stream keeps reading
 * after the attempt, until it ends or the client goes away. A single event (or line) that grows past
 * `call.maxBodyBytes` characters without ending breaks the stream like a cut: its body is cancelled.
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
      ? anthropicChunks(call.name, response.body, state, ac.signal, credentialsOf(call.upstream), call.maxBodyBytes)
      : openAIChunks(call.name, response.body, state, ac.signal, credentialsOf(call.upstream), call.maxBodyBytes);
  const head: ChatChunk[] = [];
  try {
    for (;;) {
      const n = await source.next();
      if (n.done) {
        if (state.finished) break;
        throw new UpstreamStreamError(call.name, 'the stream ended before its first token');
      }
      head.push(n.value);
      // Past the bound the reply is under way although nothing the gateway knows as output came yet:
      // committed, not buffered without end under the time-to-first-token timeout.
      if (carriesOutput(n.value) || head.length >= HEAD_CHUNK_LIMIT) break;
    }
  } catch (err) {
    ac.abort(err);
    throw err;
  }
  return { head, rest: source, state, reservedOutput: reservedOutputOf(call), abort: (reason?: unknown) => ac.abort(reason) };
}
