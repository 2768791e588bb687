import { ChatPromptTemplate } from '@langchain/core/prompts';
import { RunnableBranch, RunnableMap } from '@langchain/core/runnables';
import { FakeListChatModel } from '@langchain/core/utils/testing';
import { ChatOpenAI } from '@langchain/openai';
import { findInnerRetries } from './findInnerRetries';

const openai = (maxRetries?: number) =>
  new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test-key', ...(maxRetries !== undefined ? { maxRetries } : {}) });

describe('findInnerRetries', () => {
  it("finds ChatOpenAI's default retries (6) inside a prompt | model chain", () => {
    const prompt = ChatPromptTemplate.fromTemplate('Summarize {document}');
    const found = findInnerRetries(prompt.pipe(openai()));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ name: 'ChatOpenAI', maxRetries: 6 });
  });

  it('accepts models built with maxRetries: 0', () => {
    expect(findInnerRetries(openai(0))).toEqual([]);
    expect(findInnerRetries(new FakeListChatModel({ responses: ['x'], maxRetries: 0 }))).toEqual([]);
  });

  it('walks bindings, fallbacks, maps and branches', () => {
    const a = openai();
    const b = new FakeListChatModel({ responses: ['x'], maxRetries: 2 });
    const c = openai(3);
    const withFallbacks = a.withConfig({ tags: ['t'] }).withFallbacks([b]);
    const map = RunnableMap.from({ x: withFallbacks });
    const branch = RunnableBranch.from<unknown, unknown>([[(x: unknown) => x === 1, map], c]);
    const found = findInnerRetries(branch);
    expect(found.map((f) => f.maxRetries).sort()).toEqual([2, 3, 6]);
    expect(found.find((f) => f.maxRetries === 2)?.model).toBe(b);
    expect(found.find((f) => f.maxRetries === 3)?.model).toBe(c);
    expect(found.find((f) => f.maxRetries === 6)?.name).toBe('ChatOpenAI');
  });

  it("finds the retries of a model's SDK client: ChatOpenAI's `configuration: { maxRetries }` (sent with every request), or a client built with maxRetries > 0", () => {
    const sdk = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test-key', maxRetries: 0, configuration: { maxRetries: 2 } });
    expect(findInnerRetries(sdk)).toEqual([{ name: 'ChatOpenAI', maxRetries: 2, model: sdk, source: 'clientMaxRetries' }]);
    const both = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test-key', maxRetries: 3, configuration: { maxRetries: 1 } });
    expect(findInnerRetries(both).map((f) => [f.source, f.maxRetries])).toEqual([
      ['maxRetries', 3],
      ['clientMaxRetries', 1],
    ]);
    expect(findInnerRetries(new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test-key', maxRetries: 0, configuration: { maxRetries: 0 } }))).toEqual([]);
    const withClient = Object.assign(openai(0), { client: { maxRetries: 4 } });
    expect(findInnerRetries(withClient)).toMatchObject([{ maxRetries: 4, source: 'clientMaxRetries' }]);
  });

  it("finds LangChain's withRetry() (stopAfterAttempt > 1), alone or inside a chain, besides the model's own retries", () => {
    const retried = openai(0).withRetry({ stopAfterAttempt: 4 });
    expect(findInnerRetries(retried)).toEqual([{ name: 'ChatOpenAI', maxRetries: 3, model: retried, source: 'withRetry' }]);

    const prompt = ChatPromptTemplate.fromTemplate('Summarize {document}');
    const found = findInnerRetries(prompt.pipe(openai(2).withRetry({ stopAfterAttempt: 3 })));
    expect(found.map((f) => [f.source, f.maxRetries])).toEqual([
      ['withRetry', 2],
      ['maxRetries', 2],
    ]);
    expect(findInnerRetries(openai(0).withRetry({ stopAfterAttempt: 1 }))).toEqual([]);
  });
});
