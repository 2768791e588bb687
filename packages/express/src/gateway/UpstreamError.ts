import { classifyError, redactSecrets, type ErrorKind } from '@llm-resilience/core';
import { readBounded } from './readBounded';
import { withoutSecrets } from './withoutSecrets';

const UPSTREAM_REDIRECT = 'ERR_LLMR_EXPRESS_UPSTREAM_REDIRECT';
const UPSTREAM_NOT_FOUND = 'ERR_LLMR_EXPRESS_UPSTREAM_NOT_FOUND';

/** Longer error bodies are not parsed (no provider's error is near this): kept, scrubbed, as text. */
const MAX_PARSED_CHARS = 1_000_000;

/**
 * The most of an error body that is read (1 MiB); the rest is not read and the body is cancelled.
 * Its text is at least 262 144 characters, far past the 64 000 kept: a key cut by this bound is never
 * in what is kept.
 */
const MAX_READ_BYTES = 1024 * 1024;

/** How much of an error body that is not JSON is kept (after the credentials are cut out of all of it). */
const MAX_TEXT_CHARS = 64_000;

const JSON_ESCAPE = /\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))/g;
const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * `text` with its JSON string escapes (`\/`, `\u002B`, `\n`, ...) decoded: a body that looks like JSON
 * but does not parse (cut short, malformed) may still carry a key written with escapes, which the
 * credentials it is scrubbed of would not match as written.
 */
function decodeJsonEscapes(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(JSON_ESCAPE, (_match, hex: string | undefined, simple: string | undefined) =>
    hex !== undefined ? String.fromCharCode(parseInt(hex, 16)) : SIMPLE_ESCAPES[simple!]!,
  );
}

/**
 * An upstream answered with a non-2xx status. Carries the status, the response headers
 * (`retry-after`, `x-ratelimit-*`) and the parsed error body, the shape `classifyError` reads, so
 * the engine classifies it like an SDK error (429 with `insufficient_quota` is quota, 529 is
 * overloaded, ...). Its message names the upstream, never its key; it is not sent to clients. The
 * credentials the call sent (`secrets`: the upstream's key, its credential-like headers) are cut out
 * of the body before anything reads it, so an upstream that echoes its key (`Incorrect API key
 * provided: <key>`) does not put it in the `alert` event, an error message, or this error itself: a
 * JSON body is parsed first and the credentials cut out of the parsed value ({@link withoutSecrets}:
 * a key the JSON escapes, `\/` or `\u002B`, is cut too; bounded to 10 000 values); a body that is not
 * JSON (or over 1 000 000 characters) is scrubbed whole as text, JSON escapes decoded, and only then
 * cut to 64 000 characters, so a key across the cut is not half kept. Values shorter than 8 characters
 * (`2023-06-01`) are never cut (core's `redactSecrets`). At most 1 MiB of the body is read (less when
 * `maxBytes` says so); a longer one is cancelled there, its connection closed, and kept as text (it
 * is not whole, so not parsed).
 *
 * @example
 * ```ts
 * const err = await UpstreamHttpError.from('openai', response, [apiKey]);
 * classifyError(err).kind; // 'rate_limited' for a 429
 * ```
 */
export class UpstreamHttpError extends Error {
  readonly status: number;
  readonly headers: Headers;
  /** The provider's error object (`body.error`, or the body itself), credentials cut out. */
  readonly error: unknown;
  /**
   * Set when the gateway, not the provider's payload, decides the kind: `unknown` for a redirect
   * (`ERR_LLMR_EXPRESS_UPSTREAM_REDIRECT`) and for a 404/405 without a provider error body
   * (`ERR_LLMR_EXPRESS_UPSTREAM_NOT_FOUND`): both fall back and answer 5xx, never the client's 400.
   */
  readonly kind?: ErrorKind;
  /** `ERR_LLMR_EXPRESS_UPSTREAM_REDIRECT` or `ERR_LLMR_EXPRESS_UPSTREAM_NOT_FOUND` when the kind is ours. */
  readonly code?: string;

  constructor(upstream: string, status: number, headers: Headers, error: unknown, detail: string, own?: { kind: ErrorKind; code: string }) {
    super(`Upstream '${upstream}' answered HTTP ${status}${detail ? `: ${detail}` : ''}.`);
    this.name = 'UpstreamHttpError';
    this.status = status;
    this.headers = headers;
    this.error = error;
    if (own !== undefined) {
      this.kind = own.kind;
      this.code = own.code;
    }
  }

  /**
   * Reads the error body of `response`, at most `maxBytes` bytes of it and never more than 1 MiB,
   * `secrets` cut out of it.
   *
   * @example
   * ```ts
   * if (!response.ok) throw await UpstreamHttpError.from('azure', response, [apiKey]);
   * ```
   */
  static async from(upstream: string, response: Response, secrets: readonly string[] = [], maxBytes: number = MAX_READ_BYTES): Promise<UpstreamHttpError> {
    if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
      // Not followed (its `Location` is not shown: it may carry a token); nothing in its body matters.
      void response.body?.cancel().catch(() => undefined);
      return new UpstreamHttpError(upstream, response.status, response.headers, undefined, 'a redirect, not followed (check the baseURL)', { kind: 'unknown', code: UPSTREAM_REDIRECT });
    }
    let text = '';
    let whole = true;
    try {
      const body = await readBounded(response, Math.min(maxBytes, MAX_READ_BYTES));
      text = new TextDecoder().decode(body.bytes);
      whole = !body.truncated;
    } catch {
      // body unreadable: the status is enough
    }
    let parsed: unknown;
    if (whole && text.length <= MAX_PARSED_CHARS) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    const inner = typeof parsed === 'object' && parsed !== null && 'error' in parsed ? (parsed as { error: unknown }).error : parsed;
    // Parsed: scrubbed as a value, escapes and all. Otherwise the whole text, before it is cut to length;
    // as written, then with JSON escapes decoded (a JSON body cut short or too long to parse).
    const error =
      inner !== undefined && inner !== null
        ? withoutSecrets(inner, secrets)
        : redactSecrets(decodeJsonEscapes(redactSecrets(text, secrets)), secrets).slice(0, MAX_TEXT_CHARS);
    const message = typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string' ? (error as { message: string }).message : '';
    const made = new UpstreamHttpError(upstream, response.status, response.headers, error, message.slice(0, 300));
    // A 404/405 is the server side's misconfiguration, not the client's request: a wrong baseURL or a
    // proxy route gone (an HTML "Cannot POST" page, and the providers' own JSON for an unknown path:
    // OpenAI's "Invalid URL", Anthropic's not_found_error, Azure's "Resource not found"). Unless it
    // says more (a model that does not exist: `auth`, as core reads it), it falls back and answers 5xx.
    if ((response.status === 404 || response.status === 405) && classifyError(made).kind === 'invalid_request') {
      return new UpstreamHttpError(upstream, response.status, response.headers, error, 'no such endpoint (check the baseURL)', { kind: 'unknown', code: UPSTREAM_NOT_FOUND });
    }
    return made;
  }
}

/**
 * A streaming reply broke: the connection ended before the upstream's final event, the data was
 * not valid JSON, or the upstream sent an error event (then `error` holds its payload, with the
 * credentials the call sent cut out, which decides the kind). Without a payload the kind is `network`.
 *
 * @example
 * ```ts
 * throw new UpstreamStreamError('openai', 'the stream ended before [DONE]');
 * ```
 */
export class UpstreamStreamError extends Error {
  /** Set when no provider payload explains the failure. */
  readonly kind?: ErrorKind;
  /** `ERR_LLMR_EXPRESS_STREAM_BROKEN` when the kind is ours. */
  readonly code?: string;
  readonly error?: unknown;

  constructor(upstream: string, detail: string, opts: { error?: unknown; cause?: unknown } = {}) {
    super(`The stream of upstream '${upstream}' broke: ${detail}.`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UpstreamStreamError';
    if (opts.error !== undefined) {
      this.error = opts.error;
    } else {
      this.kind = 'network';
      this.code = 'ERR_LLMR_EXPRESS_STREAM_BROKEN';
    }
  }
}

/**
 * An upstream answered 2xx to a non-streaming request with a body that is not a reply: not JSON
 * (the message names its size and media type, never its text), not an object, an OpenAI body without
 * a `choices` array, an Anthropic body without a `content` array, a body longer than the gateway's
 * `upstreamBodyLimit` (not read past it), or an error body (`{ "error": {...} }`) sent with status 200. With an error body, `error`
 * holds its payload, with the credentials the call sent cut out, which decides the kind
 * (`rate_limited`, `overloaded`, ...); without one the kind is `network`. Either way the engine retries or falls back, and the body never reaches the client.
 *
 * @example
 * ```ts
 * throw new UpstreamReplyError('openai', 'the body has no choices array');
 * ```
 */
export class UpstreamReplyError extends Error {
  /** Set when no provider payload explains the failure. */
  readonly kind?: ErrorKind;
  /** `ERR_LLMR_EXPRESS_UPSTREAM_BAD_REPLY` when the kind is ours. */
  readonly code?: string;
  readonly error?: unknown;

  constructor(upstream: string, detail: string, opts: { error?: unknown; cause?: unknown } = {}) {
    super(`Upstream '${upstream}' answered 2xx with a body that is not a reply: ${detail}.`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UpstreamReplyError';
    if (opts.error !== undefined) {
      this.error = opts.error;
    } else {
      this.kind = 'network';
      this.code = 'ERR_LLMR_EXPRESS_UPSTREAM_BAD_REPLY';
    }
  }
}

/**
 * A stream went silent after its first token for longer than `streamIdleTimeoutMs`; the gateway
 * stops reading and ends the reply with an error event. Kind `timeout`.
 *
 * @example
 * ```ts
 * openAIGateway({ engine, upstreams, auth, streamIdleTimeoutMs: 30_000 });
 * ```
 */
export class StreamIdleError extends Error {
  readonly kind = 'timeout' as const;
  readonly code = 'ERR_LLMR_EXPRESS_STREAM_IDLE';
  readonly idleMs: number;

  constructor(idleMs: number) {
    super(`The upstream stream sent nothing for ${idleMs} ms after its first token; it was abandoned. Raise streamIdleTimeoutMs if the model is this slow.`);
    this.name = 'StreamIdleError';
    this.idleMs = idleMs;
  }
}
