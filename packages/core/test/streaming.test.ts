import type OpenAI from 'openai';
import { ManualClock, type ModelCall, type PolicyInput, type Usage } from '../src';
import { engineFor, startWorld, userMessage, type World } from './support';

type Chunks = AsyncIterable<OpenAI.ChatCompletionChunk>;

const policy: PolicyInput = {
  targets: {
    'fast-a': { provider: 'openai', model: 'fast-a', contextWindow: 16_000, price: { input: 1, output: 2 } },
    'fast-b': { provider: 'azure', model: 'fast-b', contextWindow: 16_000, price: { input: 1, output: 2 } },
  },
  routes: { chat: { chain: ['fast-a', 'fast-b'] } },
  // A request reserves input + 1500 output tokens: two such reservations do not fit at once.
  limits: [{ id: 'team-tpm', scope: ['team'], metric: 'totalTokens', limit: 2_000, window: '1m' }],
};

/** Reads a stream to the end: the text and the usage of the final chunk (`include_usage`). */
async function consume(stream: Chunks): Promise<{ text: string; usage: Usage }> {
  let text = '';
  let usage: Usage | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
  }
  return { text, usage: usage! };
}

describe('streaming through the engine', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld(
      { models: { 'fast-a': { contextWindow: 16_000, replyTokens: 40 }, 'fast-b': { contextWindow: 16_000 } } },
      new ManualClock(Date.UTC(2026, 0, 1)),
    );
  });
  afterAll(() => world.stop());
  beforeEach(() => world.fake.reset());

  function streamCall(world: World, prompt: string): ModelCall<Chunks> {
    return async (t, ctx) => {
      const s = await world.openai.chat.completions.create(
        { model: t.model, messages: userMessage(prompt), max_tokens: ctx.maxOutputTokens, stream: true, stream_options: { include_usage: true } },
        { signal: ctx.signal },
      );
      return s as Chunks;
    };
  }

  it('settles the reservation with the real usage on complete(), and only then emits the record', async () => {
    const { engine, events } = engineFor(world, policy);
    const req = { route: 'chat', identity: { team: 't1' }, maxOutputTokens: 1_500, stream: true as const };

    const r = await engine.execute(req, streamCall(world, 'tell me a story'));
    expect(r.target.id).toBe('fast-a');
    expect(events.record).toEqual([]);

    // While the stream is open its worst case is reserved: another full-size request of the team is
    // refused at once (live traffic: the limiter's wait is longer than the class's maxWait).
    const refused = await engine
      .execute({ route: 'chat', identity: { team: 't1' }, maxOutputTokens: 1_500 }, world.call(userMessage('second')))
      .then(() => undefined, (e: unknown) => e);
    expect(refused).toMatchObject({ kind: 'rate_limited' });
    expect(events.limited).toContainEqual(expect.objectContaining({ rule: 'team-tpm', phase: 'request', action: 'reject' }));

    const { text, usage } = await consume(r.value);
    expect(text).toMatch(/^\[fast-a\] reply to/);
    const record = r.complete(usage);

    // The record is final when complete() returns.
    expect(record).toMatchObject({ outcome: 'success', final_model: 'fast-a', input_tokens: usage.inputTokens, output_tokens: usage.outputTokens });
    expect(record.actual_cost).toBeCloseTo((usage.inputTokens * 1 + usage.outputTokens * 2) / 1e6, 12);
    expect(usage.outputTokens).toBe(world.fake.counters.tokensByModel['fast-a']!.output);
    await world.settle(5);
    const streamRecords = events.record.filter((x) => x.request_id === record.request_id);
    expect(streamRecords).toEqual([record]);

    // Settling refunded the unused estimate: the same request now gets in, without any time passing.
    const { record: secondRecord } = await engine.execute(
      { route: 'chat', identity: { team: 't1' }, maxOutputTokens: 1_500 },
      world.call(userMessage('second')),
    );
    expect(secondRecord).toMatchObject({ outcome: 'success', queue_wait_ms: 0 });
    // complete() is idempotent.
    expect(r.complete(usage)).toBe(record);
    await world.settle(5);
    expect(events.record.filter((x) => x.request_id === record.request_id)).toHaveLength(1);
  });

  it('records a stream that breaks midway as a failure and releases its reservation', async () => {
    world.fake.setFaults([{ model: 'fast-a', kind: 'stream_cut', count: 1, afterChunks: 3 }]);
    const { engine, events } = engineFor(world, policy);

    const r = await engine.execute({ route: 'chat', identity: { team: 't1' }, maxOutputTokens: 1_500, stream: true }, streamCall(world, 'a long story'));
    const err = await consume(r.value).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    const record = r.fail(err);

    expect(record).toMatchObject({ outcome: 'failure', error_kind: 'network' });
    expect(events.record).toEqual([record]);
    expect(world.fake.counters.streamsCut).toBe(1);
    // Released: the next full-size request of the team is admitted at once.
    const next = await engine.execute({ route: 'chat', identity: { team: 't1' }, maxOutputTokens: 1_500 }, world.call(userMessage('next')));
    expect(next.record).toMatchObject({ outcome: 'success', queue_wait_ms: 0 });
  });

  it('falls back before the first chunk when the primary refuses the stream', async () => {
    world.fake.setFaults([{ model: 'fast-a', kind: 'overloaded_503' }]);
    const { engine } = engineFor(world, { ...policy, routes: { chat: { chain: ['fast-a', 'fast-b'], retry: { perKind: { overloaded: 0 } } } } });

    const r = await world.drive(
      engine.execute({ route: 'chat', identity: { team: 't1' }, maxOutputTokens: 100, stream: true }, streamCall(world, 'story')),
    );
    const { text, usage } = await consume(r.value);
    const record = r.complete(usage);

    expect(text).toMatch(/^\[fast-b\] reply to/);
    expect(record).toMatchObject({ outcome: 'success', final_model: 'fast-b', fallback_used: true, output_tokens: usage.outputTokens });
    expect(world.calls('fast-a')).toBe(1);
  });

  it('closes a stream that a call cut off by its timeout opens after all (the call ignored its signal)', async () => {
    // fast-a takes 300 ms of real time to its first token: the stream is open, the provider still generating.
    world.fake.setFaults([{ model: 'fast-a', kind: 'slow_first_token', delayMs: 300, count: 1 }]);
    try {
      const { engine } = engineFor(world, { ...policy, routes: { chat: { chain: ['fast-a', 'fast-b'], timeout: '1s', retry: { perKind: { timeout: 0 } } } } });
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let late: { controller: AbortController } | undefined;
      const call: ModelCall<Chunks> = async (t, ctx) => {
        if (t.id !== 'fast-a') return streamCall(world, 'story')(t, ctx);
        await gate; // something slow first, e.g. a lookup; the signal is never handed on
        const opened = await world.openai.chat.completions.create({ model: t.model, messages: userMessage('story'), stream: true });
        late = opened;
        return opened as Chunks;
      };

      const r = await world.drive(engine.execute({ route: 'chat', identity: { team: 't1' }, maxOutputTokens: 100, stream: true }, call));
      expect(r.target.id).toBe('fast-b');
      r.complete((await consume(r.value)).usage);

      release();
      for (let i = 0; i < 200 && !late?.controller.signal.aborted; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      // Opened after the cut-off, nobody reads it: the engine closed it, and the provider never finished it.
      expect(late?.controller.signal.aborted).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 600)); // well past the time the reply would have taken
      expect(world.calls('fast-a')).toBe(1);
      expect(world.fake.counters.tokensByModel['fast-a']).toBeUndefined();
    } finally {
      world.fake.setFaults([]);
    }
  });
});

