/**
 * A ChatOpenAI reply with several choices (`n: 2`): @langchain/openai puts the response's usage on every
 * choice's message; the request is settled with that usage once, not once per choice.
 */
import { ChatOpenAI } from '@langchain/openai';
import { withResilience } from '../src';
import { scriptedChatServer, watchedEngine } from './scriptedChatServer';

const server = scriptedChatServer((b) => ({
  body: {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: b.model,
    choices: [
      { index: 0, message: { role: 'assistant', content: 'first sample' }, finish_reason: 'stop' },
      { index: 1, message: { role: 'assistant', content: 'second sample' }, finish_reason: 'stop' },
    ],
    usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
  },
}));

const policy = { targets: { a: { provider: 'openai', model: 'model-a' } }, routes: { r: { chain: ['a'] } } };
const chat = () => new ChatOpenAI({ model: 'model-a', apiKey: 'k', maxRetries: 0, n: 2, configuration: { baseURL: server.baseURL } });

describe('withResilience(ChatOpenAI) with n: 2 choices', () => {
  it('settles the usage the provider reported once (100 in, 20 out), not once per choice', async () => {
    const { engine, records } = watchedEngine(policy);
    const out = await withResilience(chat(), { engine, route: 'r' }).invoke('hello');
    expect(out.content).toBe('first sample');
    expect(out.usage_metadata).toMatchObject({ input_tokens: 100, output_tokens: 20 });
    expect(records[0]).toMatchObject({ outcome: 'success', input_tokens: 100, output_tokens: 20 });
  });

  it('also when the chain outputs a string (the usage then comes from the model run, every choice carrying it)', async () => {
    const { engine, records } = watchedEngine(policy);
    const chain = chat().pipe((m) => String(m.content));
    expect(await withResilience(chain, { engine, route: 'r' }).invoke('hello')).toBe('first sample');
    expect(records[0]).toMatchObject({ outcome: 'success', input_tokens: 100, output_tokens: 20 });
  });
});
