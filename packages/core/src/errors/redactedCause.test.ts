import { inspect } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { classifyError } from './classifyError';
import { httpErrorOf } from './httpErrorOf';
import { redactedCause } from './redactedCause';
import { Redactor } from './Redactor';
import { ResilienceError } from './ResilienceError';

const AZURE_KEY = '9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const redactor = new Redactor({ secrets: [AZURE_KEY] });

/** A 401 as the `openai` SDK throws it: its message, body and headers all quote the key. */
function echoed401(): InstanceType<typeof OpenAI.APIError> {
  return OpenAI.APIError.generate(
    401,
    { error: { message: `Incorrect API key provided: ${AZURE_KEY}.`, type: 'invalid_request_error', code: 'invalid_api_key' } },
    undefined,
    new Headers({ 'x-request-id': 'req_123', 'x-echo-api-key': AZURE_KEY }),
  );
}

type StandIn = Error & Record<string, unknown>;

describe('redactedCause', () => {
  it('stands in for an SDK error: same name, redacted message and stack, safe fields only', () => {
    const original = echoed401();
    const s = redactedCause(original, redactor) as StandIn;
    expect(s).toBeInstanceOf(Error);
    expect(s).not.toBe(original);
    expect(s.name).toBe(original.name);
    expect(s.message).toBe('401 Incorrect API key provided: [redacted].');
    expect(s.stack).toContain('401 Incorrect API key provided: [redacted].');
    expect(s.stack).toContain('redactedCause.test.ts'); // the frames of where it was thrown stay
    expect({ ...s }).toEqual({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error', requestID: 'req_123' });
    // Nothing of the key in what loggers print, and the original is not touched.
    expect(inspect(s, { depth: Infinity })).not.toContain(AZURE_KEY);
    expect(JSON.stringify(s)).not.toContain(AZURE_KEY);
    expect(original.message).toContain(AZURE_KEY);
  });

  it('classifies to the same kind, status and code (without the body, its message is the error\'s own)', () => {
    const original = echoed401();
    const pick = ({ kind, status, code }: ReturnType<typeof classifyError>) => ({ kind, status, code });
    expect(pick(classifyError(redactedCause(original, redactor)))).toEqual(pick(classifyError(original)));
    expect(pick(classifyError(original))).toEqual({ kind: 'auth', status: 401, code: 'invalid_api_key' });
  });

  it('keeps the Anthropic SDK request id and type', () => {
    const original = Anthropic.APIError.generate(
      529,
      { type: 'error', error: { type: 'overloaded_error', message: `Overloaded (key ${AZURE_KEY})` } },
      undefined,
      new Headers({ 'request-id': 'req_ant_1' }),
    );
    const s = redactedCause(original, redactor) as StandIn;
    expect(s).toMatchObject({ name: original.name, status: 529 });
    expect(s.message).not.toContain(AZURE_KEY);
    expect(s.requestID ?? s.request_id).toBe('req_ant_1');
    expect(inspect(s)).not.toContain(AZURE_KEY);
  });

  it('stands in for each link of the cause chain, 4 links at most, cycles included', () => {
    const root = new Error(`socket closed for ${AZURE_KEY}`);
    const looped: Error & { code?: string } = new Error(`fetch failed: ${AZURE_KEY}`, { cause: root });
    looped.code = 'ECONNRESET';
    (root as { cause?: unknown }).cause = looped; // a cycle
    const top = new Error(`Connection error. ${AZURE_KEY}`, { cause: looped });
    const s = redactedCause(top, redactor) as StandIn;
    const chain: StandIn[] = [];
    for (let e: unknown = s; e instanceof Error; e = e.cause) chain.push(e as StandIn);
    expect(chain.map((e) => e.message)).toEqual(['Connection error. [redacted]', 'fetch failed: [redacted]', 'socket closed for [redacted]', 'fetch failed: [redacted]']);
    expect(chain[1]!.code).toBe('ECONNRESET');
    expect('cause' in chain[3]!).toBe(false);
    expect(inspect(s, { depth: Infinity })).not.toContain(AZURE_KEY);
  });

  it('keeps kind and code of our own errors, so httpErrorOf and classifyError still read them', () => {
    const own = new ResilienceError(`limit of ${AZURE_KEY} reached`, { kind: 'rate_limited', code: 'ERR_LLMR_LIMIT_EXCEEDED', retryAfterMs: 2_000 });
    const s = redactedCause(own, redactor) as StandIn;
    expect({ ...s }).toEqual({ kind: 'rate_limited', code: 'ERR_LLMR_LIMIT_EXCEEDED', retryAfterMs: 2_000 });
    expect(s.name).toBe('ResilienceError');
    expect(httpErrorOf(s)).toMatchObject({ status: 429, code: 'ERR_LLMR_LIMIT_EXCEEDED', retryAfterMs: 2_000 });
    expect(classifyError(s)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 2_000 });
  });

  it('drops headers, bodies, responses and request options, and any other field', () => {
    const thrown = {
      status: 401,
      headers: { authorization: `Bearer ${AZURE_KEY}` },
      error: { message: AZURE_KEY },
      body: AZURE_KEY,
      response: { data: AZURE_KEY },
      config: { headers: { 'api-key': AZURE_KEY } },
      kind: 'not-a-kind',
      code: 7,
    };
    const s = redactedCause(thrown, redactor) as StandIn;
    expect(s).toBeInstanceOf(Error);
    expect(s.name).toBe('Error');
    expect(s.message).toBe('');
    expect({ ...s }).toEqual({ status: 401, code: 7 });
    expect(inspect(s, { depth: Infinity })).not.toContain(AZURE_KEY);
  });

  it('redacts a string, and leaves undefined and other primitives as they are', () => {
    expect(redactedCause(`bad key ${AZURE_KEY}`, redactor)).toBe('bad key [redacted]');
    for (const v of [undefined, null, 42, true, 10n]) expect(redactedCause(v, redactor)).toBe(v);
    const sym = Symbol('reason');
    expect(redactedCause(sym, redactor)).toBe(sym);
  });

  it('never throws on a hostile object: what cannot be read is left out', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error(`trap ${AZURE_KEY}`);
        },
      },
    );
    const s = redactedCause(hostile, redactor) as StandIn;
    expect(s).toBeInstanceOf(Error);
    expect(s.message).toBe('');
  });
});
