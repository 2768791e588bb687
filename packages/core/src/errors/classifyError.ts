import type { ClassifiedError, ErrorKind, RateLimitSnapshot } from './ErrorKind';
import { isErrorKind } from './isErrorKind';
import { KEY_FORMATS_ONLY, toTextRedactor, type Redactor, type RedactOptions, type TextRedactor } from './Redactor';
import { parseDuration, parseRetryAfterMs, readRateLimitHeaders, retryAfterFromRateLimit, retryInfoDelayMs } from './retryHints';
import { MAX_TEXT, sanitizeMessage } from './sanitizeMessage';

/**
 * Options of {@link classifyError}.
 *
 * @example
 * ```ts
 * classifyError(err, { now: clock.now() });
 * ```
 */
export interface ClassifyErrorOptions {
  /** Epoch milliseconds used to turn HTTP dates and reset durations into delays/times. Default `Date.now()`. */
  now?: number;
  /**
   * Cuts the app's own secrets and patterns out of `message` and `code`, besides the key formats the core
   * knows (the engine passes the one its `redact` option builds). A {@link Redactor}; or
   * {@link RedactOptions} (`{ secrets, patterns }`, built into a `Redactor` on each call, so secrets added
   * to the object later are seen); or
   * any object with a `redact(text)` method, such as a `Redactor` of the package's other build (ES module
   * or CommonJS), whose output still has the built-in key formats cut. Anything else makes
   * `classifyError` throw a `TypeError`, rather than classify with nothing of the app's cut. Default:
   * the built-in key formats only.
   */
  redact?: TextRedactor | RedactOptions;
}

/** How far the `.cause` / `.errors` / `.originalError` graph is followed. */
const MAX_NODES = 12;
const MAX_DEPTH = 8;
const MAX_PAYLOAD_DEPTH = 4;
const MAX_JSON = 100_000;

// ---------------------------------------------------------------------------------------------
// Safe access: every read of a foreign value may throw (getters, Proxies, revoked Proxies).
// ---------------------------------------------------------------------------------------------

function isObjectLike(value: unknown): value is object {
  return value !== null && (typeof value === 'object' || typeof value === 'function');
}

function prop(target: unknown, key: PropertyKey): unknown {
  if (!isObjectLike(target)) return undefined;
  try {
    return (target as Record<PropertyKey, unknown>)[key];
  } catch {
    return undefined;
  }
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

function tag(value: object): string {
  try {
    return Object.prototype.toString.call(value);
  } catch {
    return '';
  }
}

function isArray(value: unknown): value is unknown[] {
  try {
    return Array.isArray(value);
  } catch {
    return false;
  }
}

function isErrorLike(value: unknown): boolean {
  if (!isObjectLike(value)) return false;
  if (tag(value) === '[object Error]') return true;
  try {
    if (value instanceof Error) return true;
  } catch {
    // getPrototypeOf trap threw
  }
  return typeof prop(value, 'message') === 'string' && typeof prop(value, 'stack') === 'string';
}

/** A fetch `Response` (or look-alike): status + headers; its body is a stream and is never read. */
function isResponseLike(value: object): boolean {
  if (tag(value) === '[object Response]') return true;
  return (
    typeof prop(value, 'ok') === 'boolean' &&
    typeof prop(value, 'status') === 'number' &&
    typeof prop(value, 'statusText') === 'string' &&
    isObjectLike(prop(value, 'headers'))
  );
}

function toStatus(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{3}$/.test(value.trim()) ? Number(value) : NaN;
  return Number.isInteger(n) && n >= 100 && n <= 599 ? n : undefined;
}

function parseJson(text: string): unknown {
  const t = text.trim();
  if (t.length > MAX_JSON || (t[0] !== '{' && t[0] !== '[')) return undefined;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return undefined;
  }
}

/** Longest text before an error body embedded in a message (`got status: 429 Too Many Requests. {...}`). */
const MAX_BODY_PREFIX = 200;

/**
 * A provider error body in a message: the whole message (`@google/genai`, a Gemini body passed on
 * as another SDK's error message), or an `{ "error": ... }` object after a short prefix (the older
 * Google SDKs: `got status: 429 Too Many Requests. {...}`).
 */
function embeddedBody(text: string): unknown {
  const whole = parseJson(text);
  if (whole !== undefined) return whole;
  const at = text.indexOf('{');
  if (at <= 0 || at > MAX_BODY_PREFIX) return undefined;
  const body = parseJson(text.slice(at));
  return isObjectLike(body) && !isArray(body) && prop(body, 'error') !== undefined ? body : undefined;
}

/** The first `n` items of `list`, or none when reading them throws (a hostile array). */
function firstItems(list: readonly unknown[], n: number): unknown[] {
  try {
    return list.slice(0, n);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Facts: what one error object says about itself.
// ---------------------------------------------------------------------------------------------

interface Facts {
  status?: number;
  /** Provider codes / types / gRPC statuses / LangChain codes, original case, most specific first. */
  tokens: string[];
  /** Node / undici / axios transport code (`ECONNRESET`, `UND_ERR_HEADERS_TIMEOUT`, ...). */
  sysCode?: string;
  /** `name` and constructor name. */
  names: string[];
  /** Messages from a provider's error body. */
  providerMessages: string[];
  /** The error's own `.message`. */
  message?: string;
  details: unknown[];
  /** A Google `google.rpc.ErrorInfo` reason (`API_KEY_INVALID`), from `details` or a google-gax error's `reason`. */
  reason?: string;
  retryAfterMs?: number;
  rateLimit?: RateLimitSnapshot;
  own?: { kind: ErrorKind; retryAfterMs?: number };
  children: unknown[];
}

const GRPC_MESSAGE = /^(\d{1,2}) ([A-Z][A-Z_]{2,}): /;

const SYS_CODE = /^(?:E[A-Z0-9_]{2,}|UND_ERR_[A-Z0-9_]+|ERR_[A-Z0-9_]+|ABORT_ERR)$/;

function pushToken(facts: Facts, value: unknown): void {
  const s = str(value);
  if (s === undefined || s.length > 100 || s.toLowerCase() === 'error') return;
  if (!facts.tokens.includes(s)) facts.tokens.push(s);
}

function pushStatus(facts: Facts, value: unknown): void {
  if (facts.status === undefined) facts.status = toStatus(value);
}

function pushMessage(list: string[], value: unknown): void {
  const s = str(value);
  if (s !== undefined && !list.includes(s)) list.push(s);
}

/** A provider's error code written as a bare string (`rate_limit_exceeded`, `overloaded_error`), not a sentence. */
const CODE = '[a-z][a-z0-9_]*';
const CODE_LIKE = new RegExp(`^${CODE}$`);
/** A whole body that is one code, bare or as a JSON string (`"overloaded_error"`), blanks around it allowed. */
const BARE_CODE = new RegExp(`^\\s*(?:(${CODE})|"(${CODE})")\\s*$`);

/** Reads a provider error body: OpenAI/Azure `{ error: {...} }`, Anthropic `{ type, error: {...} }`, Google `{ error: { code, status, details } }`. */
function readPayload(facts: Facts, payload: unknown, depth: number): void {
  if (depth > MAX_PAYLOAD_DEPTH) return;
  if (typeof payload === 'string') {
    const parsed = parseJson(payload);
    if (parsed !== undefined) {
      readPayload(facts, parsed, depth + 1);
      return;
    }
    // A body that is only a code (`"overloaded_error"`, JSON or plain text) is read as `error: "code"` is.
    const code = payload.length <= 200 ? BARE_CODE.exec(payload) : null;
    if (code !== null) pushToken(facts, code[1] ?? code[2]);
    else if (payload.length <= 1000 && !payload.trimStart().startsWith('<')) pushMessage(facts.providerMessages, payload);
    return;
  }
  if (isArray(payload)) {
    readPayload(facts, payload[0], depth + 1);
    return;
  }
  if (!isObjectLike(payload) || isErrorLike(payload)) return;
  const t = tag(payload);
  if (t !== '[object Object]') return; // streams, buffers, Maps: not a JSON body

  // A body passed on as the message of another (e.g. Gemini's behind an OpenAI-compatible endpoint):
  // read first, since it is more specific than the wrapper's status and code.
  const message = prop(payload, 'message');
  const nested = typeof message === 'string' ? embeddedBody(message) : undefined;
  if (nested !== undefined) readPayload(facts, nested, depth + 1);

  const inner = prop(payload, 'error');
  if (isObjectLike(inner)) readPayload(facts, inner, depth + 1);
  else if (typeof inner === 'string') {
    if (CODE_LIKE.test(inner)) pushToken(facts, inner);
    else pushMessage(facts.providerMessages, inner);
  }

  const details = prop(payload, 'details');
  pushToken(facts, prop(details, 'error_code')); // Anthropic `error.details.error_code`
  const code = prop(payload, 'code');
  if (typeof code === 'number' || toStatus(code) !== undefined) pushStatus(facts, code);
  else pushToken(facts, code);
  pushToken(facts, prop(payload, 'type'));
  const status = prop(payload, 'status');
  if (typeof status === 'number' || toStatus(status) !== undefined) pushStatus(facts, status);
  else pushToken(facts, status);
  pushToken(facts, prop(prop(payload, 'innererror'), 'code')); // Azure
  pushToken(facts, prop(payload, 'error_code'));
  if (nested === undefined) pushMessage(facts.providerMessages, message);
  pushMessage(facts.providerMessages, prop(payload, 'error_description'));
  if (isArray(details)) facts.details.push(...firstItems(details, 20));
}

function extractFacts(node: unknown, now: number): Facts {
  const facts: Facts = { tokens: [], names: [], providerMessages: [], details: [], children: [] };
  if (typeof node === 'string') {
    facts.message = node;
    return facts;
  }
  if (!isObjectLike(node)) return facts;
  try {
    readNode(facts, node, now);
  } catch {
    // A hostile object (throwing Proxy trap, getter): keep whatever was read before it threw.
  }
  return facts;
}

function readNode(facts: Facts, node: object, now: number): void {
  const response = isResponseLike(node);

  // Our own errors keep their kind.
  const kind = prop(node, 'kind');
  const code = prop(node, 'code');
  if (isErrorKind(kind) && typeof code === 'string' && code.startsWith('ERR_LLMR_')) {
    const retry = prop(node, 'retryAfterMs');
    facts.own = { kind };
    // Infinity is kept: "can never pass" (a request larger than a limit's bucket), see NEVER_FITS_TEXT.
    if (typeof retry === 'number' && retry >= 0) facts.own.retryAfterMs = retry;
    facts.tokens.push(code);
  }

  pushMessage(facts.names, prop(node, 'name'));
  pushMessage(facts.names, prop(prop(node, 'constructor'), 'name'));
  if (!response) facts.message = str(prop(node, 'message'));

  pushStatus(facts, prop(node, 'status'));
  pushStatus(facts, prop(node, 'statusCode'));
  // ollama-js `ResponseError` (also behind @langchain/ollama): `status_code`, a number.
  const statusCode = prop(node, 'status_code');
  if (typeof statusCode === 'number') pushStatus(facts, statusCode);
  if (!facts.own) {
    if (typeof code === 'string') {
      if (SYS_CODE.test(code)) facts.sysCode = code;
      else if (toStatus(code) !== undefined) pushStatus(facts, code);
      else pushToken(facts, code);
    } else pushStatus(facts, code);
  }
  if (!response) {
    pushToken(facts, prop(node, 'errorCode')); // Anthropic SDK's `error.details.error_code`
    pushToken(facts, prop(node, 'type'));
    const status = prop(node, 'status');
    if (typeof status === 'string' && toStatus(status) === undefined) pushToken(facts, status);
  }
  pushToken(facts, prop(node, 'lc_error_code'));

  let headers: unknown = prop(node, 'headers');

  // axios-like `.response`
  const res = prop(node, 'response');
  if (isObjectLike(res) && res !== node) {
    pushStatus(facts, prop(res, 'status'));
    pushStatus(facts, prop(res, 'statusCode'));
    if (!isObjectLike(headers)) headers = prop(res, 'headers');
    readPayload(facts, prop(res, 'data'), 0);
    if (!isResponseLike(res)) readPayload(facts, prop(res, 'body'), 0);
  }

  if (!response) {
    const err = prop(node, 'error');
    if (isErrorLike(err)) facts.children.push(err);
    else readPayload(facts, err, 0);
    readPayload(facts, prop(node, 'body'), 0);
    const errorDetails = prop(node, 'errorDetails'); // @google/generative-ai
    if (isArray(errorDetails)) facts.details.push(...firstItems(errorDetails, 20));
    // gRPC (@grpc/grpc-js, google-gax): numeric `code`, status name in the message (`8 RESOURCE_EXHAUSTED: ...`).
    const grpc = facts.message === undefined ? null : GRPC_MESSAGE.exec(facts.message);
    if (grpc !== null && typeof code === 'number' && code === Number(grpc[1])) pushToken(facts, grpc[2]);
    // @google/genai puts the JSON body in the message; older Google SDKs after a status line.
    if (facts.message !== undefined) {
      const parsed = embeddedBody(facts.message);
      if (parsed !== undefined) {
        readPayload(facts, parsed, 0);
        facts.message = undefined;
      }
    }
  }

  if (isObjectLike(headers)) {
    facts.retryAfterMs = parseRetryAfterMs(headers, now);
    facts.rateLimit = readRateLimitHeaders(headers, now);
  }
  facts.retryAfterMs ??= retryInfoDelayMs(facts.details);
  facts.reason = errorInfoReason(facts.details);
  // google-gax's GoogleError copies the ErrorInfo onto the error: `reason`, `domain`, `errorInfoMetadata`.
  if (facts.reason === undefined && str(prop(node, 'domain')) !== undefined) facts.reason = str(prop(node, 'reason'));
  facts.retryAfterMs ??= retryHintFromText([...facts.providerMessages, facts.message]);
  if (facts.own?.retryAfterMs !== undefined) facts.retryAfterMs = facts.own.retryAfterMs;

  // Links to follow.
  const cause = prop(node, 'cause');
  if (isObjectLike(cause) || typeof cause === 'string') facts.children.push(cause);
  const errors = prop(node, 'errors');
  if (isArray(errors)) facts.children.push(...firstItems(errors, 5));
  const original = prop(node, 'originalError');
  if (isObjectLike(original)) facts.children.push(original);
}

/**
 * The `reason` of the first Google `google.rpc.ErrorInfo` entry in an error's `details` (Gemini API,
 * Vertex AI; the JSON body's `details` or `@google/generative-ai`'s `errorDetails`), e.g. `API_KEY_INVALID`.
 */
function errorInfoReason(details: readonly unknown[]): string | undefined {
  for (let i = 0; i < details.length && i < 20; i++) {
    const entry = details[i];
    const type = prop(entry, '@type');
    if (typeof type !== 'string' || !type.endsWith('google.rpc.ErrorInfo')) continue;
    const reason = str(prop(entry, 'reason'));
    if (reason !== undefined && reason.length <= 100) return reason;
  }
  return undefined;
}

const RETRY_TEXT_DURATION = /(?:try again|retry)\s+(?:in|after)\s+((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)(?![a-z])/i;
const RETRY_TEXT_WORDS = /(?:try again|retry)\s+(?:in|after)\s+(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?)\b/i;

/** "Please try again in 6.5s" (OpenAI), "Please retry after 6 seconds" (Azure). */
function retryHintFromText(texts: Array<string | undefined>): number | undefined {
  for (const text of texts) {
    if (text === undefined) continue;
    const t = text.slice(0, MAX_TEXT);
    const d = RETRY_TEXT_DURATION.exec(t);
    if (d) {
      const ms = parseDuration(d[1]!);
      if (ms !== undefined) return ms;
    }
    const w = RETRY_TEXT_WORDS.exec(t);
    if (w) {
      const n = Number(w[1]);
      const ms = /^m/i.test(w[2]!) ? n : n * 1000;
      if (Number.isFinite(ms)) return Math.round(ms);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Decision: one kind per error object, with how much evidence backs it.
// ---------------------------------------------------------------------------------------------

/** Evidence strength: the strongest verdict in the cause chain wins; ties go to the outermost. */
const RANK = { own: 5, specific: 4, status: 3, text: 2, wrapper: 1 } as const;

interface Verdict {
  kind: ErrorKind;
  rank: number;
  code?: string;
  /** An abort whose reason (further down the chain) may say "timeout". */
  deferrable?: boolean;
}

const set = (...items: string[]): ReadonlySet<string> => new Set(items);

const QUOTA_TOKENS = set(
  'insufficient_quota',
  'billing_hard_limit_reached',
  'billing_error',
  'billing_not_active',
  'contract_spend_limit_reached',
  'enforced_spend_limit_reached',
  'linked_organization_spend_limit_reached',
  'linked_organization_billing_unavailable',
);
const CONTEXT_TOKENS = set('context_length_exceeded', 'context_overflow', 'prompt_too_long');
const POLICY_TOKENS = set('content_filter', 'content_policy_violation', 'responsibleaipolicyviolation', 'invalid_prompt', 'moderation_blocked');
const RATE_TOKENS = set('rate_limit_exceeded', 'rate_limit_error', 'ramp_limit_exceeded', 'too_many_requests', 'rate_limited');
const OVERLOADED_TOKENS = set('overloaded_error', 'engine_overloaded', 'server_overloaded', 'server_is_overloaded', 'overloaded');
const TIMEOUT_TOKENS = set('timeout_error', 'request-timeout', 'body-timeout', 'request_timeout');
/**
 * Google `ErrorInfo` reasons (domain `googleapis.com`, google.api.ErrorReason) about the key, the
 * credentials or the project's access to the API: the target's configuration, which another target
 * (another key, another provider) does not share, so `auth` whatever the status. Gemini answers a bad
 * or expired key with a **400** `INVALID_ARGUMENT` and `API_KEY_INVALID`, which would otherwise be
 * `invalid_request` and stop the route. Quota, rate and billing reasons (`RATE_LIMIT_EXCEEDED`,
 * `RESOURCE_QUOTA_EXCEEDED`, `BILLING_DISABLED`) are left to the status and message rules.
 */
const AUTH_REASONS = set(
  'api_key_invalid',
  'api_key_expired',
  'api_key_service_blocked',
  'api_key_http_referrer_blocked',
  'api_key_ip_address_blocked',
  'api_key_android_app_blocked',
  'api_key_ios_app_blocked',
  'access_token_expired',
  'access_token_scope_insufficient',
  'access_token_type_unsupported',
  'credentials_missing',
  'service_disabled',
  'consumer_invalid',
  'consumer_suspended',
  'user_project_denied',
);
const AUTH_TOKENS = set('authentication_error', 'permission_error', 'invalid_api_key', 'invalid_organization', 'account_deactivated');
/**
 * Broad "not found" codes: with {@link MODEL_MISSING_TEXT} they say the model is missing. LangChain's
 * `MODEL_NOT_FOUND` is one: `@langchain/openai` stamps it on every 404 (a stale `previous_response_id`
 * too), so only the provider's own lower-case `model_not_found` is decisive (see {@link modelMissingCode}).
 */
const NOT_FOUND_TOKENS = set('not_found', 'not_found_error', 'notfounderror', 'model_not_found');

/**
 * The provider's own code saying the model or deployment does not exist for this key (retired, misspelt
 * in the policy, not enabled for the project): OpenAI's `model_not_found` (as it sends it, lower case:
 * LangChain's upper-case `MODEL_NOT_FOUND` is put on any 404) or Azure's `DeploymentNotFound`. No
 * request can succeed there, any other target may serve it, and someone must fix the configuration: so
 * `auth`, not `invalid_request` (which stops the route: "the same request fails everywhere").
 */
function modelMissingCode(tokens: readonly string[]): string | undefined {
  return tokens.find((t) => t === 'model_not_found' || t.toLowerCase() === 'deploymentnotfound');
}
/**
 * A 404 or "not found" error about the model: Anthropic `model: claude-x`, Gemini `models/gemini-x is
 * not found for API version v1beta`, Ollama `model "x" not found, try pulling it first`, vLLM and
 * OpenAI-compatible servers `The model \`x\` does not exist`.
 */
const MODEL_MISSING_TEXT = /^model: \S+\s*$|\bmodels?\b[^\n]{0,160}?\b(?:not found|does not exist|do(?:es)? not have access)\b/im;
const VALIDATION_TOKENS = set('output_parsing_failure');

/** Broad codes (gRPC statuses, generic types, LangChain codes): used after the HTTP status. */
const GENERIC_TOKENS: ReadonlyMap<string, ErrorKind> = new Map<string, ErrorKind>([
  ['resource_exhausted', 'rate_limited'],
  ['model_rate_limit', 'rate_limited'],
  ['unavailable', 'overloaded'],
  ['service_unavailable', 'overloaded'],
  ['service_unavailable_error', 'overloaded'],
  ['deadline_exceeded', 'timeout'],
  ['unauthenticated', 'auth'],
  ['permission_denied', 'auth'],
  ['model_authentication', 'auth'],
  ['invalid_argument', 'invalid_request'],
  ['not_found', 'invalid_request'],
  ['failed_precondition', 'invalid_request'],
  ['out_of_range', 'invalid_request'],
  ['already_exists', 'invalid_request'],
  ['invalid_request_error', 'invalid_request'],
  ['not_found_error', 'invalid_request'],
  ['conflict_error', 'invalid_request'],
  ['request_too_large', 'invalid_request'],
  ['model_not_found', 'invalid_request'],
  ['invalid_prompt_input', 'invalid_request'],
  ['invalid_tool_results', 'invalid_request'],
  ['message_coercion_failure', 'invalid_request'],
]);

const GENERIC_TOKEN_NAMES: ReadonlySet<string> = new Set(GENERIC_TOKENS.keys());

const ABORT_NAMES = set('aborterror', 'apiuseraborterror', 'modelaborterror', 'cancelederror');
const ABORT_TOKENS = set('model_aborted', 'cancelled');
const TIMEOUT_NAMES = set(
  'timeouterror',
  'apiconnectiontimeouterror',
  'connecttimeouterror',
  'headerstimeouterror',
  'bodytimeouterror',
);
const CONTEXT_NAMES = set('contextoverflowerror');
const POLICY_NAMES = set('modelrefusalerror', 'contentfilterfinishreasonerror');
const VALIDATION_NAMES = set('outputparserexception', 'lengthfinishreasonerror');
/** SDK class names (openai, @anthropic-ai/sdk and look-alikes): only used when no HTTP status was found. */
const CLASS_NAMES: ReadonlyMap<string, ErrorKind> = new Map<string, ErrorKind>([
  ['ratelimiterror', 'rate_limited'],
  ['authenticationerror', 'auth'],
  ['permissiondeniederror', 'auth'],
  ['overloadederror', 'overloaded'],
  ['serviceunavailableerror', 'overloaded'],
  ['gatewaytimeouterror', 'timeout'],
  ['requesttimeouterror', 'timeout'],
  ['paymentrequirederror', 'quota_exhausted'],
  ['badrequesterror', 'invalid_request'],
  ['notfounderror', 'invalid_request'],
  ['conflicterror', 'invalid_request'],
  ['unprocessableentityerror', 'invalid_request'],
  ['contenttoolargeerror', 'invalid_request'],
]);

const TIMEOUT_SYS = set(
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
);
const NETWORK_SYS = set(
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPROTO',
  'ENETRESET',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'ERR_SOCKET_CLOSED',
  'ERR_HTTP2_STREAM_CANCEL',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_NETWORK',
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_SESSION_ERROR',
  'ERR_HTTP2_GOAWAY_SESSION',
);
const CANCEL_SYS = set('ABORT_ERR', 'ERR_CANCELED', 'UND_ERR_ABORTED');

const QUOTA_TEXT =
  /billing|credit balance|exceeded your current quota|insufficient (?:quota|credits?|funds|balance)|spend(?:ing)? limit|payment required|out of credits/i;
const CONTEXT_TEXT =
  /maximum context length|context[ _-]length|context window|context limit|prompt is too long|prompt_too_long|too many (?:input )?tokens|input token count|exceeds? the maximum (?:number of )?tokens|reduce the length of the (?:messages|prompt|input)|input is too long|input tokens exceed/i;
const POLICY_TEXT =
  /content management policy|content[ _-]policy|content[ _-]filter|flagged as potentially violating|usage polic(?:y|ies)|responsible ?ai|safety (?:system|filter|settings)|blocked (?:due to|for) safety|prohibited content/i;
/**
 * A 429 about one request that alone exceeds a rate limit, which no wait fixes: OpenAI's "Request too
 * large for gpt-4o in organization org-… on tokens per min (TPM): Limit 30000, Requested 50000. The
 * input or output tokens must be reduced in order to run successfully." (code `rate_limit_exceeded`,
 * no retry hint). Such a `rate_limited` error gets `retryAfterMs: Infinity`, "never", as a
 * `RateLimitExceededError` of our own limiter has for a request larger than the bucket.
 */
const NEVER_FITS_TEXT = /\brequest (?:is )?too large\b|\bmust be reduced in order to run\b/i;
const TIMEOUT_TEXT = /timed? ?out|timeout/i;
const NETWORK_TEXT =
  /socket hang up|^terminated$|premature close|other side closed|econnreset|econnrefused|epipe|network (?:error|request failed)|connection (?:reset|refused|closed|lost)|getaddrinfo/i;
const NETWORK_WRAPPER_TEXT = /^(?:fetch failed|connection error\.?)$/i;
const CANCEL_TEXT = /^request was aborted\.?$|operation was aborted|user aborted|aborted by the user/i;

function firstIn(values: readonly string[], wanted: ReadonlySet<string>): string | undefined {
  return values.find((v) => wanted.has(v.toLowerCase()));
}

function decide(facts: Facts): Verdict | undefined {
  if (facts.own) return { kind: facts.own.kind, rank: RANK.own, code: facts.tokens[0]! };
  const { status, tokens, names, sysCode } = facts;
  const hit = (kind: ErrorKind, rank: number, code?: string): Verdict => (code === undefined ? { kind, rank } : { kind, rank, code });

  // Cancellation, then explicit timeouts.
  const abortName = firstIn(names, ABORT_NAMES);
  const abortToken = firstIn(tokens, ABORT_TOKENS);
  if (abortName !== undefined || abortToken !== undefined || (sysCode !== undefined && CANCEL_SYS.has(sysCode))) {
    return { ...hit('cancelled', RANK.specific, abortToken ?? sysCode ?? abortName), deferrable: true };
  }
  const timeoutName = firstIn(names, TIMEOUT_NAMES);
  if (timeoutName !== undefined) return hit('timeout', RANK.specific, sysCode ?? timeoutName);

  // A success status is not an error (e.g. Azure 200 with finish_reason content_filter).
  if (status !== undefined && status < 400) return undefined;

  // Specific provider codes beat the HTTP status (insufficient_quota arrives as a 429).
  const specific: Array<[ReadonlySet<string>, ErrorKind]> = [
    [QUOTA_TOKENS, 'quota_exhausted'],
    [CONTEXT_TOKENS, 'context_length'],
    [POLICY_TOKENS, 'policy_rejected'],
    [RATE_TOKENS, 'rate_limited'],
    [OVERLOADED_TOKENS, 'overloaded'],
    [TIMEOUT_TOKENS, 'timeout'],
    [AUTH_TOKENS, 'auth'],
    [VALIDATION_TOKENS, 'validation_failed'],
  ];
  for (const [tokenSet, kind] of specific) {
    const code = firstIn(tokens, tokenSet);
    if (code !== undefined) return hit(kind, RANK.specific, code);
  }
  if (facts.reason !== undefined && AUTH_REASONS.has(facts.reason.toLowerCase())) return hit('auth', RANK.specific, facts.reason);
  const missingModel = modelMissingCode(tokens);
  if (missingModel !== undefined) return hit('auth', RANK.specific, missingModel);
  const namedKind = firstIn(names, CONTEXT_NAMES)
    ? 'context_length'
    : firstIn(names, POLICY_NAMES)
      ? 'policy_rejected'
      : firstIn(names, VALIDATION_NAMES)
        ? 'validation_failed'
        : undefined;
  if (namedKind !== undefined) return hit(namedKind, RANK.specific, tokens[0]);

  // What the provider's message says, for bodies without a specific code.
  const texts = [...facts.providerMessages, facts.message ?? ''].map((t) => t.slice(0, MAX_TEXT)).join('\n');
  const structured = status !== undefined || tokens.length > 0;
  const textRank = structured ? RANK.specific : RANK.text;
  const clientError = status === undefined || (status >= 400 && status < 500 && status !== 429);
  if ((status === undefined || [400, 402, 403, 429].includes(status)) && facts.retryAfterMs === undefined && QUOTA_TEXT.test(texts)) {
    return hit('quota_exhausted', textRank, tokens[0]);
  }
  if (clientError && CONTEXT_TEXT.test(texts)) return hit('context_length', textRank, tokens[0]);
  if (clientError && POLICY_TEXT.test(texts)) return hit('policy_rejected', textRank, tokens[0]);
  if ((status === 404 || (status === undefined && firstIn(tokens, NOT_FOUND_TOKENS) !== undefined)) && MODEL_MISSING_TEXT.test(texts)) {
    return hit('auth', textRank, tokens[0]);
  }

  // Transport codes.
  if (sysCode !== undefined) {
    if (TIMEOUT_SYS.has(sysCode)) return hit('timeout', RANK.specific, sysCode);
    if (sysCode === 'ECONNABORTED' && TIMEOUT_TEXT.test(facts.message ?? '')) return hit('timeout', RANK.specific, sysCode);
    if (NETWORK_SYS.has(sysCode)) return hit('network', RANK.specific, sysCode);
  }

  // HTTP status.
  if (status !== undefined) {
    const code = tokens[0];
    if (status === 429) return hit('rate_limited', RANK.status, code);
    if (status === 402) return hit('quota_exhausted', RANK.status, code);
    if (status === 401 || status === 403) return hit('auth', RANK.status, code);
    if (status === 408 || status === 504) return hit('timeout', RANK.status, code);
    if (status === 503 || status === 529) return hit('overloaded', RANK.status, code);
    if (status < 500) return hit('invalid_request', RANK.status, code);
    // 500, 502 and other 5xx: no more detail; let a cause refine it.
    const generic = firstIn(tokens, GENERIC_TOKEN_NAMES);
    if (generic !== undefined) return hit(GENERIC_TOKENS.get(generic.toLowerCase())!, RANK.status, generic);
    return hit('unknown', RANK.wrapper, code);
  }

  // Broad codes without an HTTP status (gRPC-only errors, LangChain codes).
  for (const token of tokens) {
    const kind = GENERIC_TOKENS.get(token.toLowerCase());
    if (kind !== undefined) return hit(kind, RANK.status, token);
  }
  for (const name of names) {
    const kind = CLASS_NAMES.get(name.toLowerCase());
    if (kind !== undefined) return hit(kind, RANK.status, tokens[0]);
  }

  // Only a message to go on.
  const own = (facts.message ?? '').slice(0, MAX_TEXT).trim();
  if (CANCEL_TEXT.test(own)) return { ...hit('cancelled', RANK.text), deferrable: true };
  // An APIConnectionError that carries a provider error body is no connection failure: @anthropic-ai/sdk
  // 0.x throws one for an in-stream `event: error` (its message is the event's data).
  if (NETWORK_WRAPPER_TEXT.test(own) || (tokens.length === 0 && names.some((n) => n.toLowerCase() === 'apiconnectionerror'))) {
    return hit('network', RANK.wrapper, sysCode);
  }
  if (TIMEOUT_TEXT.test(own)) return hit('timeout', RANK.text, sysCode);
  if (NETWORK_TEXT.test(own)) return hit('network', RANK.text, sysCode);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Messages: short, safe to log.
// ---------------------------------------------------------------------------------------------

const DEFAULT_MESSAGES: Record<ErrorKind, string> = {
  rate_limited: 'The provider rate-limited the request; retry after the hinted delay or fall back.',
  overloaded: 'The provider is overloaded; retry later or fall back to another target.',
  timeout: 'The request timed out; retry or fall back.',
  network: 'A network error interrupted the request; retry or fall back.',
  context_length: "The prompt exceeds the model's context window; shorten it or use a larger-context model.",
  quota_exhausted: 'The provider account is out of quota or credit; check its billing before retrying.',
  policy_rejected: "The provider rejected the request under its content policy.",
  auth: 'The provider rejected the credentials; check the API key and its permissions.',
  invalid_request: 'The provider rejected the request as invalid; fix the request before retrying.',
  validation_failed: "The reply did not match the route's output schema.",
  cancelled: 'The request was cancelled.',
  unknown: 'The call failed with an unrecognised error.',
};

function defaultMessage(kind: ErrorKind, status: number | undefined): string {
  return status === undefined ? DEFAULT_MESSAGES[kind] : `HTTP ${status}: ${DEFAULT_MESSAGES[kind]}`;
}

// ---------------------------------------------------------------------------------------------
// classifyError
// ---------------------------------------------------------------------------------------------

/** The error and its causes, outermost first, cycle-safe and bounded. */
function collectFacts(root: unknown, now: number): Facts[] {
  const out: Facts[] = [];
  const seen = new Set<object>();
  const visit = (value: unknown, depth: number): void => {
    if (out.length >= MAX_NODES || depth > MAX_DEPTH) return;
    if (isObjectLike(value)) {
      if (seen.has(value)) return;
      seen.add(value);
    }
    const facts = extractFacts(value, now);
    out.push(facts);
    for (const child of facts.children) visit(child, depth + 1);
  };
  visit(root, 0);
  return out;
}

/** True when a provider message of the chain says the request alone exceeds the limit (see NEVER_FITS_TEXT). */
function neverFits(chain: readonly Facts[]): boolean {
  return chain.some((f) => !f.own && [...f.providerMessages, f.message ?? ''].some((t) => NEVER_FITS_TEXT.test(t.slice(0, MAX_TEXT))));
}

function firstDefined<T>(items: readonly Facts[], pick: (f: Facts) => T | undefined): T | undefined {
  for (const f of items) {
    const v = pick(f);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * Maps any thrown value to one {@link ErrorKind}, plus the status, provider code, retry hint and
 * rate-limit headers it carried. Never throws: strings, `null`, circular objects, throwing getters
 * and hostile Proxies classify as `unknown` (or better when something can be read).
 *
 * Works by duck typing (status, code, type, name, headers, body), never `instanceof`, so any copy of
 * the `openai` or `@anthropic-ai/sdk` SDKs, a fetch `Response`, a `{ status, headers, body }` object,
 * an axios-style `.response`, LangChain's wrappers (`lc_error_code`, `ContextOverflowError`), Google
 * `google.rpc` bodies and Node/undici transport errors are all understood. `.cause` chains (and
 * `AggregateError.errors`) are followed, bounded and cycle-safe; the strongest evidence wins.
 *
 * Precedence, in short: our own errors (`code: 'ERR_LLMR_*'`) keep their kind; an abort is
 * `cancelled` unless its reason is a timeout; specific provider codes (`insufficient_quota`,
 * `context_length_exceeded`, `content_filter`, `overloaded_error`, ...) and Google `ErrorInfo` reasons
 * about the key (`API_KEY_INVALID`, `API_KEY_EXPIRED`, ...: `auth`) beat the HTTP status; then
 * the provider's message (context length, content policy, billing), transport codes, the HTTP status
 * (429 rate_limited, 503/529 overloaded, 408/504 timeout, 401/403 auth, other 4xx invalid_request,
 * 500/502 unknown), broad codes (`RESOURCE_EXHAUSTED`, `UNAVAILABLE`, ...), and last the message text.
 *
 * `retryAfterMs` comes from `retry-after-ms`, `x-ms-retry-after-ms` or `retry-after` headers, else
 * a Google `RetryInfo`, else "try again in 6s" in the provider message, else (for `rate_limited`) the
 * reset of a quota the rate-limit headers show at 0 remaining: the time that quota is full again, an
 * upper bound (the engine retries a call once its own share has refilled, which is usually sooner; see
 * its pacing). `message` is the provider's
 * message (never the request), whitespace-collapsed, with API-key-looking strings redacted (and the
 * app's own secrets and patterns, given `redact`), at most 300 characters. `cause` is `err` itself.
 *
 * Never throws for any `err`; throws a `TypeError` only when `options.redact` is none of a
 * `Redactor`, `RedactOptions` or an object with a `redact(text)` method.
 *
 * @example
 * ```ts
 * try {
 *   await openai.chat.completions.create({ model, messages });
 * } catch (err) {
 *   const c = classifyError(err, { now: clock.now() });
 *   if (c.kind === 'rate_limited') await clock.sleep(c.retryAfterMs ?? 1000);
 *   else if (c.kind === 'quota_exhausted') alertTheTeam(c.message);
 * }
 * ```
 */
export function classifyError(err: unknown, options?: ClassifyErrorOptions): ClassifiedError {
  return classifyWithHintSource(err, options).classified;
}

/**
 * Where the `retryAfterMs` of a {@link ClassifiedError} came from: `'provider'` when the provider (or
 * one of our own errors) said how long to wait (`retry-after-ms`, `x-ms-retry-after-ms`, `retry-after`,
 * a Google `RetryInfo`, "try again in 6s" in its message, an `ERR_LLMR_*` error's own hint);
 * `'quota_reset'` when it is only the reset of a quota the rate-limit headers show at 0 remaining
 * (OpenAI `x-ratelimit-reset-*`, Anthropic `anthropic-ratelimit-*-reset`): the time that quota is
 * **full** again, not the time a call fits in it again. The engine shortens a `'quota_reset'` hint to
 * the time the failed call's share is back; code that retries outside the engine does the same with
 * `shareRetryAfterMs` (see {@link classifyWithHintSource}).
 *
 * @example
 * ```ts
 * const { classified, hintSource } = classifyWithHintSource(err, { now: clock.now() });
 * if (hintSource === 'quota_reset') shorten(classified);
 * ```
 */
export type RetryHintSource = 'provider' | 'quota_reset';

/**
 * {@link classifyError}, and where the result's `retryAfterMs` came from (`hintSource`, undefined when
 * it has none): the engine's classification of a failed attempt. Use it instead of `classifyError`
 * when your own retry loop (an rxjs operator, a queue worker) waits on `retryAfterMs`: a hint the
 * provider gave (`'provider'`) is waited for as it is, while a `'quota_reset'` one is the time the
 * exhausted quota is full again, minutes where the call's share is back in seconds; shorten it with
 * `shareRetryAfterMs(classified.rateLimit, …)`. Code that only needs the kind uses `classifyError`.
 *
 * @example
 * ```ts
 * const now = Date.now();
 * const { classified, hintSource } = classifyWithHintSource(err, { now });
 * // a 429 with x-ratelimit-limit-tokens: 10000, x-ratelimit-remaining-tokens: 0, x-ratelimit-reset-tokens: 6m0s:
 * // classified.retryAfterMs 360000, hintSource 'quota_reset'
 * const waitMs =
 *   hintSource === 'quota_reset' && classified.rateLimit !== undefined
 *     ? (shareRetryAfterMs(classified.rateLimit, { inputTokens: 0, outputTokens: 0 }, now, classified.retryAfterMs!, Math.random) ?? 1_000)
 *     : (classified.retryAfterMs ?? 1_000); // 7.2 s to 7.9 s here, not 6 min
 * ```
 */
export function classifyWithHintSource(
  err: unknown,
  options?: ClassifyErrorOptions,
): { classified: ClassifiedError; hintSource: RetryHintSource | undefined } {
  // A misconfigured `redact` is the caller's bug, not the error's: reported, never ignored.
  const redactor = options?.redact === undefined ? KEY_FORMATS_ONLY : toTextRedactor(options.redact, 'classifyError options.redact');
  try {
    const requestedNow = options?.now;
    const now = typeof requestedNow === 'number' && Number.isFinite(requestedNow) ? requestedNow : Date.now();
    const chain = collectFacts(err, now);

    const verdicts = chain.map((facts) => decide(facts));
    let winner = -1;
    for (let i = 0; i < verdicts.length; i++) {
      const v = verdicts[i];
      if (v !== undefined && (winner < 0 || v.rank > verdicts[winner]!.rank)) winner = i;
    }
    // An abort caused by a timeout (AbortSignal.timeout, an SDK's abort with a TimeoutError reason).
    if (winner >= 0 && verdicts[winner]!.deferrable) {
      for (let i = winner + 1; i < verdicts.length; i++) {
        if (verdicts[i]?.kind === 'timeout' && verdicts[i]!.rank >= RANK.text) {
          winner = i;
          break;
        }
      }
    }

    const verdict = winner >= 0 ? verdicts[winner] : undefined;
    const decider = winner >= 0 ? chain[winner] : chain[0];
    const ordered = decider === undefined ? chain : [decider, ...chain.filter((f) => f !== decider)];
    const kind: ErrorKind = verdict?.kind ?? 'unknown';

    const result: ClassifiedError = { kind, message: '', cause: err };
    let hintSource: RetryHintSource | undefined;
    const status = firstDefined(ordered, (f) => f.status);
    if (status !== undefined) result.status = status;
    const code =
      verdict?.code ??
      (decider?.own ? undefined : firstDefined(ordered, (f) => f.tokens[0] ?? f.sysCode));
    if (code !== undefined) result.code = redactor.redact(code);
    const retryAfterMs = firstDefined(ordered, (f) => f.retryAfterMs);
    if (retryAfterMs !== undefined) {
      result.retryAfterMs = retryAfterMs;
      hintSource = 'provider';
    }
    // One request over the rate limit on its own: no wait makes it fit (whatever a header says).
    if (kind === 'rate_limited' && !decider?.own && neverFits(ordered)) {
      result.retryAfterMs = Infinity;
      hintSource = 'provider';
    }
    const rateLimit = firstDefined(ordered, (f) => f.rateLimit);
    if (rateLimit !== undefined) {
      result.rateLimit = rateLimit;
      // No retry-after: the reset of the exhausted quota (OpenAI x-ratelimit-reset-*, Anthropic *-reset).
      if (kind === 'rate_limited' && result.retryAfterMs === undefined) {
        const reset = retryAfterFromRateLimit(rateLimit, now);
        if (reset !== undefined) {
          result.retryAfterMs = reset;
          hintSource = 'quota_reset';
        }
      }
    }

    const rawMessage = decider?.own
      ? decider.message
      : (decider?.providerMessages[0] ??
        decider?.message ??
        firstDefined(chain, (f) => f.providerMessages[0]) ??
        chain[0]?.message);
    const message = rawMessage === undefined ? '' : sanitizeMessage(rawMessage, redactor);
    result.message = message === '' ? defaultMessage(kind, status) : message;
    return { classified: result, hintSource };
  } catch {
    return { classified: { kind: 'unknown', message: DEFAULT_MESSAGES.unknown, cause: err }, hintSource: undefined };
  }
}
