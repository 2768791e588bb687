import '@llm-resilience/langchain/augment';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { Runnable } from '@langchain/core/runnables';
import { FakeListChatModel } from '@langchain/core/utils/testing';
import { manualEngine } from '../test/support';
import { ResilientRunnable } from './ResilientRunnable';

describe("import '@llm-resilience/langchain/augment'", () => {
  it('adds .withResilience() to every Runnable, returning a ResilientRunnable', async () => {
    const { engine, records } = manualEngine();
    const model = new FakeListChatModel({ responses: ['a short summary'], maxRetries: 0 });
    const fallback = new FakeListChatModel({ responses: ['from the long model'], maxRetries: 0 });
    const prompt = ChatPromptTemplate.fromMessages([['human', 'Summarize: {document}']]);
    const safe = prompt.pipe(model).withResilience({ engine, route: 'chat', fallbacks: [prompt.pipe(fallback)] });
    expect(safe).toBeInstanceOf(ResilientRunnable);
    const out = await safe.invoke({ document: 'A contract.' });
    expect(out.content).toBe('a short summary');
    expect(records).toHaveLength(1);
    expect(model.withResilience({ engine, route: 'solo' })).toBeInstanceOf(ResilientRunnable);
  });

  it('is not enumerable and is installed once', async () => {
    expect(Object.keys(Runnable.prototype)).not.toContain('withResilience');
    const before = (Runnable.prototype as unknown as { withResilience: unknown }).withResilience;
    jest.isolateModules(() => {
      require('./augment');
    });
    expect((Runnable.prototype as unknown as { withResilience: unknown }).withResilience).toBe(before);
  });
});
