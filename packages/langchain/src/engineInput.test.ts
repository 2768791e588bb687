import { AIMessage, HumanMessage, SystemMessage, ToolMessage } from '@langchain/core/messages';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { estimateInputTokens } from '@llm-resilience/core';
import { engineInputOf, toChatMessage } from './engineInput';

describe('toChatMessage', () => {
  it('maps LangChain message types to OpenAI roles', () => {
    expect(toChatMessage(new HumanMessage('Hi'))).toEqual({ role: 'user', content: 'Hi' });
    expect(toChatMessage(new SystemMessage('Be brief.'))).toEqual({ role: 'system', content: 'Be brief.' });
    expect(toChatMessage(new AIMessage('Sure.'))).toEqual({ role: 'assistant', content: 'Sure.' });
    expect(toChatMessage(new ToolMessage({ content: '42', tool_call_id: 'c1' }))).toEqual({ role: 'tool', content: '42' });
  });

  it('keeps content parts and counts tool-call arguments as parts', () => {
    const ai = new AIMessage({ content: '', tool_calls: [{ id: 'c1', name: 'lookup', args: { order: 'A-17' } }] });
    expect(toChatMessage(ai)).toEqual({
      role: 'assistant',
      content: [
        { type: 'text', text: '' },
        { type: 'tool_call', name: 'lookup', args: { order: 'A-17' } },
      ],
    });
    const parts = new HumanMessage({ content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:,' } }] });
    expect(toChatMessage(parts).content).toHaveLength(2);
  });
});

describe('engineInputOf', () => {
  it('reads a string as a prompt', () => {
    expect(engineInputOf('Summarize this')).toEqual({ prompt: 'Summarize this' });
  });

  it('reads BaseMessages and message-likes as messages', () => {
    expect(engineInputOf(new HumanMessage('Hi'))).toEqual({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(engineInputOf([['system', 'Be brief.'], ['human', 'Hi'], { role: 'assistant', content: 'Hello' }])).toEqual({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
      ],
    });
  });

  it('reads a PromptValue through its chat messages', async () => {
    const prompt = ChatPromptTemplate.fromMessages([
      ['system', 'You summarize.'],
      ['human', '{document}'],
    ]);
    const value = await prompt.formatPromptValue({ document: 'A long contract.' });
    expect(engineInputOf(value)).toEqual({
      messages: [
        { role: 'system', content: 'You summarize.' },
        { role: 'user', content: 'A long contract.' },
      ],
    });
  });

  it('reads the string values of a prompt-variables object (what the template will place in the prompt)', () => {
    expect(engineInputOf({ document: 'A long contract.', language: 'en', pages: 3 })).toEqual({ prompt: 'A long contract.\nen' });
    const doc = 'word '.repeat(2_000);
    const est = engineInputOf({ document: doc })!;
    expect(estimateInputTokens(est)).toBeGreaterThan(1_900);
  });

  it('returns undefined when nothing countable is found', () => {
    expect(engineInputOf(42)).toBeUndefined();
    expect(engineInputOf(null)).toBeUndefined();
    expect(engineInputOf({ n: 1 })).toBeUndefined();
    expect(engineInputOf([])).toBeUndefined();
  });
});

/** A 600 KB PDF as LangChain's own (provider-neutral) file content block carries it. */
const pdf = 'A'.repeat(Math.ceil((600 * 1024) / 3) * 4);

describe('engineInputOf and the token estimate of files', () => {
  it("charges a PDF in a LangChain file block by its decoded size, as the providers' file parts are", () => {
    const message = new HumanMessage({
      content: [
        { type: 'text', text: 'Summarise this.' },
        { type: 'file', source_type: 'base64', mime_type: 'application/pdf', data: pdf } as never,
      ],
    });
    const tokens = estimateInputTokens(engineInputOf([message])!);
    // As OpenAI's { type: 'file', file: { file_data } } of the same PDF (~19 200 tokens), not its base64
    // text (~230 000, which no 200k window would take).
    expect(tokens).toBeGreaterThan(19_000);
    expect(tokens).toBeLessThan(20_000);
  });
});
