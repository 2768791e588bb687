import { ChatOpenAI } from '@langchain/openai';
import { estimateTokens, replyTag } from '../src';
import { startFake, type Started } from './support';

let s: Started;

beforeAll(async () => {
  s = await startFake({ models: { 'fast-a': { contextWindow: 4_000, limits: { rpm: 100 } } } });
});
afterAll(() => s.fake.stop());
beforeEach(() => s.fake.reset());

const chat = () => new ChatOpenAI({ model: 'fast-a', apiKey: 'test-key', maxRetries: 0, configuration: { baseURL: s.baseURL } });

describe('ChatOpenAI from @langchain/openai against the fake provider', () => {
  it('invoke() gets the tagged reply and usage metadata', async () => {
    const msg = await chat().invoke('What is a token bucket?');
    expect(String(msg.content).startsWith(replyTag('fast-a', 'What is a token bucket?'))).toBe(true);
    expect(msg.usage_metadata).toMatchObject({ input_tokens: estimateTokens('What is a token bucket?'), output_tokens: estimateTokens(String(msg.content)) });
    expect(s.fake.counters.requestsByModel).toEqual({ 'fast-a': 1 });
  });

  it('stream() yields the same text in chunks, with usage at the end', async () => {
    const plain = await chat().invoke('stream please');
    let text = '';
    let chunks = 0;
    let usage: unknown;
    for await (const chunk of await chat().stream('stream please')) {
      text += String(chunk.content);
      chunks++;
      if (chunk.usage_metadata) usage = chunk.usage_metadata;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(text).toBe(plain.content);
    expect(usage).toMatchObject({ input_tokens: estimateTokens('stream please'), output_tokens: estimateTokens(text) });
  });

  it('withStructuredOutput() gets JSON that matches the schema', async () => {
    const schema = { type: 'object', properties: { sentiment: { type: 'string', enum: ['positive', 'negative'] }, score: { type: 'number', minimum: 0 } }, required: ['sentiment', 'score'], additionalProperties: false };
    const out = await chat().withStructuredOutput(schema, { name: 'rating', method: 'jsonSchema' }).invoke('I love it');
    expect(out).toEqual({ sentiment: 'positive', score: 0 });
    const viaTool = await chat().withStructuredOutput(schema, { name: 'rating', method: 'functionCalling' }).invoke('I love it');
    expect(viaTool).toEqual({ sentiment: 'positive', score: 0 });
  });
});
