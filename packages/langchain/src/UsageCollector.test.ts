import { StringOutputParser } from '@langchain/core/output_parsers';
import { AIMessage } from '@langchain/core/messages';
import type { ChatGeneration } from '@langchain/core/outputs';
import { RunnableLambda } from '@langchain/core/runnables';
import { ScriptedChatModel } from '../test/support';
import { CallbackManager } from '@langchain/core/callbacks/manager';
import type { Resilience, ResolvedTarget } from '@llm-resilience/core';
import { engineIdOf, startAttemptRun } from './attemptRun';
import { UsageCollector } from './UsageCollector';

describe('UsageCollector', () => {
  it('reads usage_metadata of a chat model run, also when the chain outputs a plain string', async () => {
    const model = new ScriptedChatModel([{ text: 'short summary', usage: { input: 120, output: 8 } }]);
    const chain = model.pipe(new StringOutputParser());
    const usage = new UsageCollector();
    const out = await chain.invoke('a long document', { callbacks: [usage] });
    expect(out).toBe('short summary');
    expect(usage.usage()).toEqual({ inputTokens: 120, outputTokens: 8 });
    expect(usage.llmRuns).toBe(1);
  });

  it('sums every model run of a chain (map-reduce style)', async () => {
    const model = new ScriptedChatModel([
      { text: 'part 1', usage: { input: 100, output: 10 } },
      { text: 'part 2', usage: { input: 200, output: 20 } },
      { text: 'final', usage: { input: 30, output: 5 } },
    ]);
    const chain = RunnableLambda.from(async (doc: string, config) => {
      const parts = await model.batch(doc.split('|'), config);
      return model.invoke(parts.map((p) => String(p.content)).join('\n'), config);
    });
    const usage = new UsageCollector();
    await chain.invoke('a|b', { callbacks: [usage] });
    expect(usage.usage()).toEqual({ inputTokens: 330, outputTokens: 35 });
    expect(usage.llmRuns).toBe(3);
  });

  it('counts streamed usage (the final chunk of the stream carries it)', async () => {
    const model = new ScriptedChatModel([{ text: 'one two three', usage: { input: 9, output: 3 } }]);
    const usage = new UsageCollector();
    for await (const _ of await model.stream('hi', { callbacks: [usage] })) void _;
    expect(usage.usage()).toEqual({ inputTokens: 9, outputTokens: 3 });
  });

  describe('counts each LLM run once, however many choices it generated', () => {
    const message = (input: number, output: number) => new AIMessage({ content: 'x', usage_metadata: { input_tokens: input, output_tokens: output, total_tokens: input + output } });

    it("a reply with n: 2 choices, the response's usage on each choice's message (@langchain/openai): that usage, once", () => {
      const usage = new UsageCollector();
      usage.handleLLMEnd({
        generations: [[{ text: 'a', message: message(100, 20) } as ChatGeneration, { text: 'b', message: message(100, 20) } as ChatGeneration]],
        llmOutput: { tokenUsage: { promptTokens: 100, completionTokens: 20, totalTokens: 120 } },
      });
      expect(usage.usage()).toEqual({ inputTokens: 100, outputTokens: 20 });
      usage.handleLLMEnd({ generations: [[{ text: 'a', message: message(100, 20) } as ChatGeneration, { text: 'b', message: message(100, 20) } as ChatGeneration]] });
      expect(usage.usage()).toEqual({ inputTokens: 200, outputTokens: 40 });
      // A streamed reply with several choices: the usage came on one of them.
      usage.handleLLMEnd({ generations: [[{ text: 'a', message: new AIMessage('a') } as ChatGeneration, { text: 'b', message: message(7, 3) } as ChatGeneration]] });
      expect(usage.usage()).toEqual({ inputTokens: 207, outputTokens: 43 });
      expect(usage.llmRuns).toBe(3);
    });

    it("the message's usage wins over llmOutput: a stream whose usage came in pieces (Anthropic), LangChain's estimate (ChatOpenAI, streaming: true)", () => {
      const usage = new UsageCollector();
      // @langchain/core 1.4 reads tokenUsage from the last piece (output 7), the message adds the pieces up.
      usage.handleLLMEnd({ generations: [[{ text: 'a', message: message(500, 8) } as ChatGeneration]], llmOutput: { tokenUsage: { promptTokens: 0, completionTokens: 7 } } });
      expect(usage.usage()).toEqual({ inputTokens: 500, outputTokens: 8 });
      usage.handleLLMEnd({ generations: [[{ text: 'a', message: message(50, 5) } as ChatGeneration]], llmOutput: { estimatedTokenUsage: { promptTokens: 48, completionTokens: 6 } } });
      expect(usage.usage()).toEqual({ inputTokens: 550, outputTokens: 13 });
    });

    it('an Anthropic-style stream (input usage in the first chunk, output in the last) is counted whole, on @langchain/core 1.4 as on 1.0', async () => {
      const model = new ScriptedChatModel([{ text: 'one two three', usage: { input: 500, output: 8 }, usageAt: 'start' }]);
      const usage = new UsageCollector();
      for await (const _ of await model.stream('hi', { callbacks: [usage] })) void _;
      expect(usage.usage()).toEqual({ inputTokens: 500, outputTokens: 8 });
    });
  });

  it('falls back to llmOutput.tokenUsage, reports nothing without usage, and shares its tally with copies', () => {
    const usage = new UsageCollector();
    expect(usage.usage()).toBeUndefined();
    usage.handleLLMEnd({ generations: [[{ text: 'x' }]], llmOutput: { tokenUsage: { promptTokens: 4, completionTokens: 2 } } });
    expect(usage.usage()).toEqual({ inputTokens: 4, outputTokens: 2 });
    const copy = usage.copy();
    copy.handleLLMEnd({ generations: [[{ text: 'y' }]], llmOutput: { estimatedTokenUsage: { promptTokens: 1, completionTokens: 1 } } });
    expect(usage.usage()).toEqual({ inputTokens: 5, outputTokens: 3 });
    usage.handleLLMEnd({ generations: [[{ text: 'z' }]] });
    expect(usage.usage()).toEqual({ inputTokens: 5, outputTokens: 3 });
    expect(usage.awaitHandlers).toBe(true);
  });

  describe("skips model runs of a nested ResilientRunnable's attempts (below a run tagged llmr:attempt): that request charges them", () => {
    it('counts only its own model runs; reports zero when every model run was nested, nothing when it knows nothing', async () => {
      const nestedModel = new ScriptedChatModel([{ text: 'inner', usage: { input: 3, output: 25 } }]);
      const own = new ScriptedChatModel([{ text: 'outer', usage: { input: 5, output: 2 } }]);
      // What a nested ResilientRunnable's attempt looks like to callbacks: a run tagged `llmr:attempt`, its model below.
      const nested = RunnableLambda.from(async (input: string, config) => nestedModel.invoke(input, config)).withConfig({ tags: ['llmr:attempt'] });

      const onlyNested = new UsageCollector();
      await nested.invoke('hi', { callbacks: [onlyNested] });
      expect(onlyNested.usage()).toBeUndefined();
      expect(onlyNested.llmRuns).toBe(0);
      expect(onlyNested.nested).toBe(true);
      expect(onlyNested.onlyNested).toBe(true);
      expect(onlyNested.attemptUsage()).toEqual({ inputTokens: 0, outputTokens: 0 });

      const both = new UsageCollector();
      await nested.pipe(RunnableLambda.from((m: AIMessage) => String(m.content))).pipe(own).invoke('hi', { callbacks: [both] });
      expect(both.usage()).toEqual({ inputTokens: 5, outputTokens: 2 });
      expect(both.llmRuns).toBe(1);
      expect(both.onlyNested).toBe(false);
      expect(both.attemptUsage()).toEqual({ inputTokens: 5, outputTokens: 2 });

      const none = new UsageCollector();
      await RunnableLambda.from((s: string) => s).invoke('hi', { callbacks: [none] });
      expect([none.nested, none.onlyNested, none.attemptUsage()]).toEqual([false, false, undefined]);
    });

    it("with an engineId, skips only nested attempts of that engine (llmr_engine metadata): another engine's are counted too", async () => {
      const attemptOf = (engineId: string, model: ScriptedChatModel) =>
        RunnableLambda.from(async (input: string, config) => model.invoke(input, config)).withConfig({
          tags: ['llmr:attempt'],
          metadata: { llmr_engine: engineId },
        });

      const other = new UsageCollector({ engineId: 'engine-a' });
      await attemptOf('engine-b', new ScriptedChatModel([{ text: 'inner', usage: { input: 3, output: 25 } }])).invoke('hi', { callbacks: [other] });
      expect([other.usage(), other.llmRuns, other.nested, other.onlyNested]).toEqual([{ inputTokens: 3, outputTokens: 25 }, 1, false, false]);
      expect(other.attemptUsage()).toEqual({ inputTokens: 3, outputTokens: 25 });

      const same = new UsageCollector({ engineId: 'engine-a' });
      await attemptOf('engine-a', new ScriptedChatModel([{ text: 'inner', usage: { input: 3, output: 25 } }])).invoke('hi', { callbacks: [same] });
      expect([same.usage(), same.llmRuns, same.nested, same.onlyNested]).toEqual([undefined, 0, true, true]);
      expect(same.attemptUsage()).toEqual({ inputTokens: 0, outputTokens: 0 });
      expect(same.copy().attemptUsage()).toEqual({ inputTokens: 0, outputTokens: 0 });

      // Engine A around B around A, with attempt runs as the adapter starts them (their engine metadata
      // is not inherited): the innermost attempt (A's) is skipped, the model run of B's attempt counted.
      const engineA = {} as Resilience;
      const engineB = {} as Resilience;
      const deep = new UsageCollector({ engineId: engineIdOf(engineA) });
      const info = (engine: Resilience) => ({
        target: { id: 'primary', provider: 'p', model: 'm' } as ResolvedTarget,
        ctx: { attempt: 1, targetAttempt: 1, requestId: 'r', route: 'chat' },
        fallback: false,
        engine,
      });
      const outerRun = await CallbackManager.configure([deep])!.handleChainStart({ lc: 1, type: 'not_implemented', id: ['outer'] }, {});
      const bAttempt = await startAttemptRun(outerRun, info(engineB), []);
      await new ScriptedChatModel([{ text: 'b', usage: { input: 1, output: 1 } }]).invoke('hi', { callbacks: bAttempt.callbacks });
      const innerRun = await bAttempt.callbacks.handleChainStart({ lc: 1, type: 'not_implemented', id: ['inner'] }, {});
      const aAttempt = await startAttemptRun(innerRun, info(engineA), []);
      await new ScriptedChatModel([{ text: 'inner', usage: { input: 3, output: 25 } }]).invoke('hi', { callbacks: aAttempt.callbacks });
      await aAttempt.end('inner');
      await innerRun.handleChainEnd({});
      await bAttempt.end('inner');
      expect([deep.usage(), deep.llmRuns, deep.nested]).toEqual([{ inputTokens: 1, outputTokens: 1 }, 1, true]);
    });
  });
});
