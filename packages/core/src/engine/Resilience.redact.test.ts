import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import OpenAI from 'openai';
import { Registry } from 'prom-client';
import type { ChainExhaustedError, RequestFailedError } from '../errors/ChainExhaustedError';
import { originalCauseOf } from '../errors/redactedCause';
import { ResilienceError } from '../errors/ResilienceError';
import { combineMetrics, type Metrics } from '../observability/Metrics';
import { PrometheusMetrics } from '../observability/PrometheusMetrics';
import { toLogRecord } from '../observability/recordToLog';
import type { StandardSchemaLike } from '../policy/schema';
import { drive, ok, scripted, setup } from './engineTestKit';
import type { ResilienceEvents } from './events';
import type { Logger, ModelCall, ResilienceOptions } from './types';

const PASS_ALL: StandardSchemaLike = { '~standard': { version: 1, vendor: 'x', validate: (v) => ({ value: v }) } };

/*
 * The app's own credentials (option `redact`) never reach what the engine produces: events, records,
 * logs, metrics, and the errors it throws. The keys below have formats the built-in key formats do not
 * know (an Azure key is 32 hex characters; a gateway token is whatever the gateway says), so without the
 * option a provider that echoes them puts them everywhere (the control test shows it).
 */
const AZURE_KEY = '9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const GATEWAY_TOKEN = 'gwt.7Hq2Lr9Xv4Nc8Zp1';
const SECRETS = [AZURE_KEY, GATEWAY_TOKEN];

const EVENTS: Array<keyof ResilienceEvents & string> = ['record', 'attempt', 'retry', 'fallback', 'skip', 'limited', 'validation', 'budget', 'breaker', 'queue', 'alert', 'lateUsage'];

/** A validator whose message quotes what it got, unquoted (the quoted-text redaction would not see it). */
const ECHOING: StandardSchemaLike = {
  '~standard': { version: 1, vendor: 'test', validate: (v) => ({ issues: [{ message: `not a label: ${String(v)}` }] }) },
};

/**
 * A 401 as the `openai` SDK throws it, its body echoing the key the call sent (as some gateways do), and
 * a header quoting it too (the SDK keeps the response headers on the error).
 */
function echoed401(key: string): Error {
  return OpenAI.APIError.generate(
    401,
    { error: { message: `Incorrect API key provided: ${key}. You can find your API key in the portal.`, type: 'invalid_request_error', code: 'invalid_api_key' } },
    undefined,
    new Headers({ 'x-request-id': 'req_401', 'x-echo-key': key }),
  );
}

/** What `console.error(err)` prints: Node's own console, writing to a string. */
function consoleErrorOf(err: unknown): string {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out += chunk.toString();
      done();
    },
  });
  new Console({ stdout: sink, stderr: sink }).error(err);
  return out;
}

/** A quota 429 whose body names the token of the account that ran out. */
function echoedQuota(token: string): Error {
  return OpenAI.APIError.generate(
    429,
    { error: { message: `You exceeded your current quota for token ${token}; check your plan and billing details.`, type: 'insufficient_quota', code: 'insufficient_quota' } },
    undefined,
    new Headers(),
  );
}

/** Everything a test can see of what the engine produced: every event, log call and metrics call, as text. */
function observe(redact: ResilienceOptions['redact'], routes?: Parameters<typeof setup>[1], extra: Omit<ResilienceOptions, 'clock' | 'redact'> = {}) {
  const seen: string[] = [];
  const logger: Logger = {
    debug: (...args) => seen.push(`log.debug ${JSON.stringify(args)}`),
    info: (...args) => seen.push(`log.info ${JSON.stringify(args)}`),
    warn: (...args) => seen.push(`log.warn ${JSON.stringify(args)}`),
    error: (...args) => seen.push(`log.error ${JSON.stringify(args)}`),
  };
  const recording: Metrics = {
    request: (...args) => seen.push(`metrics.request ${JSON.stringify(args)}`),
    attempt: (...args) => seen.push(`metrics.attempt ${JSON.stringify(args)}`),
    breaker: (...args) => seen.push(`metrics.breaker ${JSON.stringify(args)}`),
    queue: (...args) => seen.push(`metrics.queue ${JSON.stringify(args)}`),
    lateUsage: (...args) => seen.push(`metrics.lateUsage ${JSON.stringify(args)}`),
  };
  const registry = new Registry();
  const options: Omit<ResilienceOptions, 'clock'> = { logger, metrics: combineMetrics(new PrometheusMetrics({ registry }), recording), ...extra };
  if (redact !== undefined) options.redact = redact;
  const { engine, clock } = setup({}, routes, options);
  const kinds = new Set<string>();
  for (const name of EVENTS) {
    engine.events.on(name, (payload) => {
      kinds.add(name);
      seen.push(`event.${name} ${JSON.stringify(payload)}`);
      if (name === 'record') seen.push(`toLogRecord ${JSON.stringify(toLogRecord(payload as ResilienceEvents['record'], { includeContent: true }))}`);
    });
  }
  return { engine, clock, seen, kinds, prometheus: () => registry.metrics() };
}

/** The messages (and stacks, userMessages, classified failures) of the errors of ours in `err`'s cause chain. */
function ourErrorsText(err: unknown): string[] {
  const out: string[] = [];
  for (let e: unknown = err; e instanceof ResilienceError; e = e.cause) {
    const { cause: _last, ...last } = (e as { last?: { cause?: unknown } }).last ?? {};
    const { cause: _classified, ...classified } = (e as { classified?: { cause?: unknown } }).classified ?? {};
    out.push(String(e), e.message, e.stack ?? '', e.userMessage ?? '', JSON.stringify(last), JSON.stringify(classified), JSON.stringify((e as { record?: unknown }).record ?? null));
  }
  return out;
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('the request succeeded');
}

/** One request whose only attempt fails with a 401 echoing AZURE_KEY: the engine's error and what the call threw. */
async function failedOn401(
  engine: ReturnType<typeof observe>['engine'],
  clock: ReturnType<typeof observe>['clock'],
): Promise<{ err: ChainExhaustedError; thrown: unknown[] }> {
  const thrown: unknown[] = [];
  const err = (await failure(
    drive(
      clock,
      engine.execute({ route: 'chat', inputTokens: 10 }, () => {
        const e = echoed401(AZURE_KEY);
        thrown.push(e);
        return Promise.reject(e);
      }),
    ),
  )) as ChainExhaustedError;
  return { err, thrown };
}

function expectNoSecret(texts: readonly string[]): void {
  const leaks = texts.filter((t) => SECRETS.some((s) => t.includes(s)));
  expect(leaks).toEqual([]);
}

describe('Resilience with redact: the app\'s own keys never reach what the engine produces', () => {
  it('without redact, a key of an unknown format that a 401 body echoes reaches the alert event and the error message (the gap)', async () => {
    const { engine, clock, seen } = observe(undefined);
    const call: ModelCall<unknown> = (t) => Promise.reject(t.id === 'a' ? echoed401(AZURE_KEY) : echoedQuota(GATEWAY_TOKEN));
    const err = await failure(drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, call)));
    expect(seen.filter((t) => t.startsWith('event.alert') && t.includes(AZURE_KEY))).toHaveLength(1);
    expect(ourErrorsText(err).some((t) => t.includes(GATEWAY_TOKEN))).toBe(true);
  });

  it('with redact.secrets, a 401 and a quota 429 echoing them leave no trace in events, records, logs, metrics or our errors', async () => {
    const { engine, clock, seen, kinds, prometheus } = observe({ secrets: SECRETS });
    const call: ModelCall<unknown> = (t) => Promise.reject(t.id === 'a' ? echoed401(AZURE_KEY) : echoedQuota(GATEWAY_TOKEN));
    const err = await failure(drive(clock, engine.execute({ route: 'chat', identity: { user: 'u1' }, inputTokens: 10 }, call)));

    // What happened is still all there: two alerts (auth, quota), a fallback, a failed record, a chain error.
    expect(err).toMatchObject({ code: 'ERR_LLMR_CHAIN_EXHAUSTED', kind: 'quota_exhausted' });
    expect([...kinds]).toEqual(expect.arrayContaining(['attempt', 'alert', 'fallback', 'record']));
    const alerts = seen.filter((t) => t.startsWith('event.alert'));
    expect(alerts).toHaveLength(2);
    expect(alerts[0]).toContain('auth on a: Incorrect API key provided: [redacted].');
    expect(alerts[1]).toContain('quota_exhausted on b: You exceeded your current quota for token [redacted];');
    expect((err as Error).message).toContain('last error quota_exhausted (429): You exceeded your current quota for token [redacted];');
    expect(seen.filter((t) => t.startsWith('log.error'))).toHaveLength(2);

    expectNoSecret(seen);
    expectNoSecret(ourErrorsText(err));
    expectNoSecret([await prometheus()]);
    // What a logger prints of the error, cause chain included, carries neither key either.
    expectNoSecret([inspect(err, { depth: Infinity }), consoleErrorOf(err)]);
  });

  it('hands out a redacted stand-in as the cause of a chain error: name, message, status, code, request id; no headers or body', async () => {
    const { engine, clock } = observe({ secrets: SECRETS }, { chat: { chain: ['a'] } });
    const { err, thrown } = await failedOn401(engine, clock);
    expect(err).toMatchObject({ code: 'ERR_LLMR_CHAIN_EXHAUSTED', kind: 'auth' });
    const original = thrown[0] as InstanceType<typeof OpenAI.APIError>;
    const cause = err.cause as Error & Record<string, unknown>;
    expect(cause).not.toBe(original);
    expect(cause).not.toBeInstanceOf(OpenAI.APIError);
    expect(cause.name).toBe(original.name);
    expect(cause.message).toBe('401 Incorrect API key provided: [redacted]. You can find your API key in the portal.');
    expect({ ...cause }).toEqual({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error', requestID: 'req_401' });
    expect(err.last?.cause).toBe(cause);
    expectNoSecret([inspect(err, { depth: Infinity }), consoleErrorOf(err), inspect(err.last, { depth: Infinity })]);
    // The engine changed nothing of the error the call threw, which originalCauseOf gives back for debugging.
    expect(original.message).toContain(AZURE_KEY);
    expect(original.headers?.get('x-echo-key')).toBe(AZURE_KEY);
    expect(originalCauseOf(err)).toBe(original);
    expect(originalCauseOf(err.last)).toBe(original);
  });

  it('keeps prompt text a provider quoted back (a 400 on the content) out of the stand-in cause, as out of the message', async () => {
    const prompt = 'my SSN is 123-45-6789 and my card is 4111 1111 1111 1111, please summarise';
    const err400 = OpenAI.APIError.generate(
      400,
      { error: { message: `Invalid value for 'content': '${prompt}' is flagged.`, type: 'invalid_request_error', code: null } },
      undefined,
      new Headers(),
    );
    const { engine, clock } = observe({ secrets: SECRETS }, { chat: { chain: ['a'] } });
    const err = (await failure(drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, () => Promise.reject(err400))))) as RequestFailedError;
    expect(err).toMatchObject({ kind: 'invalid_request', cause: { message: "400 Invalid value for 'content': '[74 chars]' is flagged.", status: 400 } });
    for (const text of [err.message, inspect(err, { depth: Infinity }), consoleErrorOf(err)]) {
      expect(text).not.toContain('4111 1111');
      expect(text).not.toContain('123-45-6789');
    }
  });

  it('builds a stand-in only for the failure it throws: the failed attempts before it keep their raw errors until then', async () => {
    const { engine, clock } = observe({ secrets: SECRETS }, { chat: { chain: ['a', 'b'] } });
    // A stand-in reads the stack of what it stands for (V8 formats it then, the costly part): counted.
    const stackReads = new Map<Error, number>();
    const failing = (message: string, status: number): Error => {
      const e = Object.assign(new Error(message), { status });
      const stack = e.stack;
      stackReads.set(e, 0);
      Object.defineProperty(e, 'stack', { get: () => (stackReads.set(e, stackReads.get(e)! + 1), stack), configurable: true });
      return e;
    };
    // a overloaded, retried, then b answers: nothing is thrown, no stand-in is built.
    let n = 0;
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, (t) => (t.id === 'a' ? Promise.reject(failing(`overloaded ${n++}`, 503)) : Promise.resolve(ok()))));
    expect(stackReads.size).toBeGreaterThan(1);
    expect([...stackReads.values()].every((reads) => reads === 0)).toBe(true);

    // Every attempt fails: only the last one's error, which the thrown error carries, gets a stand-in.
    stackReads.clear();
    const err = (await failure(drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, (t) => Promise.reject(failing(`overloaded on ${t.id}`, 503)))))) as ChainExhaustedError;
    const errors = [...stackReads.keys()];
    expect(errors.length).toBeGreaterThan(2);
    expect(errors.map((e) => stackReads.get(e)! > 0)).toEqual(errors.map((_, i) => i === errors.length - 1));
    expect(originalCauseOf(err)).toBe(errors[errors.length - 1]);
    expect(err.cause).toMatchObject({ message: 'overloaded on b', status: 503 });
  });

  it("keeps the connection errors behind undici's fetch failed (an AggregateError's errors) in the stand-in", async () => {
    const { engine, clock } = observe({ secrets: SECRETS }, { chat: { chain: ['a'], retry: { maxAttempts: 1 } } });
    const refused = (host: string) => Object.assign(new Error(`connect ECONNREFUSED ${host}:443`), { code: 'ECONNREFUSED', syscall: 'connect' });
    const fetchFailed = () => new TypeError('fetch failed', { cause: new AggregateError([refused('10.0.0.1'), refused('::1')], '') });
    const err = (await failure(drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, () => Promise.reject(fetchFailed()))))) as ChainExhaustedError;
    expect(err).toMatchObject({ kind: 'network' });
    const errors = ((err.cause as Error).cause as { errors?: unknown[] }).errors;
    expect(errors).toEqual([expect.objectContaining({ message: 'connect ECONNREFUSED 10.0.0.1:443', code: 'ECONNREFUSED' }), expect.objectContaining({ message: 'connect ECONNREFUSED ::1:443', code: 'ECONNREFUSED' })]);
    expect(inspect(err, { depth: Infinity })).toContain('ECONNREFUSED ::1:443');
  });

  it('does the same for an error that does not fall back, and for the caller\'s abort reason', async () => {
    const { engine, clock } = observe({ secrets: SECRETS }, { chat: { chain: ['a', 'b'], fallbackOn: ['rate_limited'] } });
    const stopped = (await failure(drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, () => Promise.reject(echoed401(AZURE_KEY)))))) as RequestFailedError;
    expect(stopped).toMatchObject({ code: 'ERR_LLMR_NOT_RETRYABLE', cause: { status: 401, code: 'invalid_api_key' } });
    expect(stopped.classified.cause).toBe(stopped.cause);
    expectNoSecret([inspect(stopped, { depth: Infinity }), consoleErrorOf(stopped)]);

    const reason = new Error(`session of ${GATEWAY_TOKEN} closed`);
    const cancelled = (await failure(drive(clock, engine.execute({ route: 'chat', inputTokens: 10, signal: AbortSignal.abort(reason) }, () => Promise.resolve(ok()))))) as RequestFailedError;
    expect(cancelled).toMatchObject({ code: 'ERR_LLMR_CANCELLED', cause: { message: 'session of [redacted] closed' } });
    expectNoSecret([inspect(cancelled, { depth: Infinity })]);
  });

  it('without redact, the cause is the error the call threw, untouched (as before the option existed)', async () => {
    const { engine, clock } = observe(undefined, { chat: { chain: ['a'] } });
    const { err, thrown } = await failedOn401(engine, clock);
    expect(err.cause).toBe(thrown[0]);
    expect(err.last?.cause).toBe(thrown[0]);
    // ...which is what a logger prints: the gap the stand-in closes.
    expect(consoleErrorOf(err)).toContain(AZURE_KEY);
  });

  it('exposedCause gives adapters the same stand-in for errors of their own, and the cause itself without redact', () => {
    const original = echoed401(AZURE_KEY);
    const redacting = observe({ secrets: SECRETS }, { chat: { chain: ['a'] } }).engine;
    const standIn = redacting.exposedCause(original) as Error & Record<string, unknown>;
    expect(standIn).not.toBe(original);
    expect(standIn.name).toBe(original.name);
    expect({ ...standIn }).toEqual({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error', requestID: 'req_401' });
    expectNoSecret([inspect(standIn, { depth: Infinity })]);
    expect(originalCauseOf({ cause: standIn })).toBe(original);
    expect(redacting.exposedCause(undefined)).toBeUndefined();
    const plain = observe(undefined, { chat: { chain: ['a'] } }).engine;
    expect(plain.exposedCause(original)).toBe(original);
  });

  it('cuts a key that a secrets function returns as one string (not its characters)', async () => {
    const { engine, clock, seen } = observe({ secrets: () => AZURE_KEY }, { chat: { chain: ['a'] } });
    const err = await failure(drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, () => Promise.reject(echoed401(AZURE_KEY)))));
    expect(seen.filter((t) => t.startsWith('event.alert') && t.includes('Incorrect API key provided: [redacted].'))).toHaveLength(1);
    expectNoSecret([...seen, ...ourErrorsText(err), inspect(err, { depth: Infinity })]);
  });

  it('cuts them out of the message of an error that does not fall back (ERR_LLMR_NOT_RETRYABLE)', async () => {
    const { engine, clock, seen } = observe({ secrets: SECRETS }, { chat: { chain: ['a', 'b'], fallbackOn: ['rate_limited'] } });
    const err = await failure(drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, () => Promise.reject(echoed401(AZURE_KEY)))));
    expect(err).toMatchObject({ code: 'ERR_LLMR_NOT_RETRYABLE', kind: 'auth' });
    expect((err as Error).message).toContain("Route 'chat' stopped on auth (401) from 'a': Incorrect API key provided: [redacted].");
    expectNoSecret(seen);
    expectNoSecret(ourErrorsText(err));
  });

  it('cuts what matches redact.patterns, and keys from a function of secrets read when the error arrives', async () => {
    let current = 'rotated-key-000000000001';
    const { engine, clock, seen } = observe({ secrets: () => [current], patterns: [/\bgwt\.[A-Za-z0-9]{16}\b/] });
    const call: ModelCall<unknown> = (t) => Promise.reject(t.id === 'a' ? echoed401(current) : echoedQuota(GATEWAY_TOKEN));
    const first = await failure(drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, call)));
    current = 'rotated-key-000000000002';
    const second = await failure(drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, call)));
    const texts = [...seen, ...ourErrorsText(first), ...ourErrorsText(second)];
    expect(texts.filter((t) => t.includes('rotated-key-'))).toEqual([]);
    expectNoSecret(texts);
    expect(seen.filter((t) => t.startsWith('event.alert') && t.includes('[redacted]'))).toHaveLength(4);
  });

  it('cuts them out of a validation reason that quotes the reply, in the event and the error', async () => {
    const { engine, clock, seen } = observe({ secrets: SECRETS }, { chat: { chain: ['a'], output: ECHOING, onInvalidOutput: 'fail' } });
    const reply = ok(JSON.stringify(`my key is ${AZURE_KEY}`));
    const err = await failure(drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, () => Promise.resolve(reply))));
    expect(err).toMatchObject({ code: 'ERR_LLMR_INVALID_OUTPUT' });
    expect(seen.filter((t) => t.startsWith('event.validation') && t.includes('[redacted]'))).toHaveLength(1);
    expectNoSecret(seen);
    expectNoSecret(ourErrorsText(err));
  });

  it('cuts them out of the fields of the engine\'s log lines', async () => {
    const text = () => {
      throw new Error(`cannot read the reply of gateway session ${GATEWAY_TOKEN}`);
    };
    const { engine, clock, seen } = observe({ secrets: SECRETS }, { chat: { chain: ['a'], output: ECHOING } }, { text });
    // No text to validate: the request fails; what matters here is what was logged on the way.
    await failure(drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, () => Promise.resolve(ok('"fine"')))));
    expect(seen.filter((t) => t.startsWith('log.warn') && t.includes('the text extractor failed') && t.includes('gateway session [redacted]'))).toHaveLength(1);
    expectNoSecret(seen);
  });

  // JSON.parse quotes the first ten characters of what it was given: a user extractor's error says so.
  it('a text extractor whose JSON.parse fails on the reply does not put the start of the reply in the log', async () => {
    const logged: string[] = [];
    const text = (v: unknown) => JSON.parse((v as { raw: string }).raw) as string;
    const { engine, clock } = setup({}, { chat: { chain: ['a'], output: PASS_ALL } }, {
      text,
      logger: { warn: (m, f) => logged.push(m + ' ' + JSON.stringify(f)), error: (m, f) => logged.push(m + ' ' + JSON.stringify(f)) },
    });
    const { fn } = scripted({ a: [{ raw: 'Patient Jane Roe, SSN 123-45-6789', usage: { prompt_tokens: 1, completion_tokens: 1 } }] });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn)).catch(() => undefined);
    expect(logged.join('\n')).toMatch(/text extractor failed/);
    expect(logged.join('\n')).not.toContain('Patient Ja');
  });
});
