import { closestName, MAX_TIMER_MS } from '@llm-resilience/core';
import { ExpressConfigError } from '../ExpressConfigError';
import { checkAudience, checkBooleans, checkFunctions, checkLogger, invalidOption, shown, typeOf } from '../optionChecks';
import type { OpenAIGatewayOptions, UpstreamConfig } from '../types';
import { BYTE_SIZE, parseByteSize } from './byteSize';
import { isObject } from './chatTypes';

const WHAT = 'openAIGateway()';
const KINDS: readonly unknown[] = ['openai', 'anthropic'];
const IDENTITY_FIELDS = ['user', 'team', 'tenant', 'environment'] as const;
/** The fields of an upstream entry ({@link UpstreamConfig}): any other key is a typo that would go unread. */
const UPSTREAM_FIELDS: readonly (keyof UpstreamConfig)[] = ['kind', 'baseURL', 'apiKey', 'headers', 'anthropicVersion'];
/** A path prefix: `/`-separated segments of plain URL characters (no Express route syntax). */
const PREFIX = /^(\/[A-Za-z0-9._~%-]*)*$/;

/**
 * Throws the {@link ExpressConfigError} of a gateway misconfiguration, its message prefixed
 * `openAIGateway(): `.
 *
 * @example
 * ```ts
 * fail('ERR_LLMR_EXPRESS_GATEWAY_NO_AUTH', 'options.auth must map client API keys to identities.');
 * ```
 */
export function fail(code: string, message: string): never {
  throw new ExpressConfigError(code, `${WHAT}: ${message}`);
}

function checkUpstreams(upstreams: unknown): void {
  if (!isObject(upstreams)) fail('ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM', 'options.upstreams must map provider names to { kind, baseURL, apiKey }.');
  const bad = (path: string, expected: string, got: string) => invalidOption(WHAT, path, expected, got, 'ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM');
  for (const [name, u] of Object.entries(upstreams)) {
    if (!isObject(u) || !KINDS.includes(u.kind)) {
      // Never the value itself: a misplaced API key (`upstreams: { openai: process.env.OPENAI_API_KEY }`) would be quoted.
      const got = isObject(u) ? (typeof u.kind === 'string' ? JSON.stringify(u.kind.slice(0, 20)) : typeof u.kind) : u === null ? 'null' : `a ${typeof u}, not an object`;
      fail('ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM', `upstreams.${name}.kind must be 'openai' or 'anthropic', got ${got}.`);
    }
    // A misspelt field (`apikey`, `api_key`, `header`) would be ignored: no key sent, every call a 401.
    // Only the key's name is quoted, never its value.
    for (const key of Object.keys(u)) {
      if ((UPSTREAM_FIELDS as readonly string[]).includes(key)) continue;
      const guess = closestName(key, UPSTREAM_FIELDS);
      fail(
        'ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM',
        `upstreams.${name}.${key} is not an upstream option${guess === undefined ? '' : ` (did you mean '${guess}'?)`}; known: ${UPSTREAM_FIELDS.join(', ')}.`,
      );
    }
    let ok = false;
    let userinfo = false;
    try {
      const url = typeof u.baseURL === 'string' ? new URL(u.baseURL) : undefined;
      ok = url !== undefined && /^https?:$/.test(url.protocol);
      userinfo = url !== undefined && (url.username !== '' || url.password !== '');
    } catch {
      ok = false;
    }
    // The URL is not quoted: it may carry a key (`?key=...`).
    if (!ok) fail('ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM', `upstreams.${name}.baseURL must be an http(s) URL, got ${typeof u.baseURL === 'string' ? 'a string that is not one' : typeof u.baseURL}.`);
    // fetch refuses such a URL on every call, with an error that quotes it, password included.
    if (userinfo) {
      fail(
        'ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM',
        `upstreams.${name}.baseURL must not carry credentials (user:password@): fetch refuses such a URL. Give the key as apiKey, or an Authorization header in headers.`,
      );
    }
    // Keys and header values are secrets: only their types are named.
    if (u.apiKey !== undefined && typeof u.apiKey !== 'string') throw bad(`upstreams.${name}.apiKey`, 'a string', typeOf(u.apiKey));
    if (u.anthropicVersion !== undefined && typeof u.anthropicVersion !== 'string') throw bad(`upstreams.${name}.anthropicVersion`, "a string such as '2023-06-01'", typeOf(u.anthropicVersion));
    if (u.headers !== undefined) {
      if (!isObject(u.headers)) throw bad(`upstreams.${name}.headers`, 'an object of header names to string values', typeOf(u.headers));
      for (const [header, value] of Object.entries(u.headers)) {
        if (typeof value !== 'string') throw bad(`upstreams.${name}.headers['${header}']`, 'a string', typeOf(value));
      }
    }
  }
}

/** A map's keys are client API keys: entries are named by position, never by key. */
function checkAuth(auth: unknown): void {
  if (typeof auth === 'function') return;
  if (!isObject(auth)) fail('ERR_LLMR_EXPRESS_GATEWAY_NO_AUTH', 'options.auth must map client API keys to identities, or be a function (key, req) => identity.');
  const entries = Object.values(auth);
  entries.forEach((identity, i) => {
    const which = `the identity of client key ${i + 1} of ${entries.length} in options.auth`;
    if (!isObject(identity)) {
      fail('ERR_LLMR_EXPRESS_GATEWAY_NO_AUTH', `${which} must be an object such as { user: 'alice', team: 'support' }, got ${typeOf(identity)}.`);
    }
    for (const field of IDENTITY_FIELDS) {
      const v = identity[field];
      if (v !== undefined && typeof v !== 'string') fail('ERR_LLMR_EXPRESS_GATEWAY_NO_AUTH', `${which}: ${field} must be a string, got ${typeOf(v)}.`);
    }
    if (!IDENTITY_FIELDS.some((f) => typeof identity[f] === 'string' && identity[f] !== '')) {
      fail('ERR_LLMR_EXPRESS_GATEWAY_NO_AUTH', `${which} has no user, team, tenant or environment: limits and budgets could not tell its requests apart.`);
    }
  });
}

function checkModels(models: unknown): void {
  if (models === undefined) return;
  if (!isObject(models)) throw invalidOption(WHAT, 'models', 'an object of model aliases to route names', typeOf(models));
  for (const [alias, route] of Object.entries(models)) {
    if (typeof route !== 'string') throw invalidOption(WHAT, `models.${alias}`, 'the name of a route of the policy', typeOf(route));
  }
}

function checkBodyLimit(limit: unknown): void {
  if (limit === undefined) return;
  const ok =
    (typeof limit === 'number' && Number.isFinite(limit) && limit > 0) ||
    (typeof limit === 'string' && BYTE_SIZE.test(limit.trim()) && Number.parseFloat(limit) > 0);
  // express.json() reads a limit it cannot parse as no limit at all.
  if (!ok) throw invalidOption(WHAT, 'bodyLimit', "a number of bytes > 0 or a size such as '4mb' or '100kb'", shown(limit));
}

/** An `upstreamBodyLimit` must come to at least one whole byte: `0` or `'0.5b'` would fail every reply. */
function checkUpstreamBodyLimit(limit: unknown): void {
  if (limit === undefined) return;
  const bytes = parseByteSize(limit);
  if (bytes === undefined || bytes < 1) {
    throw invalidOption(WHAT, 'upstreamBodyLimit', "a whole number of bytes >= 1 or a size such as '64mb' or '512kb'", shown(limit));
  }
}

/**
 * Checks every option of `openAIGateway()` but `engine` (checked first) and the routes `models`
 * names (checked against the policy): each one of the wrong type or out of range throws an
 * {@link ExpressConfigError} naming it and what it must be. Keys, URLs and header values are
 * never quoted, only their types.
 *
 * @example
 * ```ts
 * checkGatewayOptions({ engine, upstreams, auth, streamIdleTimeoutMs: '30s' as never });
 * // throws ERR_LLMR_EXPRESS_INVALID_OPTION: openAIGateway(): streamIdleTimeoutMs must be ... got '30s'.
 * ```
 */
export function checkGatewayOptions(options: OpenAIGatewayOptions): void {
  checkUpstreams(options.upstreams);
  checkAuth(options.auth);
  checkModels(options.models);
  checkBooleans(WHAT, options, ['exposeRoutes']);
  if (options.prefix !== undefined && !(typeof options.prefix === 'string' && PREFIX.test(options.prefix))) {
    throw invalidOption(WHAT, 'prefix', "a path such as '/v1' (segments of letters, digits, '.', '_', '~', '-', '%')", shown(options.prefix));
  }
  checkFunctions(WHAT, options, {
    priority: '(req, identity) => traffic class',
    dataClass: '(req, identity) => data class',
    fetch: '(url, init) => Promise<Response>, like globalThis.fetch',
  });
  checkAudience(WHAT, options.audience, false);
  checkBodyLimit(options.bodyLimit);
  checkUpstreamBodyLimit(options.upstreamBodyLimit);
  const idle = options.streamIdleTimeoutMs;
  if (idle !== undefined && !(typeof idle === 'number' && idle >= 0 && idle <= MAX_TIMER_MS)) {
    throw invalidOption(WHAT, 'streamIdleTimeoutMs', `a number of milliseconds from 0 (off) to ${MAX_TIMER_MS}`, shown(idle));
  }
  checkLogger(WHAT, options.logger, 'error', false);
  checkLogger(WHAT, options.logger, 'warn', false);
}
