import { BYTES_PER_AUDIO_TOKEN, BYTES_PER_DOCUMENT_TOKEN, TOKENS_PER_DOCUMENT } from './binaryPartTokens';
import { estimateInputTokens, TOKENS_PER_IMAGE } from './estimateInputTokens';
import type { Tokenizer } from './Tokenizer';

/** The example of OpenAI's cookbook "How to count tokens with tiktoken", with its published counts. */
const cookbook = [
  { role: 'system', content: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.' },
  { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
  { role: 'system', name: 'example_assistant', content: 'Things working well together will increase revenue.' },
  { role: 'system', name: 'example_user', content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
  { role: 'system', name: 'example_assistant', content: "Let's talk later when we're less busy about how to do better." },
  { role: 'user', content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
];

describe('estimateInputTokens', () => {
  it("matches the OpenAI cookbook's counts", () => {
    expect(estimateInputTokens({ messages: cookbook }, 'gpt-4o')).toBe(124);
    expect(estimateInputTokens({ messages: cookbook }, 'gpt-4o-mini')).toBe(124);
    expect(estimateInputTokens({ messages: cookbook }, 'gpt-4')).toBe(129);
    expect(estimateInputTokens({ messages: cookbook }, 'gpt-3.5-turbo')).toBe(129);
  });

  it('counts 3 per message, the role, the content and 3 for reply priming', () => {
    // 3 + 'user'(1) + 'Hello, world!'(4) + 3
    expect(estimateInputTokens({ messages: [{ role: 'user', content: 'Hello, world!' }] }, 'gpt-4o')).toBe(11);
    expect(estimateInputTokens({}, 'gpt-4o')).toBe(0);
  });

  it('counts system and prompt as one message each', () => {
    expect(estimateInputTokens({ system: 'Hello, world!', prompt: 'Hello, world!' }, 'gpt-4o')).toBe(3 + 1 + 4 + 3 + 1 + 4 + 3);
  });

  it('reads content parts: text is tokenized, images cost a flat amount', () => {
    const messages = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Hello, world!' },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
          { type: 'image', source: { type: 'base64', data: 'AAAA' } },
          { type: 'input_text', text: 'Hello, world!' },
        ],
      },
    ];
    expect(estimateInputTokens({ messages }, 'gpt-4o')).toBe(3 + 1 + 4 + 2 * TOKENS_PER_IMAGE + 4 + 3);
  });

  it('charges base64 files and audio by decoded size, not as their base64 text', () => {
    // A 600 KB PDF: its base64 text alone would count ~234 000 tokens, more than a 200k context window.
    const bytes = 600 * 1024;
    const pdf = 'A'.repeat((bytes / 3) * 4);
    const messages = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Hello, world!' },
          { type: 'file', file: { filename: 'contract.pdf', file_data: `data:application/pdf;base64,${pdf}` } },
        ],
      },
    ];
    for (const model of ['gpt-4o', 'claude-sonnet-4-5']) {
      // 3 + 'user' + 'Hello, world!' + the PDF + 3
      const text = estimateInputTokens({ messages: [{ role: 'user', content: 'Hello, world!' }] }, model);
      expect(estimateInputTokens({ messages }, model)).toBe(text + bytes / BYTES_PER_DOCUMENT_TOKEN);
    }
    const anthropic = [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf } }] }];
    expect(estimateInputTokens({ messages: anthropic }, 'claude-sonnet-4-5')).toBe(3 + 2 + bytes / BYTES_PER_DOCUMENT_TOKEN + 3);
    const audio = [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'A'.repeat(4_000), format: 'wav' } }] }];
    expect(estimateInputTokens({ messages: audio }, 'gpt-4o')).toBe(3 + 1 + Math.ceil(3_000 / BYTES_PER_AUDIO_TOKEN) + 3);
    const byId = [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-abc' } }] }];
    expect(estimateInputTokens({ messages: byId }, 'gpt-4o')).toBe(3 + 1 + TOKENS_PER_DOCUMENT + 3);
  });

  it('still counts text documents as their text (JSON)', () => {
    const counting: Tokenizer = { count: (text) => text.length };
    const doc = { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'The grass is green.' } };
    expect(estimateInputTokens({ messages: [{ role: 'user', content: [doc] }] }, undefined, counting)).toBe(3 + 4 + JSON.stringify(doc).length + 3);
  });

  it('counts nested tool results and unknown parts as their JSON; ignores null content', () => {
    const counting: Tokenizer = { count: (text) => text.length };
    const toolResult = { type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'abc' }] };
    const toolUse = { type: 'tool_use', id: 't1', name: 'f', input: { q: 1 } };
    const messages = [
      { role: 'user', content: [toolResult] },
      { role: 'assistant', content: [toolUse] },
      { role: 'assistant', content: null },
    ];
    const roles = 'user'.length + 'assistant'.length * 2;
    expect(estimateInputTokens({ messages }, undefined, counting)).toBe(3 * 3 + roles + 3 + JSON.stringify(toolUse).length + 3);
  });

  it('uses the heuristic for non-OpenAI models', () => {
    // 3 + ceil(4/3.5)=2 ('user') + ceil(13/3.5)=4 + 3
    expect(estimateInputTokens({ messages: [{ role: 'user', content: 'Hello, world!' }] }, 'claude-sonnet-4-5')).toBe(12);
  });
});
