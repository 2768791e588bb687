import { CallbackManager } from '@langchain/core/callbacks/manager';
import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import { awaitAllCallbacks } from '@langchain/core/callbacks/promises';
import { FakeTracer } from '@langchain/core/utils/testing';
import type { ResolvedTarget } from '@llm-resilience/core';
import { startAttemptRun } from './attemptRun';

const target: ResolvedTarget = { id: 'long-b', provider: 'anthropic', model: 'long-model', tokenizer: 'heuristic', meta: {} };
const ctx = { attempt: 3, targetAttempt: 2, requestId: 'req-1', route: 'summary' };

class Marker extends BaseCallbackHandler {
  name = 'marker';
}

describe('startAttemptRun', () => {
  it('starts a named, tagged child run with target metadata and ends it with the output', async () => {
    const tracer = new FakeTracer();
    const root = await CallbackManager.configure([tracer])!.handleChainStart({ lc: 1, type: 'not_implemented', id: ['root'] }, { input: 'x' }, undefined, undefined, undefined, undefined, 'root');
    const marker = new Marker();
    const run = await startAttemptRun(root, { target, ctx, fallback: true }, [marker]);
    expect(run.name).toBe('attempt:long-b#3');
    expect(run.callbacks.handlers).toContain(marker);
    await run.end('the answer');
    await run.end('twice is ignored');
    await root.handleChainEnd({ output: 'the answer' });
    await awaitAllCallbacks();
    const child = tracer.runs[0]!.child_runs[0]!;
    expect(child.name).toBe('attempt:long-b#3');
    expect(child.tags).toEqual(['llmr:attempt', 'llmr:fallback', 'llmr:retry']);
    expect(child.extra?.metadata).toMatchObject({ llmr_target: 'long-b', llmr_provider: 'anthropic', llmr_attempt: 3, llmr_target_attempt: 2, llmr_request_id: 'req-1' });
    expect(child.inputs).toEqual({ target: 'long-b', attempt: 3 });
    expect(child.outputs).toEqual({ output: 'the answer' });
  });

  it('records errors on the attempt run', async () => {
    const tracer = new FakeTracer();
    const root = await CallbackManager.configure([tracer])!.handleChainStart({ lc: 1, type: 'not_implemented', id: ['root'] }, {}, undefined, undefined, undefined, undefined, 'root');
    const run = await startAttemptRun(root, { target, ctx: { ...ctx, targetAttempt: 1 }, fallback: false }, []);
    await run.fail(new Error('HTTP 503'));
    await root.handleChainEnd({});
    await awaitAllCallbacks();
    const child = tracer.runs[0]!.child_runs[0]!;
    expect(child.tags).toEqual(['llmr:attempt']);
    expect(child.error).toContain('HTTP 503');
  });

  it('without a parent run, only attaches the handlers', async () => {
    const marker = new Marker();
    const run = await startAttemptRun(undefined, { target, ctx, fallback: false }, [marker]);
    expect(run.callbacks.handlers).toEqual([marker]);
    await expect(run.end('x')).resolves.toBeUndefined();
    await expect(run.fail(new Error('x'))).resolves.toBeUndefined();
  });
});
