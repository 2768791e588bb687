import { openAIErrorBody, type OpenAIErrorBody } from './openAIErrorBody';

/**
 * The answer to an error: its status and its OpenAI-style body.
 *
 * @example
 * ```ts
 * const { status, body } = answer;
 * res.status(status).json(body);
 * ```
 */
export interface ErrorAnswer {
  status: number;
  body: OpenAIErrorBody;
}

/** Code of the 500 the gateway answers for failures that are its own (or its configuration's). */
export const GATEWAY_FAILED = 'ERR_LLMR_EXPRESS_GATEWAY_FAILED';

/**
 * The 500 answer of a failure on the gateway's side (a bug, a throwing `auth` function): a generic
 * message, code `ERR_LLMR_EXPRESS_GATEWAY_FAILED`, nothing of the error itself.
 *
 * @example
 * ```ts
 * const { status, body } = gatewayFailedAnswer();
 * res.status(status).json(body); // 500 { error: { type: 'server_error', code: 'ERR_LLMR_EXPRESS_GATEWAY_FAILED', ... } }
 * ```
 */
export function gatewayFailedAnswer(): ErrorAnswer {
  return { status: 500, body: openAIErrorBody('Something went wrong on our side. Please try again later.', 'server_error', GATEWAY_FAILED) };
}

/** Wording per body-parser error `type`; the errors' own messages (paths, charsets, stack) are never sent. */
const MESSAGES: Readonly<Record<string, string>> = {
  'entity.parse.failed': 'We could not parse the JSON body of your request.',
  'entity.too.large': 'The request body is too large.',
  'charset.unsupported': 'The request body uses an unsupported charset. Send JSON encoded as UTF-8.',
  'encoding.unsupported': 'The request body uses an unsupported Content-Encoding. Send it uncompressed, or compressed with gzip, deflate or br.',
  'request.size.invalid': 'The request body does not match its Content-Length.',
  'request.aborted': 'The request body was not received completely.',
  'entity.verify.failed': 'The request body was refused.',
  'parameters.too.many': 'The request body has too many parameters.',
};
const DECODE_FAILED = 'The request body could not be decompressed; check its Content-Encoding.';
const UNREADABLE = 'We could not read the body of your request.';

interface ParserError {
  type?: unknown;
  status?: unknown;
  statusCode?: unknown;
  code?: unknown;
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as ParserError;
  const status = typeof e.status === 'number' ? e.status : e.statusCode;
  return typeof status === 'number' && status >= 400 && status <= 599 ? status : undefined;
}

/** A decompression failure (zlib's `Z_DATA_ERROR`, brotli, zstd), which the parser passes on as a 400. */
function isDecodeError(err: unknown): boolean {
  const code = (err as ParserError).code;
  return typeof code === 'string' && /^(Z_|ERR_ZLIB|ERR__?BROTLI|ERR_ZSTD)/.test(code);
}

/**
 * The answer to an error of Express's body parser: the parser's own status (400 unparsable or
 * badly compressed, 413 too large, 415 unsupported charset or Content-Encoding, ...) with an
 * OpenAI-style `invalid_request_error` body and a fixed message per error type. The parser's 5xx (a
 * body stream already consumed by other middleware) and anything without a status become the
 * gateway's 500. Nothing of the error's own message or stack is sent.
 *
 * @example
 * ```ts
 * const json = express.json();
 * router.post('/v1/chat/completions', (req, res, next) => json(req, res, (err) => {
 *   if (!err) return next();
 *   const { status, body } = bodyErrorAnswer(err);
 *   res.status(status).json(body);
 * }));
 * ```
 */
export function bodyErrorAnswer(err: unknown): ErrorAnswer {
  const status = statusOf(err);
  if (status === undefined || status >= 500) return gatewayFailedAnswer();
  const type = (err as ParserError).type;
  const message = typeof type === 'string' && MESSAGES[type] !== undefined ? MESSAGES[type] : isDecodeError(err) ? DECODE_FAILED : UNREADABLE;
  return { status, body: openAIErrorBody(message, 'invalid_request_error', null) };
}
