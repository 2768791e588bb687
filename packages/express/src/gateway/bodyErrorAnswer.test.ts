import { gunzipSync } from 'node:zlib';
import { bodyErrorAnswer, gatewayFailedAnswer } from './bodyErrorAnswer';

const parserError = (status: number, type: string | undefined, message: string) => Object.assign(new Error(message), { status, statusCode: status, expose: status < 500, ...(type ? { type } : {}) });

function zlibError(): Error {
  try {
    gunzipSync(Buffer.from('not gzip at all'));
  } catch (e) {
    return Object.assign(e as Error, { status: 400, statusCode: 400, expose: true });
  }
  throw new Error('gunzip accepted garbage');
}

describe('bodyErrorAnswer', () => {
  it("keeps the parser's status with a fixed OpenAI-style message, never the error's own", () => {
    const charset = bodyErrorAnswer(parserError(415, 'charset.unsupported', 'unsupported charset "LATIN2"'));
    expect(charset).toEqual({
      status: 415,
      body: { error: { message: 'The request body uses an unsupported charset. Send JSON encoded as UTF-8.', type: 'invalid_request_error', param: null, code: null } },
    });
    expect(bodyErrorAnswer(parserError(415, 'encoding.unsupported', 'unsupported content encoding "foo"')).status).toBe(415);
    expect(bodyErrorAnswer(parserError(413, 'entity.too.large', 'request entity too large')).body.error.message).toBe('The request body is too large.');
    expect(bodyErrorAnswer(parserError(400, 'entity.parse.failed', 'Unexpected end of JSON input')).body.error.message).toBe('We could not parse the JSON body of your request.');
    expect(bodyErrorAnswer(parserError(400, 'some.future.type', '/srv/app secret')).body.error.message).toBe('We could not read the body of your request.');
  });

  it('answers a failed decompression with 400', () => {
    const a = bodyErrorAnswer(zlibError());
    expect(a.status).toBe(400);
    expect(a.body.error.message).toBe('The request body could not be decompressed; check its Content-Encoding.');
  });

  it("turns the parser's 5xx and errors without a status into the gateway's 500", () => {
    expect(bodyErrorAnswer(parserError(500, 'stream.not.readable', 'stream is not readable'))).toEqual(gatewayFailedAnswer());
    expect(bodyErrorAnswer(new Error('boom'))).toEqual(gatewayFailedAnswer());
    expect(gatewayFailedAnswer()).toEqual({
      status: 500,
      body: { error: { message: 'Something went wrong on our side. Please try again later.', type: 'server_error', param: null, code: 'ERR_LLMR_EXPRESS_GATEWAY_FAILED' } },
    });
  });
});
