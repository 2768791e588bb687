import { isErrorKind } from './isErrorKind';
import type { TextRedactor } from './Redactor';

/** How many links of a cause chain are copied (the cause itself included); below that the chain ends. */
const MAX_CAUSE_DEPTH = 4;

/** Fields copied as they are when they are finite numbers. */
const NUMBER_FIELDS = ['status', 'statusCode', 'retryAfterMs', 'errno'] as const;

/**
 * Fields copied, redacted, when they are strings: codes and types (what classification and HTTP
 * mapping read), and the provider's request id (`requestID` in the `openai` and `@anthropic-ai/sdk`
 * SDKs, `request_id` in older ones), which support asks for. Never headers, bodies, request options or
 * responses: those are where a key is (`authorization`, `x-api-key`, an echoing body).
 */
const STRING_FIELDS = ['code', 'type', 'errorCode', 'lc_error_code', 'requestID', 'request_id', 'requestId', 'syscall'] as const;

/** Reads a property of a foreign value, never throwing (getters, Proxies). */
function read(target: object, key: string): unknown {
  try {
    return (target as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/**
 * What the errors the engine throws carry as `cause` (and in `last.cause`, `classified.cause`) when the
 * app set the `redact` option: a stand-in for the error the call threw, safe for any logger that prints
 * cause chains (`console.error`, `util.inspect`, pino's `err` serializer, Nest's `ConsoleLogger`).
 *
 * The stand-in is a plain `Error` with the original's `name`, its message and stack run through
 * `redactor`, and only the diagnostic fields that cannot hold a key: `status`, `statusCode`, `code`,
 * `type`, `errorCode`, `lc_error_code`, the request id (`requestID`, `request_id`, `requestId`),
 * `retryAfterMs`, `errno`, `syscall` and an error kind (`kind`); strings among them are redacted too.
 * Headers, bodies (`error`, `body`, `response`), request options and everything else are left out. Its
 * own `cause` is the stand-in of the original's, for 4 links at most. A string becomes its redacted
 * text; `undefined`, `null`, numbers, booleans, bigints and symbols stay as they are; any other object
 * (a thrown `{ status, error }`, say) becomes an `Error` stand-in in the same way.
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
  return standIn(cause, redactor, 1);
}

function standIn(value: unknown, redactor: TextRedactor, depth: number): unknown {
  if (typeof value === 'string') return redactor.redact(value);
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
  const name = read(value, 'name');
  const message = read(value, 'message');
  const out = new Error(typeof message === 'string' ? redactor.redact(message) : '');
  Object.defineProperty(out, 'name', { value: typeof name === 'string' && name !== '' ? name : 'Error', writable: true, configurable: true });
  // The original's frames (where the SDK threw) are worth keeping; its first line holds the raw message.
  const stack = read(value, 'stack');
  Object.defineProperty(out, 'stack', {
    value: typeof stack === 'string' ? redactor.redact(stack) : `${out.name}${out.message ? `: ${out.message}` : ''}`,
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
  const cause = read(value, 'cause');
  if (cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    Object.defineProperty(out, 'cause', { value: standIn(cause, redactor, depth + 1), writable: true, configurable: true });
  }
  return out;
}
