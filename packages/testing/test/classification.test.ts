import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import { classifyError } from '@llm-resilience/core';
import OpenAI from 'openai';
import { FAULT_KINDS, type FaultKind, type FaultRule, type StreamErrorType } from '../src';
import { startFake, userMessage, type Started } from './support';

/**
 * Every fault the fake provider produces, as the official SDKs surface it, must be classified by the
 * core's classifyError as the kind a resilience policy needs. `ok` marks faults that are not errors
 * at the HTTP level (the request succeeds; the reply is late or not valid JSON).
 */
interface Case {
  kind: string;
  rule?: Partial<FaultRule>;
  stream?: boolean;
  json?: boolean;
  /** Client timeout for this case (ms). */
  timeout?: number;
  /** openai SDK client timeouts are checked in a real Node process (see fixtures/classifyTimeouts.ts). */
  realNode?: boolean;
  retryAfterMs?: number;
}

const CASES: Record<FaultKind, Case> = {
  rate_limit: { kind: 'rate_limited', rule: { retryAfterSeconds: 2 }, retryAfterMs: 2_000 },
  rate_limit_no_hint: { kind: 'rate_limited' },
  overloaded_503: { kind: 'overloaded' },
  overloaded_529: { kind: 'overloaded' },
  server_error_500: { kind: 'unknown' },
  timeout: { kind: 'timeout', rule: { delayMs: 5_000 }, timeout: 100, realNode: true },
  hang: { kind: 'timeout', timeout: 100, realNode: true },
  connection_reset: { kind: 'network' },
  stream_cut: { kind: 'network', stream: true },
  // Default errorType: an overload, inside the stream (see the in-stream describe below for the others).
  stream_error: { kind: 'overloaded', stream: true },
  // A 200 whose body is not JSON: the SDK throws a SyntaxError; nothing says more than "unknown".
  malformed_json: { kind: 'unknown' },
  context_length: { kind: 'context_length' },
  insufficient_quota: { kind: 'quota_exhausted' },
  content_filter: { kind: 'policy_rejected' },
  // A first token later than the client's timeout is a timeout; otherwise only slow.
  slow_first_token: { kind: 'timeout', rule: { delayMs: 2_000 }, timeout: 100, realNode: true },
  slow_tokens: { kind: 'ok', rule: { perTokenMs: 1 }, stream: true },
  invalid_json_reply: { kind: 'ok', json: true },
  auth: { kind: 'auth' },
};

let s: Started;

beforeAll(async () => {
  s = await startFake({
    models: {
      'gpt-fake': { contextWindow: 8_000, limits: { rpm: 1_000 } },
      'claude-fake': { provider: 'anthropic', contextWindow: 8_000, limits: { rpm: 1_000 } },
    },
  });
});
afterAll(() => s.fake.stop());
beforeEach(() => s.fake.reset());

async function viaOpenAI(c: Case): Promise<{ error?: unknown; text?: string }> {
  const client = s.openai.withOptions({ timeout: c.timeout ?? 5_000 });
  try {
    // json_object needs the word "json" in the messages, as on the real API.
    const base = c.json
      ? { model: 'gpt-fake', messages: userMessage('classify me, answer in JSON'), response_format: { type: 'json_object' as const } }
      : { model: 'gpt-fake', messages: userMessage('classify me') };
    if (c.stream) {
      let text = '';
      for await (const chunk of await client.chat.completions.create({ ...base, stream: true })) text += chunk.choices[0]?.delta.content ?? '';
      return { text };
    }
    const r = await client.chat.completions.create(base);
    return { text: r.choices[0]!.message.content ?? '' };
  } catch (error) {
    return { error };
  }
}

async function viaAnthropic(c: Case): Promise<{ error?: unknown; text?: string }> {
  const client = s.anthropic.withOptions({ timeout: c.timeout ?? 5_000 });
  try {
    const base = { model: 'claude-fake', max_tokens: 200, messages: userMessage('classify me'), ...(c.json ? { system: 'Answer in JSON.' } : {}) };
    if (c.stream) {
      let text = '';
      for await (const e of await client.messages.create({ ...base, stream: true })) {
        if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
      }
      return { text };
    }
    const r = await client.messages.create(base);
    return { text: r.content[0]?.type === 'text' ? r.content[0].text : '' };
  } catch (error) {
    return { error };
  }
}

function expectClassified(kind: FaultKind, c: Case, out: { error?: unknown; text?: string }): void {
  if (c.kind === 'ok') {
    expect(out.error).toBeUndefined();
    expect(out.text).toMatch(/reply to [0-9a-f]{8}/);
    if (kind === 'invalid_json_reply') expect(() => JSON.parse(out.text!)).toThrow(SyntaxError);
    return;
  }
  expect(out.error).toBeDefined();
  const classified = classifyError(out.error);
  expect({ fault: kind, kind: classified.kind }).toEqual({ fault: kind, kind: c.kind });
  if (c.retryAfterMs !== undefined) expect(classified.retryAfterMs).toBe(c.retryAfterMs);
}

const repoRoot = join(__dirname, '../../..');

describe('classifyError on every fault, through the openai SDK', () => {
  it.each(FAULT_KINDS.filter((k) => !CASES[k].realNode).map((k) => [k]))('%s', async (kind) => {
    const c = CASES[kind];
    s.fake.setFaults([{ kind, ...c.rule }]);
    expectClassified(kind, c, await viaOpenAI(c));
    expect(s.fake.counters.faults[kind]).toBe(1);
  });

  it('client timeouts (timeout, hang, slow_first_token) in a real Node process', async () => {
    const script = join(__dirname, 'fixtures/classifyTimeouts.ts');
    const { stdout } = await promisify(execFile)(join(repoRoot, 'node_modules/.bin/tsx'), [script], { cwd: repoRoot, timeout: 15_000 });
    const expected = Object.fromEntries(FAULT_KINDS.filter((k) => CASES[k].realNode).map((k) => [k, { kind: CASES[k].kind, error: 'APIConnectionTimeoutError' }]));
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual(expected);
  }, 20_000);

  it('content_filter, Azure variant', async () => {
    s.fake.setFaults([{ kind: 'content_filter', variant: 'azure' }]);
    expect(classifyError((await viaOpenAI({ kind: 'x' })).error).kind).toBe('policy_rejected');
  });

  it('limit 429s are rate_limited with the hint; unknown models are auth (the target, not the request, is wrong)', async () => {
    const t = await startFake({ models: { one: { contextWindow: 100, limits: { rpm: 1 } } } });
    try {
      await t.openai.chat.completions.create({ model: 'one', messages: userMessage('x') });
      const err = await t.openai.chat.completions.create({ model: 'one', messages: userMessage('x') }).catch((e: unknown) => e);
      const c = classifyError(err);
      expect(c.kind).toBe('rate_limited');
      expect(c.retryAfterMs).toBeGreaterThan(59_000);
      const missing = await t.openai.chat.completions.create({ model: 'two', messages: userMessage('x') }).catch((e: unknown) => e);
      expect(classifyError(missing)).toMatchObject({ kind: 'auth', status: 404, code: 'model_not_found' });
      const tooLong = await t.openai.chat.completions.create({ model: 'one', messages: userMessage('x'.repeat(500)) }).catch((e: unknown) => e);
      expect(classifyError(tooLong).kind).toBe('context_length');
    } finally {
      await t.fake.stop();
    }
  });

  it('a request that alone exceeds the TPM ("Request too large") is rate_limited with retryAfterMs Infinity: never retried as it is', async () => {
    const t = await startFake({ models: { one: { contextWindow: 16_000, limits: { tpm: 100 } } } });
    try {
      const err = await t.openai.chat.completions.create({ model: 'one', messages: userMessage('lorem ipsum '.repeat(100)), max_tokens: 10 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      expect(classifyError(err)).toMatchObject({ kind: 'rate_limited', status: 429, code: 'rate_limit_exceeded', retryAfterMs: Infinity });
      // A small one still fits: the limit itself is healthy.
      await expect(t.openai.chat.completions.create({ model: 'one', messages: userMessage('hi'), max_tokens: 10 })).resolves.toBeDefined();
    } finally {
      await t.fake.stop();
    }
  });

  it('a request over the TPM while the RPM is used up too is still "Request too large": retryAfterMs Infinity, not a retryable RPM 429', async () => {
    const t = await startFake({ models: { one: { contextWindow: 16_000, limits: { rpm: 1, tpm: 100 } } } });
    try {
      await t.openai.chat.completions.create({ model: 'one', messages: userMessage('hi'), max_tokens: 10 });
      const err = await t.openai.chat.completions.create({ model: 'one', messages: userMessage('hi'), max_tokens: 500 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      expect((err as Error).message).toMatch(/must be reduced in order to run/);
      expect(classifyError(err)).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: Infinity });
    } finally {
      await t.fake.stop();
    }
  });
});

describe('classifyError on every fault, through the @anthropic-ai/sdk', () => {
  it.each(FAULT_KINDS.map((k) => [k]))('%s', async (kind) => {
    const c = CASES[kind];
    s.fake.setFaults([{ kind, ...c.rule }]);
    expectClassified(kind, c, await viaAnthropic(c));
  });

  it('the automatic "input length and max_tokens exceed context limit" is context_length', async () => {
    const err = await s.anthropic.messages.create({ model: 'claude-fake', max_tokens: 4_000, messages: userMessage('x'.repeat(16_400)) }).catch((e: unknown) => e);
    expect(classifyError(err).kind).toBe('context_length');
  });
});

/**
 * In-stream errors: the official SDKs read them from a 200 stream and throw an `APIError` without a
 * status (openai on `data: {"error": ...}`, @anthropic-ai/sdk on `event: error`); the text before it
 * has been delivered. Only the error body tells what happened, and classifyError must read it.
 */
describe('stream_error through the official SDKs', () => {
  const EXPECTED: Record<StreamErrorType, { kind: string; openai: string; anthropic: string; http: { openai: number; anthropic: number } }> = {
    overloaded: { kind: 'overloaded', openai: 'server_is_overloaded', anthropic: 'overloaded_error', http: { openai: 503, anthropic: 529 } },
    rate_limit: { kind: 'rate_limited', openai: 'rate_limit_exceeded', anthropic: 'rate_limit_error', http: { openai: 429, anthropic: 429 } },
    server_error: { kind: 'unknown', openai: 'server_error', anthropic: 'api_error', http: { openai: 500, anthropic: 500 } },
  };
  const TYPES = Object.keys(EXPECTED) as StreamErrorType[];
  const prompt = userMessage('stream until it fails');

  /** The words received before the stream failed, and what it failed with. */
  async function collect<T>(stream: AsyncIterable<T>, text: (item: T) => string): Promise<{ words: string[]; error: unknown }> {
    let received = '';
    try {
      for await (const item of stream) received += text(item);
    } catch (error) {
      return { words: received.split(' ').filter(Boolean), error };
    }
    throw new Error(`the stream ended without an error after "${received}"`);
  }

  it.each(TYPES)('openai SDK, %s: the first chunks arrive, then an APIError the core classifies', async (errorType) => {
    s.fake.setFaults([{ kind: 'stream_error', errorType, afterChunks: 3 }]);
    const stream = await s.openai.chat.completions.create({ model: 'gpt-fake', messages: prompt, stream: true });
    const { words, error } = await collect(stream, (c) => c.choices[0]?.delta.content ?? '');
    expect(words).toHaveLength(3);
    expect(words[0]).toBe('[gpt-fake]');
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const e = error as InstanceType<typeof OpenAI.APIError>;
    expect(e.status).toBeUndefined(); // after a 200 there is no error status
    expect(e.headers?.get('x-request-id')).toMatch(/^req_fake/);
    const c = classifyError(error);
    expect({ kind: c.kind, code: c.code }).toEqual({ kind: EXPECTED[errorType].kind, code: EXPECTED[errorType].openai });
    expect(c.status).toBeUndefined();
    expect(s.fake.counters.streamErrors).toBe(1);
  });

  it.each(TYPES)('@anthropic-ai/sdk, %s: the first deltas arrive, then an APIError the core classifies', async (errorType) => {
    s.fake.setFaults([{ kind: 'stream_error', errorType, afterChunks: 3 }]);
    const stream = await s.anthropic.messages.create({ model: 'claude-fake', max_tokens: 200, messages: prompt, stream: true });
    const { words, error } = await collect(stream, (e) => (e.type === 'content_block_delta' && e.delta.type === 'text_delta' ? e.delta.text : ''));
    expect(words).toHaveLength(3);
    expect(words[0]).toBe('[claude-fake]');
    expect(error).toBeInstanceOf(Anthropic.APIError);
    const e = error as InstanceType<typeof Anthropic.APIError>;
    expect(e.status).toBeUndefined();
    expect(e.type).toBe(EXPECTED[errorType].anthropic);
    expect(e.error).toMatchObject({ type: 'error', error: { type: EXPECTED[errorType].anthropic } });
    const c = classifyError(error);
    expect({ kind: c.kind, code: c.code }).toEqual({ kind: EXPECTED[errorType].kind, code: EXPECTED[errorType].anthropic });
  });

  it.each(TYPES)('the SDKs\' stream helpers reject with the same error (%s)', async (errorType) => {
    s.fake.setFaults([{ kind: 'stream_error', errorType }]);
    const fromOpenAI = await s.openai.chat.completions.stream({ model: 'gpt-fake', messages: prompt }).finalChatCompletion().catch((e: unknown) => e);
    expect(classifyError(fromOpenAI).kind).toBe(EXPECTED[errorType].kind);
    const fromAnthropic = await s.anthropic.messages.stream({ model: 'claude-fake', max_tokens: 200, messages: prompt }).finalMessage().catch((e: unknown) => e);
    expect(classifyError(fromAnthropic).kind).toBe(EXPECTED[errorType].kind);
  });

  it.each(TYPES)('a request that does not stream gets the HTTP error instead, classified the same (%s)', async (errorType) => {
    s.fake.setFaults([{ kind: 'stream_error', errorType }]);
    const fromOpenAI = await s.openai.chat.completions.create({ model: 'gpt-fake', messages: prompt }).catch((e: unknown) => e);
    const fromAnthropic = await s.anthropic.messages.create({ model: 'claude-fake', max_tokens: 200, messages: prompt }).catch((e: unknown) => e);
    expect([classifyError(fromOpenAI), classifyError(fromAnthropic)].map((c) => [c.kind, c.status])).toEqual([
      [EXPECTED[errorType].kind, EXPECTED[errorType].http.openai],
      [EXPECTED[errorType].kind, EXPECTED[errorType].http.anthropic],
    ]);
    expect(s.fake.counters.streamErrors).toBe(0);
  });
});
