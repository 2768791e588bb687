import type { RateLimitSnapshot } from './ErrorKind';

/**
 * Any shape response headers arrive in: a WHATWG `Headers`, a plain object (any key case, values as
 * strings, numbers or arrays), a `Map`, or any object with a `get(name)` method (axios `AxiosHeaders`,
 * undici, ...). Functions in this module accept `unknown` and treat anything else as "no headers".
 *
 * @example
 * ```ts
 * const h: HeadersLike = { 'Retry-After': '2' };
 * parseRetryAfterMs(h, Date.now()); // 2000
 * ```
 */
export type HeadersLike =
  | Headers
  | Map<string, unknown>
  | Record<string, unknown>
  | { get(name: string): unknown };

/**
 * Reads one header by name, case-insensitively; `undefined` when absent or empty.
 *
 * @example
 * ```ts
 * const get: HeaderGetter = headerGetter(new Headers({ 'retry-after': '1' }));
 * get('Retry-After'); // '1'
 * ```
 */
export type HeaderGetter = (name: string) => string | undefined;

const NO_HEADERS: HeaderGetter = () => undefined;

function headerValueToString(value: unknown): string | undefined {
  try {
    let v = value;
    if (Array.isArray(v)) v = v[0];
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (typeof v !== 'string') return undefined;
    const trimmed = v.trim();
    return trimmed === '' ? undefined : trimmed;
  } catch {
    return undefined;
  }
}

function isMap(value: object): value is Map<unknown, unknown> {
  try {
    return Object.prototype.toString.call(value) === '[object Map]' && typeof (value as Map<unknown, unknown>).entries === 'function';
  } catch {
    return false;
  }
}

function isWhatwgHeaders(value: object): boolean {
  try {
    return typeof Headers === 'function' && value instanceof Headers;
  } catch {
    return false;
  }
}

/**
 * Normalizes any {@link HeadersLike} into one case-insensitive lookup function. Never throws: a
 * getter that throws, a revoked Proxy or garbage all read as "header absent".
 *
 * @example
 * ```ts
 * headerGetter({ 'X-RateLimit-Remaining-Requests': '9' })('x-ratelimit-remaining-requests'); // '9'
 * headerGetter(new Map([['Retry-After', '3']]))('retry-after'); // '3'
 * headerGetter(null)('retry-after'); // undefined
 * ```
 */
export function headerGetter(headers: unknown): HeaderGetter {
  if (headers === null || (typeof headers !== 'object' && typeof headers !== 'function')) return NO_HEADERS;
  try {
    // WHATWG Headers: `get` is already case-insensitive.
    if (isWhatwgHeaders(headers)) {
      const h = headers as Headers;
      return (name) => {
        try {
          return headerValueToString(h.get(name));
        } catch {
          return undefined;
        }
      };
    }
    // Map: keys may be in any case, so index them once.
    if (isMap(headers)) {
      const index = new Map<string, unknown>();
      let count = 0;
      for (const [key, value] of (headers as Map<unknown, unknown>).entries()) {
        if (++count > 1000) break;
        if (typeof key === 'string' && !index.has(key.toLowerCase())) index.set(key.toLowerCase(), value);
      }
      return (name) => headerValueToString(index.get(name.toLowerCase()));
    }
    // Anything else with a get(): AxiosHeaders, undici, a user's own wrapper.
    const get = (headers as { get?: unknown }).get;
    if (typeof get === 'function') {
      return (name) => {
        try {
          const direct = headerValueToString(get.call(headers, name));
          if (direct !== undefined) return direct;
          const lower = name.toLowerCase();
          return lower === name ? undefined : headerValueToString(get.call(headers, lower));
        } catch {
          return undefined;
        }
      };
    }
    // Plain object (Node's IncomingHttpHeaders, a JSON fixture, ...): index own keys lower-cased.
    const index = new Map<string, unknown>();
    const keys = Object.keys(headers);
    for (let i = 0; i < keys.length && i < 1000; i++) {
      const key = keys[i]!;
      const lower = key.toLowerCase();
      if (index.has(lower)) continue;
      try {
        index.set(lower, (headers as Record<string, unknown>)[key]);
      } catch {
        // a throwing getter: treat that header as absent
      }
    }
    return (name) => headerValueToString(index.get(name.toLowerCase()));
  } catch {
    return NO_HEADERS;
  }
}

const DURATION_UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  'µs': 0.001,
  'μs': 0.001,
  ns: 0.000001,
};
const DURATION_WHOLE = /^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ms|us|µs|μs|ns|h|m|s))+$/;
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|μs|ns|h|m|s)/g;
const PLAIN_NUMBER = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

/**
 * Parses a Go-style duration as used by OpenAI's `x-ratelimit-reset-*` headers and Google's
 * `RetryInfo.retryDelay` (`"6m0s"`, `"1s"`, `"12ms"`, `"59.5s"`, `"1h2m3s"`, `"19.42s"`) into
 * milliseconds, rounded to the nearest millisecond. A bare number is read as seconds. Returns
 * `undefined` for anything else (negative, empty, unknown unit).
 *
 * @example
 * ```ts
 * parseDuration('6m0s');   // 360000
 * parseDuration('19.42s'); // 19420
 * parseDuration('12ms');   // 12
 * parseDuration('soon');   // undefined
 * ```
 */
export function parseDuration(text: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  const value = text.trim();
  if (value === '' || value.length > 100) return undefined;
  if (PLAIN_NUMBER.test(value)) return finiteMs(Number(value) * 1000);
  if (!DURATION_WHOLE.test(value)) return undefined;
  let total = 0;
  for (const match of value.matchAll(DURATION_PART)) {
    total += Number(match[1]) * DURATION_UNIT_MS[match[2]!]!;
  }
  return finiteMs(total);
}

const ASCTIME = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

function finiteMs(ms: number): number | undefined {
  return Number.isFinite(ms) && ms >= 0 ? Math.round(ms) : undefined;
}

/** A `retry-after` value: delay-seconds (fractional allowed) or an HTTP date. */
function parseRetryAfterValue(value: string, now: number): number | undefined {
  if (PLAIN_NUMBER.test(value)) return finiteMs(Number(value) * 1000);
  // HTTP dates always name a day or month; this also keeps `Date.parse('-1')` (a valid year) out.
  if (!/[a-z]/i.test(value)) return undefined;
  // asctime (`Sun Nov  6 08:49:37 1994`) names no zone but is GMT (RFC 9110); Date.parse would take local time.
  const at = Date.parse(ASCTIME.test(value) ? `${value} GMT` : value);
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, Math.round(at - now));
}

/**
 * The provider's "wait this long" hint, in milliseconds, from response headers. Reads, first valid
 * wins: `retry-after-ms` (OpenAI), `x-ms-retry-after-ms` (Azure), then `retry-after` as
 * delay-seconds (`"2"`, `"1.5"`) or an HTTP date (relative to `now`; a past date gives 0).
 * Returns `undefined` when no header holds a usable value.
 *
 * @param headers any {@link HeadersLike}
 * @param now epoch milliseconds (inject your clock's `now()`)
 *
 * @example
 * ```ts
 * parseRetryAfterMs({ 'retry-after': '2' }, clock.now());                          // 2000
 * parseRetryAfterMs(new Headers({ 'x-ms-retry-after-ms': '350' }), clock.now());   // 350
 * parseRetryAfterMs({ 'Retry-After': 'Wed, 21 Oct 2015 07:28:00 GMT' }, Date.parse('2015-10-21T07:27:58Z')); // 2000
 * ```
 */
export function parseRetryAfterMs(headers: unknown, now: number): number | undefined {
  const get = headerGetter(headers);
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const raw = get(name);
    if (raw !== undefined && PLAIN_NUMBER.test(raw)) {
      const ms = finiteMs(Number(raw));
      if (ms !== undefined) return ms;
    }
  }
  const raw = get('retry-after');
  return raw === undefined ? undefined : parseRetryAfterValue(raw, now);
}

function parseCount(raw: string | undefined): number | undefined {
  if (raw === undefined || !PLAIN_NUMBER.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

/** Above this a bare-number reset is an epoch in milliseconds: as epoch seconds it would be ~31,700 years away. */
const EPOCH_MS_ABOVE = 1e12;
/** Above this (and up to {@link EPOCH_MS_ABOVE}) a bare-number reset is epoch seconds (2001 on), not a delay. */
const EPOCH_SECONDS_ABOVE = 1e9;

/**
 * A reset header into an absolute time: a Go duration (`"6m0s"`, OpenAI), an RFC 3339 / HTTP date
 * (Anthropic), or a bare number: seconds from now; above 1e9 epoch seconds; above 1e12 (13 digits)
 * epoch milliseconds (OpenRouter-style gateways), which as epoch seconds would lie millennia ahead.
 */
function parseResetAt(raw: string | undefined, now: number): number | undefined {
  if (raw === undefined) return undefined;
  if (PLAIN_NUMBER.test(raw)) {
    const n = Number(raw);
    if (!Number.isFinite(n)) return undefined;
    if (n > EPOCH_MS_ABOVE) return Math.round(n);
    return n > EPOCH_SECONDS_ABOVE ? Math.round(n * 1000) : now + Math.round(n * 1000);
  }
  const ms = parseDuration(raw);
  if (ms !== undefined) return now + ms;
  if (!/[a-z]/i.test(raw)) return undefined;
  const at = Date.parse(raw);
  return Number.isFinite(at) ? at : undefined;
}

type SnapshotKey = keyof RateLimitSnapshot;

/** [snapshot field, OpenAI header, Anthropic header, kind]; the OpenAI header wins when both exist. */
const RATE_LIMIT_FIELDS: ReadonlyArray<readonly [SnapshotKey, string | undefined, string, 'count' | 'reset']> = [
  ['limitRequests', 'x-ratelimit-limit-requests', 'anthropic-ratelimit-requests-limit', 'count'],
  ['remainingRequests', 'x-ratelimit-remaining-requests', 'anthropic-ratelimit-requests-remaining', 'count'],
  ['requestsResetAt', 'x-ratelimit-reset-requests', 'anthropic-ratelimit-requests-reset', 'reset'],
  ['limitTokens', 'x-ratelimit-limit-tokens', 'anthropic-ratelimit-tokens-limit', 'count'],
  ['remainingTokens', 'x-ratelimit-remaining-tokens', 'anthropic-ratelimit-tokens-remaining', 'count'],
  ['tokensResetAt', 'x-ratelimit-reset-tokens', 'anthropic-ratelimit-tokens-reset', 'reset'],
  ['limitInputTokens', undefined, 'anthropic-ratelimit-input-tokens-limit', 'count'],
  ['remainingInputTokens', undefined, 'anthropic-ratelimit-input-tokens-remaining', 'count'],
  ['inputTokensResetAt', undefined, 'anthropic-ratelimit-input-tokens-reset', 'reset'],
  ['limitOutputTokens', undefined, 'anthropic-ratelimit-output-tokens-limit', 'count'],
  ['remainingOutputTokens', undefined, 'anthropic-ratelimit-output-tokens-remaining', 'count'],
  ['outputTokensResetAt', undefined, 'anthropic-ratelimit-output-tokens-reset', 'reset'],
];

/**
 * Reads the provider's remaining-capacity headers into a {@link RateLimitSnapshot}:
 * OpenAI `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (reset as a Go duration such as
 * `"6m0s"`, `"12ms"`) and Anthropic `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
 * (reset as RFC 3339). Reset times become absolute epoch milliseconds computed from `now`.
 * Returns `undefined` when none of these headers is present and valid.
 *
 * @param headers any {@link HeadersLike}
 * @param now epoch milliseconds (inject your clock's `now()`)
 *
 * @example
 * ```ts
 * const snap = readRateLimitHeaders(
 *   { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' },
 *   1_000,
 * );
 * // { remainingTokens: 0, tokensResetAt: 361_000 }
 * ```
 */
export function readRateLimitHeaders(headers: unknown, now: number): RateLimitSnapshot | undefined {
  const get = headerGetter(headers);
  const snapshot: RateLimitSnapshot = {};
  let found = false;
  for (const [field, openAiName, anthropicName, kind] of RATE_LIMIT_FIELDS) {
    const parse = kind === 'count' ? (raw: string | undefined) => parseCount(raw) : (raw: string | undefined) => parseResetAt(raw, now);
    const value = (openAiName === undefined ? undefined : parse(get(openAiName))) ?? parse(get(anthropicName));
    if (value !== undefined) {
      snapshot[field] = value;
      found = true;
    }
  }
  return found ? snapshot : undefined;
}

/** A protobuf int64 as JSON or protobuf libraries give it: number, decimal string, `bigint` (protobuf-es), `Long` (protobufjs). */
function int64(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return PLAIN_NUMBER.test(v) ? Number(v) : undefined;
  if (typeof v === 'bigint') return Number(v);
  if (v !== null && typeof v === 'object') {
    const toNumber = (v as { toNumber?: unknown }).toNumber;
    if (typeof toNumber === 'function') {
      const n: unknown = toNumber.call(v);
      return typeof n === 'number' ? n : undefined;
    }
  }
  return undefined;
}

function protobufDurationMs(value: unknown): number | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  try {
    const { seconds, nanos } = value as { seconds?: unknown; nanos?: unknown };
    const s = int64(seconds);
    // Present but unreadable: no hint rather than a too-short one.
    if (s === undefined && seconds !== undefined && seconds !== null) return undefined;
    const n = typeof nanos === 'number' ? nanos : 0;
    if (s === undefined && typeof nanos !== 'number') return undefined;
    return finiteMs((s ?? 0) * 1000 + n / 1e6);
  } catch {
    return undefined;
  }
}

/**
 * The delay of a Google `google.rpc.RetryInfo` entry in an error's `details` array (Gemini API,
 * Vertex AI), in milliseconds. Accepts the JSON form (`retryDelay: "19.42s"`) and the protobuf
 * object form (`retryDelay: { seconds: 19, nanos: 420000000 }`). `undefined` when absent.
 *
 * @example
 * ```ts
 * retryInfoDelayMs([
 *   { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '19.42s' },
 * ]); // 19420
 * ```
 */
export function retryInfoDelayMs(details: unknown): number | undefined {
  try {
    if (!Array.isArray(details)) return undefined;
    for (let i = 0; i < details.length && i < 20; i++) {
      const entry: unknown = details[i];
      if (entry === null || typeof entry !== 'object') continue;
      const type = (entry as Record<string, unknown>)['@type'];
      if (typeof type !== 'string' || !type.endsWith('google.rpc.RetryInfo')) continue;
      const delay = (entry as Record<string, unknown>)['retryDelay'];
      const ms = typeof delay === 'string' ? parseDuration(delay) : protobufDurationMs(delay);
      if (ms !== undefined) return ms;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * When a rate-limited call may pass again by its remaining-quota headers: the latest reset among the
 * dimensions at 0 remaining (requests, tokens, input tokens, output tokens), in ms from `now`.
 * `undefined` when no dimension is exhausted (the headers then say nothing about this 429).
 *
 * @example
 * ```ts
 * const snap = readRateLimitHeaders({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '20s' }, now);
 * retryAfterFromRateLimit(snap!, now); // 20000
 * ```
 */
export function retryAfterFromRateLimit(snap: RateLimitSnapshot, now: number): number | undefined {
  let wait: number | undefined;
  const consider = (remaining: number | undefined, resetAt: number | undefined): void => {
    if (remaining !== undefined && remaining <= 0 && resetAt !== undefined) wait = Math.max(wait ?? 0, Math.max(0, Math.round(resetAt - now)));
  };
  consider(snap.remainingRequests, snap.requestsResetAt);
  consider(snap.remainingTokens, snap.tokensResetAt);
  consider(snap.remainingInputTokens, snap.inputTokensResetAt);
  consider(snap.remainingOutputTokens, snap.outputTokensResetAt);
  return wait;
}
