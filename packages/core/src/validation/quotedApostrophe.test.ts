import { classifyError } from '../errors/classifyError';
import { validateOutput } from './validateOutput';
import type { StandardSchemaLike } from '../policy/schema';

/*
 * A reply or prompt quoted in a validation reason or a provider message is redacted even when it
 * contains apostrophes (I can't, patient's): they do not end the quoted run.
 */
const REPLY = "I can't share that, the patient's SSN is 123-45-6789 and I'm sorry";

describe('quoted reply or prompt text containing an apostrophe is redacted', () => {
  it("a validator's thrown message keeps no part of the reply (JSON.parse of a reply with an apostrophe)", async () => {
    const schema: StandardSchemaLike = {
      '~standard': { version: 1, vendor: 'x', validate: (v) => { throw new Error(`bad value "${String((v as { a: string }).a)}"`); } },
    };
    const r = await validateOutput(JSON.stringify({ a: REPLY }), schema);
    expect(r.ok).toBe(false);
    const reason = (r as { reason: string }).reason;
    expect(reason).not.toContain('123-45-6789');
    expect(reason).not.toContain('share that');
  });

  it('a schema issue quoting a long reply value with an apostrophe keeps none of it', async () => {
    const schema: StandardSchemaLike = {
      '~standard': {
        version: 1,
        vendor: 'valibot-like',
        validate: (v) => ({ issues: [{ message: `Invalid type: Expected number but received "${(v as { a: string }).a}"`, path: ['a'] }] }),
      },
    };
    const r = await validateOutput(JSON.stringify({ a: REPLY }), schema);
    const reason = (r as { reason: string }).reason;
    expect(reason).not.toContain('123-45-6789');
  });

  it("a provider message quoting the prompt back (with an apostrophe) keeps none of it", () => {
    const err = Object.assign(new Error(`Invalid value for 'content': '${REPLY}'`), { status: 400 });
    const c = classifyError(err);
    expect(c.message).not.toContain('123-45-6789');
  });
});
