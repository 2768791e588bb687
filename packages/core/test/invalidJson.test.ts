import { z } from 'zod';
import { ChainExhaustedError, ManualClock, type AttemptContext, type PolicyInput, type ResolvedTarget } from '../src';
import { engineFor, rejection, startWorld, userMessage, type CallExtras, type World } from './support';

const Intent = z.strictObject({
  intent: z.enum(['refund_request', 'other']),
  urgency: z.enum(['low', 'medium', 'high']),
  summary: z.string().min(1),
});

/** Asks the OpenAI endpoint for JSON matching the route's schema. */
const jsonReply: CallExtras = {
  openai: () => ({ response_format: { type: 'json_schema', json_schema: { name: 'intent', schema: z.toJSONSchema(Intent) } } }),
};

const targets: PolicyInput['targets'] = {
  primary: { provider: 'openai', model: 'primary', contextWindow: 16_000 },
  backup: { provider: 'azure', model: 'backup', contextWindow: 16_000 },
  premium: { provider: 'openai-eu', model: 'premium', contextWindow: 16_000 },
};

/**
 * Seed: "If your primary model reliably returns clean JSON and your fallback model does not, the
 * fallback can keep the request alive while still breaking the workflow. So for structured outputs,
 * validate the response before returning it." and "If validation fails, you can retry once with a
 * stricter prompt, fallback to another model, or route to a queue/manual review."
 */
describe('a reply that is not valid JSON is caught by the route output schema', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld(
      { models: { primary: { contextWindow: 16_000 }, backup: { contextWindow: 16_000 }, premium: { contextWindow: 16_000 } } },
      new ManualClock(Date.UTC(2026, 0, 1)),
    );
  });
  afterAll(() => world.stop());
  beforeEach(() => world.fake.reset());

  it('falls back when the primary breaks JSON, and returns the fallback answer validated', async () => {
    world.fake.setFaults([{ model: 'primary', kind: 'invalid_json_reply' }]);
    const { engine, events } = engineFor(world, { targets, routes: { classify: { chain: ['primary', 'backup'], output: Intent } } });

    const res = await world.drive(engine.execute({ route: 'classify', maxOutputTokens: 200 }, world.call(userMessage('my order arrived broken'), jsonReply)));

    expect(Intent.parse(res.output)).toEqual(res.output);
    expect(res.output).toMatchObject({ intent: 'refund_request', urgency: 'low' });
    expect(res.record).toMatchObject({ outcome: 'success', final_model: 'backup', fallback_used: true, validation_failures: 1 });
    expect(res.record.attempts.map((a) => [a.target, a.outcome])).toEqual([
      ['primary', 'invalid_output'],
      ['backup', 'success'],
    ]);
    expect(res.record.attempts[0]!.errorKind).toBe('validation_failed');
    expect(events.validation).toEqual([expect.objectContaining({ target: 'primary', action: 'fallback', reason: expect.stringMatching(/JSON/i) })]);
    expect(events.fallback).toEqual([expect.objectContaining({ from: 'primary', kind: 'validation_failed' })]);
    expect(world.calls('primary')).toBe(1);
    expect(world.calls('backup')).toBe(1);
  });

  it('catches a fallback that breaks JSON during an outage: never returns it, tries the next target', async () => {
    world.fake.setFaults([
      { model: 'primary', kind: 'overloaded_503' },
      { model: 'backup', kind: 'invalid_json_reply' },
    ]);
    const { engine, events } = engineFor(world, {
      targets,
      routes: { classify: { chain: ['primary', 'backup', 'premium'], output: Intent, retry: { perKind: { overloaded: 0 } } } },
    });

    const res = await world.drive(engine.execute({ route: 'classify', maxOutputTokens: 200 }, world.call(userMessage('where is my parcel'), jsonReply)));

    expect(res.record.final_model).toBe('premium');
    expect(Intent.safeParse(res.output).success).toBe(true);
    expect(res.record.attempts.map((a) => `${a.target}:${a.errorKind ?? 'ok'}`)).toEqual(['primary:overloaded', 'backup:validation_failed', 'premium:ok']);
    expect(res.record.validation_failures).toBe(1);
    expect(events.validation).toHaveLength(1);
  });

  it('fails with validation_failed rather than return broken output when no target gives valid JSON', async () => {
    world.fake.setFaults([
      { model: 'primary', kind: 'overloaded_503' },
      { model: 'backup', kind: 'invalid_json_reply' },
    ]);
    const { engine } = engineFor(world, {
      targets,
      routes: { classify: { chain: ['primary', 'backup'], output: Intent, retry: { perKind: { overloaded: 0 } } } },
    });

    const err = await world.drive(rejection(engine.execute({ route: 'classify', maxOutputTokens: 200 }, world.call(userMessage('hi'), jsonReply))));

    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect((err as ChainExhaustedError).kind).toBe('validation_failed');
    expect((err as ChainExhaustedError).record).toMatchObject({ outcome: 'failure', validation_failures: 1, error_kind: 'validation_failed' });
  });

  it('retries once with a stricter prompt on the same target when the route asks for it', async () => {
    world.fake.setFaults([{ model: 'primary', kind: 'invalid_json_reply', count: 1 }]);
    const { engine, events } = engineFor(world, {
      targets,
      routes: { classify: { chain: ['primary', 'backup'], output: Intent, onInvalidOutput: 'retry-stricter' } },
    });
    const seen: Array<{ target: string; repair?: string }> = [];
    const extras: CallExtras = {
      ...jsonReply,
      onAttempt: (t: ResolvedTarget, ctx: AttemptContext) => seen.push({ target: t.id, ...(ctx.repair ? { repair: ctx.repair.reason } : {}) }),
    };

    const res = await world.drive(engine.execute({ route: 'classify', maxOutputTokens: 200 }, world.call(userMessage('refund please'), extras)));

    expect(res.record).toMatchObject({ final_model: 'primary', fallback_used: false, retry_count: 1, validation_failures: 1 });
    expect(seen).toEqual([{ target: 'primary' }, { target: 'primary', repair: expect.any(String) }]);
    expect(events.validation).toEqual([expect.objectContaining({ action: 'retry-stricter' })]);
    expect(world.calls('primary')).toBe(2);
    expect(world.calls('backup')).toBe(0);
  });
});
