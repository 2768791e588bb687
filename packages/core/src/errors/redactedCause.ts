import { isErrorKind } from './isErrorKind';
import { redactQuoted } from './redactQuoted';
import type { TextRedactor } from './Redactor';
import { MAX_TEXT, sanitizeMessage } from './sanitizeMessage';

/** How many links of a cause chain are copied (the cause itself included); below that the chain ends. */
const MAX_CAUSE_DEPTH = 4;

/** How many entries of an `AggregateError`'s `errors` are copied; the rest are left out. */
const MAX_AGGREGATED = 8;

/** How many stand-ins one call builds at most (causes and aggregated errors, all levels together). */
const MAX_STAND_INS = 32;

/** Fields copied as they are when they are finite numbers. */
const NUMBER_FIELDS = ['status', 'statusCode', 'retryAfterMs', 'errno'] as const;

/**
 * Fields copied, redacted, when they are strings: codes and types (what classification and HTTP
 * mapping read), and the provider's request id (`requestID` in the `openai` and `@anthropic-ai/sdk`
 * SDKs, `request_id` in older ones), which support asks for. Never headers, bodies, request options or
 * responses: those are where a key is (`authorization`, `x-api-key`, an echoing body).
 */
const STRING_FIELDS = ['code', 'type', 'errorCode', 'lc_error_code', 'requestID', 'request_id', 'requestId', 'syscall'] as const;

/**
 * The value each stand-in stands for (see {@link originalCauseOf}). A module-level map, not a property:
 * nothing that walks or prints a stand-in (a logger, `util.inspect`, `JSON.stringify`) can reach it.
 */
const ORIGINALS = new WeakMap<object, unknown>();

/** Reads a property of a foreign value, never throwing (getters, Proxies). */
function read(target: object, key: string): unknown {
  try {
    return (target as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** The first `max` entries of `value` when it is an array, each read without throwing; else undefined. */
function firstEntries(value: unknown, max: number): unknown[] | undefined {
  try {
    if (!Array.isArray(value)) return undefined;
    const out: unknown[] = [];
    for (let i = 0; i < value.length && i < max; i++) out.push(read(value, String(i)));
    return out;
  } catch {
    return undefined; // a revoked Proxy, a throwing length getter
  }
}

/**
 * What the errors the engine throws carry as `cause` (and in `last.cause`, `classified.cause`) when the
 * app set the `redact` option: a stand-in for the error the call threw, safe for any logger that prints
 * cause chains (`console.error`, `util.inspect`, pino's `err` serializer, Nest's `ConsoleLogger`).
 *
 * The stand-in is a plain `Error` with the original's `name`; its message is the original's as
 * `classifyError` shows a message: run through `redactor`, quoted runs of 32 characters or more (a
 * prompt the provider quoted back: `Invalid value for 'content': '...'`) replaced by their length,
 * whitespace collapsed, at most 300 characters. Its stack is that message on the first line, then the
 * original's frames (where the SDK threw), redacted too. It keeps only the diagnostic fields that
 * cannot hold a key: `status`, `statusCode`, `code`, `type`, `errorCode`, `lc_error_code`, the request
 * id (`requestID`, `request_id`, `requestId`), `retryAfterMs`, `errno`, `syscall` and an error kind
 * (`kind`); strings among them are redacted too. Headers, bodies (`error`, `body`, `response`), request
 * options and everything else are left out. Its own `cause` is the stand-in of the original's, for 4
 * links at most; an `AggregateError`'s `errors` (undici's `fetch failed` hides its `ECONNREFUSED`s
 * there) become stand-ins too, the first 8, as a non-enumerable `errors` like the original's; one call
 * builds 32 stand-ins at most. A string becomes its text treated like a message; `undefined`, `null`,
 * numbers, booleans, bigints and symbols stay as they are; any other object (a thrown
 * `{ status, error }`, say) becomes an `Error` stand-in in the same way.
 *
 * {@link originalCauseOf} gives back what a stand-in stands for, for debugging.
 *
 * @example
 * ```ts
 * const redactor = new Redactor({ secrets: [azureKey] });
 * const standIn = redactedCause(sdkError, redactor) as Error & { status?: number };
 * standIn.name;    // 'AuthenticationError'
 * standIn.message; // '401 Incorrect API key provided: [redacted]. ...'
 * standIn.status;  // 401 (no headers, no body, no request options)
 * ```
 */
export function redactedCause(cause: unknown, redactor: TextRedactor): unknown {
  return standIn(cause, redactor, 1, { left: MAX_STAND_INS });
}

/**
 * The error the call threw behind `err.cause`, for debugging: when `err.cause` is a redacted stand-in
 * (the engine's `redact` option is set), the original it stands for, unredacted, with its headers, body
 * and request options; otherwise `err.cause` itself. `err` is an error the engine threw, its `last` or
 * `classified`, or a stand-in (whose `cause` stands for the original's cause). A string cause has no
 * original to give back (it was replaced by its redacted text), nor has a stand-in built by the other
 * build of the package (ES module or CommonJS): then the stand-in itself is returned.
 *
 * What it returns may quote the keys `redact` names: keep it out of logs.
 *
 * @example
 * ```ts
 * try {
 *   await engine.execute(request, call);
 * } catch (err) {
 *   logger.error(err); // its cause chain: redacted stand-ins
 *   const sdkError = originalCauseOf(err); // the SDK's own error, for a debugger or a local dump only
 *   if (process.env.NODE_ENV === 'development') console.dir(sdkError);
 * }
 * ```
 */
export function originalCauseOf(err: unknown): unknown {
  if (err === null || (typeof err !== 'object' && typeof err !== 'function')) return undefined;
  const cause = read(err, 'cause');
  if (cause !== null && typeof cause === 'object' && ORIGINALS.has(cause)) return ORIGINALS.get(cause);
  return cause;
}

function standIn(value: unknown, redactor: TextRedactor, depth: number, budget: { left: number }): unknown {
  if (typeof value === 'string') return sanitizeMessage(value, redactor);
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
  budget.left--;
  const name = read(value, 'name');
  const message = read(value, 'message');
  const out = new Error(typeof message === 'string' ? sanitizeMessage(message, redactor) : '');
  Object.defineProperty(out, 'name', { value: typeof name === 'string' && name !== '' ? name : 'Error', writable: true, configurable: true });
  const header = `${out.name}${out.message ? `: ${out.message}` : ''}`;
  const stack = read(value, 'stack');
  Object.defineProperty(out, 'stack', {
    value: typeof stack === 'string' ? header + framesOf(stack, message, redactor) : header,
    writable: true,
    configurable: true,
  });
  const fields = out as unknown as Record<string, unknown>;
  for (const key of NUMBER_FIELDS) {
    const v = read(value, key);
    if (typeof v === 'number' && Number.isFinite(v)) fields[key] = v;
  }
  for (const key of STRING_FIELDS) {
    const v = read(value, key);
    if (typeof v === 'string') fields[key] = redactor.redact(v);
    else if (key === 'code' && typeof v === 'number' && Number.isFinite(v)) fields[key] = v; // gRPC, Google bodies
  }
  const kind = read(value, 'kind');
  if (isErrorKind(kind)) fields.kind = kind;
  if (depth < MAX_CAUSE_DEPTH) {
    const cause = read(value, 'cause');
    if (cause !== undefined && budget.left > 0) {
      Object.defineProperty(out, 'cause', { value: standIn(cause, redactor, depth + 1, budget), writable: true, configurable: true });
    }
    const errors = firstEntries(read(value, 'errors'), MAX_AGGREGATED);
    if (errors !== undefined) {
      const copies: unknown[] = [];
      for (const e of errors) {
        if (budget.left <= 0) break;
        copies.push(standIn(e, redactor, depth + 1, budget));
      }
      // Non-enumerable, as an AggregateError's own: `util.inspect` still prints it, `{ ...err }` does not.
      Object.defineProperty(out, 'errors', { value: copies, writable: true, configurable: true });
    }
  }
  ORIGINALS.set(out, value);
  return out;
}

/**
 * The frames of `stack` (the lines after its first, which holds the original's unredacted message),
 * redacted and with long quoted runs cut like a message, at most 4 000 characters.
 */
function framesOf(stack: string, message: unknown, redactor: TextRedactor): string {
  // The header is `${name}: ${message}` as it was when the error was made; the frames follow it. A message
  // changed since is not in the stack as it is: then the frames start at the first `at` line.
  const at = typeof message === 'string' && message !== '' ? stack.indexOf(message) : -1;
  let rest: string;
  if (at >= 0) {
    rest = stack.slice(at + (message as string).length);
    const newline = rest.indexOf('\n');
    rest = newline >= 0 ? rest.slice(newline) : '';
  } else {
    const frame = /\n\s+at /.exec(stack);
    rest = frame === null ? '' : stack.slice(frame.index);
  }
  if (rest === '') return '';
  return redactQuoted(redactor.redact(rest.slice(0, 2 * MAX_TEXT)).slice(0, MAX_TEXT));
}
