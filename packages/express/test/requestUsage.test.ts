import express, { type Request } from 'express';
import type { StreamingResult, Usage } from '@llm-resilience/core';
import { resilience } from '../src';
import { listen, testEngine } from './support';

/*
 * `req.resilience.usage()` is "their real usage as the engine charged it" (docs/express.md), and is what
 * inbound token and cost rules are settled with. However a stream ends, the middleware counts its tokens
 * exactly when the engine charged them: `complete(usage)` and `fail(error, usage)` with a usage object
 * are charged; `fail(error)` and `fail(error, null)` (`usage: null`, as an OpenAI chunk carries it) are
 * not, and the record then keeps only the pre-call estimate as `input_tokens`.
 */

type End = (r: StreamingResult<{ first: string }>) => unknown;

interface Body {
  usage: { inputTokens: number; outputTokens: number; costUsd: number };
  record: { outcome: string; input_tokens: number; output_tokens: number; actual_cost: number; final_model: string | null };
}

async function usageAfter(end: End): Promise<Body> {
  const engine = testEngine();
  const a = express();
  a.use(resilience({ engine, identity: (req: Request) => ({ team: req.get('x-team') ?? undefined }), validations: false }));
  a.get('/stream', async (req, res) => {
    const r = await req.resilience.execute('solo', async () => ({ first: 'Hello' }), {
      stream: true,
      input: { prompt: 'tell me a long story' },
      maxOutputTokens: 500,
    });
    end(r);
    const record = r.record;
    res.json({
      usage: req.resilience.usage(),
      record: { outcome: record.outcome, input_tokens: record.input_tokens, output_tokens: record.output_tokens, actual_cost: record.actual_cost, final_model: record.final_model ?? null },
    });
  });
  const { url, close } = await listen(a);
  try {
    return (await (await fetch(`${url}/stream`, { headers: { 'x-team': 't1' } })).json()) as Body;
  } finally {
    await close();
  }
}

describe('req.resilience.usage() counts a stream as the engine charged it', () => {
  it('counts no tokens for a stream failed with a null usage, as for fail(error) (the engine charged none)', async () => {
    const body = await usageAfter((r) => r.fail(new Error('upstream cut before generating'), null as unknown as Usage));
    // The engine did not charge this stream: no final model on its record, the input is the estimate.
    expect(body.record.final_model).toBeNull();
    expect(body.record.input_tokens).toBeGreaterThan(0);
    expect(body.usage).toEqual({ inputTokens: 0, outputTokens: 0, costUsd: 0 });
  });

  it('counts no tokens for a stream failed without usage', async () => {
    const body = await usageAfter((r) => r.fail(new Error('refused before anything was generated')));
    expect(body.record).toMatchObject({ outcome: 'failure', final_model: null });
    expect(body.record.input_tokens).toBeGreaterThan(0);
    expect(body.usage).toEqual({ inputTokens: 0, outputTokens: 0, costUsd: 0 });
  });

  it('counts the usage a stream was failed with, when it is a usage object', async () => {
    const body = await usageAfter((r) => r.fail(new Error('stream cut'), { inputTokens: 40, outputTokens: 120 }));
    expect(body.record).toMatchObject({ outcome: 'failure', input_tokens: 40, output_tokens: 120 });
    expect(body.record.final_model).not.toBeNull();
    expect(body.usage).toEqual({ inputTokens: 40, outputTokens: 120, costUsd: body.record.actual_cost });
  });

  it('counts the usage a stream was completed with', async () => {
    const body = await usageAfter((r) => r.complete({ inputTokens: 40, outputTokens: 120 }));
    expect(body.record).toMatchObject({ outcome: 'success', input_tokens: 40, output_tokens: 120 });
    expect(body.usage).toEqual({ inputTokens: 40, outputTokens: 120, costUsd: body.record.actual_cost });
  });

  it('counts the estimate a stream completed with a null usage was charged (the engine charges it on a success)', async () => {
    const body = await usageAfter((r) => r.complete(null as unknown as Usage));
    expect(body.record).toMatchObject({ outcome: 'success' });
    expect(body.record.final_model).not.toBeNull();
    expect(body.record.input_tokens).toBeGreaterThan(0);
    expect(body.usage).toEqual({ inputTokens: body.record.input_tokens, outputTokens: body.record.output_tokens, costUsd: body.record.actual_cost });
  });
});
