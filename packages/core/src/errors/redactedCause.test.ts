import { inspect } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { classifyError } from './classifyError';
import { httpErrorOf } from './httpErrorOf';
import { originalCauseOf, redactedCause } from './redactedCause';
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

  it('cuts a prompt the provider quoted back out of the message and the stack, as classifyError cuts it from its message', () => {
    const prompt = 'my SSN is 123-45-6789 and my card is 4111 1111 1111 1111, please summarise';
    const original = OpenAI.APIError.generate(
      400,
      { error: { message: `Invalid value for 'content': '${prompt}' is flagged.`, type: 'invalid_request_error', code: null } },
      undefined,
      new Headers(),
    );
    const s = redactedCause(original, redactor) as StandIn;
    expect(s.message).toBe("400 Invalid value for 'content': '[74 chars]' is flagged.");
    expect(s.message).toBe(classifyError(original).message.replace(/^/, '400 '));
    expect(s.stack!.split('\n')[0]).toBe(`Error: ${s.message}`);
    expect(s.stack).toContain('redactedCause.test.ts'); // the frames stay
    for (const text of [s.message, s.stack!, inspect(s, { depth: Infinity })]) expect(text).not.toContain('4111 1111');
  });

  it('caps the message at 300 characters, like classifyError, cutting secrets before the cut', () => {
    const original = new Error(`${'x '.repeat(1_000)}then the key ${AZURE_KEY}`);
    const s = redactedCause(original, redactor) as StandIn;
    expect(s.message).toHaveLength(300);
    expect(s.message.endsWith('…')).toBe(true);
    const long = new Error(`${' '.repeat(3_990)}key ${AZURE_KEY}`); // across the 4 000-character cut
    const cut = redactedCause(long, redactor) as StandIn;
    expect(cut.message).toBe('key [redac');
    expect(inspect(cut, { depth: Infinity })).not.toContain(AZURE_KEY.slice(0, 8));
  });

  it('keeps nothing of the original first line when the message was changed after the error was made', () => {
    const original = new Error(`first message, key ${AZURE_KEY}, prompt '${'p'.repeat(40)}'`);
    original.message = 'changed later';
    const s = redactedCause(original, redactor) as StandIn;
    expect(s.stack!.split('\n')[0]).toBe('Error: changed later');
    expect(s.stack).toMatch(/\n\s+at /);
    expect(s.stack).not.toContain('first message');
  });

  it("copies an AggregateError's errors as stand-ins (undici's fetch failed), the first 8", () => {
    const refused = (host: string) => Object.assign(new Error(`connect ECONNREFUSED ${host}:443 (key ${AZURE_KEY})`), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });
    const all = new AggregateError([refused('10.0.0.1'), refused('::1')], '');
    const fetchFailed = new TypeError('fetch failed', { cause: all });
    const s = redactedCause(fetchFailed, redactor) as StandIn;
    const agg = s.cause as StandIn & { errors: StandIn[] };
    expect(agg.name).toBe('AggregateError');
    expect(agg.errors.map((e) => ({ ...e, message: e.message }))).toEqual([
      { message: 'connect ECONNREFUSED 10.0.0.1:443 (key [redacted])', code: 'ECONNREFUSED', errno: -111, syscall: 'connect' },
      { message: 'connect ECONNREFUSED ::1:443 (key [redacted])', code: 'ECONNREFUSED', errno: -111, syscall: 'connect' },
    ]);
    // Non-enumerable like the original's, printed by util.inspect all the same.
    expect(Object.keys(agg)).not.toContain('errors');
    const printed = inspect(s, { depth: Infinity });
    expect(printed).toContain('ECONNREFUSED ::1:443');
    expect(printed).not.toContain(AZURE_KEY);
    // classifyError reads them as it reads the original's.
    expect(classifyError(s)).toMatchObject({ kind: 'network', code: 'ECONNREFUSED' });

    const many = redactedCause(new AggregateError(Array.from({ length: 50 }, (_, i) => new Error(`e${i}`)), 'many'), redactor) as StandIn & { errors: StandIn[] };
    expect(many.errors.map((e) => e.message)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7']);
  });

  it('builds 32 stand-ins at most, however wide the aggregates nest', () => {
    const wide = (depth: number): Error => new AggregateError(depth === 0 ? [] : Array.from({ length: 8 }, () => wide(depth - 1)), `level ${depth}`);
    const s = redactedCause(wide(3), redactor);
    let count = 0;
    const visit = (e: unknown): void => {
      if (!(e instanceof Error)) return;
      count++;
      for (const inner of (e as { errors?: unknown[] }).errors ?? []) visit(inner);
      visit(e.cause);
    };
    visit(s);
    expect(count).toBe(32);
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

describe('originalCauseOf', () => {
  it('gives back what the stand-in cause of an error stands for, link by link; otherwise the cause itself', () => {
    const root = new Error(`socket closed for ${AZURE_KEY}`);
    const original = echoed401();
    (original as { cause?: unknown }).cause = root;
    const thrown = new Error('All targets failed', { cause: redactedCause(original, redactor) });
    expect(originalCauseOf(thrown)).toBe(original);
    expect(originalCauseOf(thrown.cause)).toBe(root);
    expect(originalCauseOf({ kind: 'auth', message: '', cause: thrown.cause })).toBe(original);
    // Not a stand-in: the cause as it is.
    const plain = new Error('plain', { cause: original });
    expect(originalCauseOf(plain)).toBe(original);
    expect(originalCauseOf(new Error('no cause'))).toBeUndefined();
    expect(originalCauseOf('text')).toBeUndefined();
    // Nothing that prints the stand-in reaches the original.
    expect(inspect(thrown, { depth: Infinity, showHidden: true })).not.toContain(AZURE_KEY);
  });
});
