import { z } from 'zod';
import { ManualClock } from '../clock';
import type { StandardSchemaLike } from '../policy/schema';
import { validateOutput } from './validateOutput';

const Intent = z.object({ intent: z.enum(['refund', 'question']) });

describe('validateOutput', () => {
  it('takes the first JSON value in the reply that matches the schema', async () => {
    await expect(validateOutput('As said in [1], here you go: {"intent":"refund"}', Intent)).resolves.toEqual({ ok: true, value: { intent: 'refund' } });
  });

  it('tries the next value when the validator throws on one, and reports the throw when none matches', async () => {
    const tagged: StandardSchemaLike<unknown> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: (v: unknown) => ((v as { tags: string[] }).tags.length > 0 ? { value: v } : { issues: [{ message: 'no tags' }] }),
      },
    };
    await expect(validateOutput('See [1]: {"tags":["a"]}', tagged)).resolves.toEqual({ ok: true, value: { tags: ['a'] } });
    await expect(validateOutput('See [1] and [2]', tagged)).resolves.toEqual({ ok: false, reason: expect.stringMatching(/^the output validator threw: /) });
  });

  it("reports the first value's issues when none matches, and says so when nothing parses", async () => {
    const r = await validateOutput('{"intent":"complaint"} or {"x":1}', Intent);
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/^the reply does not match the schema: intent: /) });
    await expect(validateOutput('no json', Intent)).resolves.toEqual({ ok: false, reason: 'the reply is not valid JSON' });
    await expect(validateOutput(undefined, Intent)).resolves.toEqual({ ok: false, reason: 'the reply has no text to validate' });
  });

  it('fails an asynchronous validator that does not answer in time, and cancels its wait when it does', async () => {
    const clock = new ManualClock(0);
    const never: StandardSchemaLike<unknown> = { '~standard': { version: 1, vendor: 'test', validate: () => new Promise(() => undefined) } };
    const pending = validateOutput('{"a":1}', never, { timeoutMs: 5_000, clock });
    await new Promise((r) => setImmediate(r));
    await clock.advance(5_000);
    await expect(pending).resolves.toEqual({ ok: false, reason: 'the output validator did not answer within 5000 ms' });

    const slowOk: StandardSchemaLike<unknown> = { '~standard': { version: 1, vendor: 'test', validate: async (v: unknown) => ({ value: v }) } };
    await expect(validateOutput('{"a":1}', slowOk, { timeoutMs: 5_000, clock })).resolves.toEqual({ ok: true, value: { a: 1 } });
    expect(clock.pending).toBe(0); // no timer left behind
  });

  it('stops waiting for an asynchronous validator when its signal aborts, and leaves no timer behind', async () => {
    const clock = new ManualClock(0);
    const never: StandardSchemaLike<unknown> = { '~standard': { version: 1, vendor: 'test', validate: () => new Promise(() => undefined) } };
    const ac = new AbortController();
    const pending = validateOutput('{"a":1}', never, { timeoutMs: 5_000, clock, signal: ac.signal });
    await new Promise((r) => setImmediate(r));
    ac.abort();
    await expect(pending).resolves.toEqual({ ok: false, reason: 'the validation was cancelled (the signal aborted)' });
    expect(clock.pending).toBe(0);
    // Without a timeout too; and an aborted signal stops it before any validator runs.
    const ac2 = new AbortController();
    const untimed = validateOutput('{"a":1}', never, { signal: ac2.signal });
    ac2.abort();
    await expect(untimed).resolves.toMatchObject({ ok: false });
    let ran = false;
    const sync: StandardSchemaLike<unknown> = { '~standard': { version: 1, vendor: 'test', validate: (v: unknown) => ((ran = true), { value: v }) } };
    await expect(validateOutput('{"a":1}', sync, { signal: AbortSignal.abort() })).resolves.toMatchObject({ ok: false });
    expect(ran).toBe(false);
  });

  it('applies timeoutMs on the system clock when no clock is given', async () => {
    jest.useFakeTimers();
    try {
      const never: StandardSchemaLike<unknown> = { '~standard': { version: 1, vendor: 'test', validate: () => new Promise(() => undefined) } };
      const pending = validateOutput('{"a":1}', never, { timeoutMs: 1_000 });
      await jest.advanceTimersByTimeAsync(1_000);
      await expect(pending).resolves.toEqual({ ok: false, reason: 'the output validator did not answer within 1000 ms' });
    } finally {
      jest.useRealTimers();
    }
  });

  it('counts a validator that throws or rejects as a failed validation', async () => {
    const throws: StandardSchemaLike<unknown> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: () => {
          throw new Error('boom');
        },
      },
    };
    await expect(validateOutput('{"a":1}', throws)).resolves.toEqual({ ok: false, reason: 'the output validator threw: boom' });
    const rejects: StandardSchemaLike<unknown> = { '~standard': { version: 1, vendor: 'test', validate: () => Promise.reject(new Error('down')) } };
    await expect(validateOutput('{"a":1}', rejects, { timeoutMs: 100, clock: new ManualClock(0) })).resolves.toEqual({ ok: false, reason: 'the output validator threw: down' });
  });

  it('never quotes the reply in its reason: long keys and quoted text are replaced by their length', async () => {
    const sentence = 'Patient Jane Roe (SSN 123-45-6789) should be told';
    const byKey = await validateOutput(JSON.stringify({ [sentence]: 'x' }), z.record(z.string(), z.enum(['low', 'high'])));
    expect(byKey).toEqual({ ok: false, reason: 'the reply does not match the schema: [49 chars]: Invalid option: expected one of "low"|"high"' });
    const strict = await validateOutput(JSON.stringify({ intent: 'refund', [sentence]: 1 }), z.strictObject({ intent: z.string() }));
    expect(strict).toEqual({ ok: false, reason: 'the reply does not match the schema: Unrecognized key: "[49 chars]"' });
    const parsing = z.string().transform((t) => JSON.parse(t) as unknown);
    const thrown = await validateOutput('"Patient Jane Roe"', parsing);
    expect(thrown.ok).toBe(false);
    expect(JSON.stringify(thrown)).not.toContain('Jane');
  });
});
