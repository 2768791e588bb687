import { JsonOutputParser } from '@langchain/core/output_parsers';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { RunnableBranch, RunnableLambda, RunnableMap, type Runnable } from '@langchain/core/runnables';
import { ChatOpenAI } from '@langchain/openai';
import { runnablesWithin } from './runnablesWithin';

const model = () => new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test-key', maxRetries: 0 });

describe('runnablesWithin', () => {
  it('lists the runnable and the steps of a sequence, each once', () => {
    const prompt = ChatPromptTemplate.fromTemplate('Summarize {document}');
    const m = model();
    const parser = new JsonOutputParser();
    const chain = prompt.pipe(m).pipe(parser);
    const found = runnablesWithin(chain);
    expect(found[0]).toBe(chain);
    expect(found).toEqual(expect.arrayContaining([prompt, m, parser]));
    expect(new Set(found).size).toBe(found.length);
  });

  it('walks bindings, fallbacks, maps and branches, but not into a model or a lambda', () => {
    const a = model();
    const b = model();
    const parser = new JsonOutputParser();
    const hidden = new JsonOutputParser();
    const lambda = RunnableLambda.from((x: string) => hidden.invoke(x).then((v) => JSON.stringify(v)));
    const branch = RunnableBranch.from<string, unknown>([[(x: string) => x === '1', RunnableMap.from({ x: a.withConfig({ tags: ['t'] }).withFallbacks([b]) })], lambda.pipe(parser)]);
    const found = runnablesWithin(branch);
    expect(found).toEqual(expect.arrayContaining([a, b, parser, lambda]));
    expect(found).not.toContain(hidden);
    // ChatOpenAI's Completions and Responses delegates are the model's internals.
    expect(found.filter((r) => r.getName().startsWith('ChatOpenAI'))).toHaveLength(2);
  });

  it('finds a parser nested far deeper than chains usually go (subgraphs in subgraphs), and ends on cycles', () => {
    const parser = new JsonOutputParser();
    let chain: Runnable = RunnableLambda.from((x: string) => x).pipe(parser);
    for (let i = 0; i < 40; i++) chain = RunnableLambda.from((x: string) => x).pipe(chain.withConfig({ tags: [`level-${i}`] }));
    const found = runnablesWithin(chain);
    expect(found[0]).toBe(chain);
    expect(found).toContain(parser);
    // A runnable that refers back to its container is listed once.
    const seq = RunnableLambda.from((x: string) => x).pipe(parser);
    (parser as unknown as { owner: Runnable }).owner = seq;
    expect(runnablesWithin(seq).filter((r) => r === seq)).toHaveLength(1);
  });
});
