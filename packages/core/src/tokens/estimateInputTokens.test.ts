import { BYTES_PER_AUDIO_TOKEN, BYTES_PER_DOCUMENT_TOKEN, TOKENS_PER_DOCUMENT } from './binaryPartTokens';
import { defaultTokenizer } from './defaultTokenizer';
import { estimateInputTokens, TOKENS_PER_IMAGE, TOKENS_PER_LOW_DETAIL_IMAGE, TOKENS_PER_OPENAI_IMAGE } from './estimateInputTokens';
import { heuristicTokenCount } from './heuristicTokenCount';
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

  it('reads content parts: text is tokenized, images cost a flat amount by provider and detail', () => {
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
    // For an OpenAI model both images cost OpenAI's typical high/auto-detail image.
    expect(estimateInputTokens({ messages }, 'gpt-4o')).toBe(3 + 1 + 4 + 2 * TOKENS_PER_OPENAI_IMAGE + 4 + 3);
  });

  it("charges images by OpenAI's detail and Anthropic's size, never only the low-detail 85", () => {
    const image = (part: Record<string, unknown>, model?: string): number =>
      estimateInputTokens({ messages: [{ role: 'user', content: [part] }] }, model, { count: () => 0 }) - 3 - 3;
    const url = 'https://example.com/x.png';
    expect(TOKENS_PER_LOW_DETAIL_IMAGE).toBe(85);
    expect(TOKENS_PER_OPENAI_IMAGE).toBe(85 + 4 * 170);
    expect(TOKENS_PER_IMAGE).toBe(1_600);
    // OpenAI shapes: detail 'low' is 85; 'high', 'auto' or none (auto) the typical 1024×1024 high-detail cost.
    expect(image({ type: 'image_url', image_url: { url, detail: 'low' } }, 'gpt-4o')).toBe(85);
    expect(image({ type: 'image_url', image_url: { url, detail: 'high' } }, 'gpt-4o')).toBe(765);
    expect(image({ type: 'image_url', image_url: { url, detail: 'auto' } }, 'gpt-4o')).toBe(765);
    expect(image({ type: 'image_url', image_url: { url } })).toBe(765);
    expect(image({ type: 'input_image', image_url: url, detail: 'low' })).toBe(85);
    expect(image({ type: 'input_image', image_url: url })).toBe(765);
    // Anthropic's shape, LangChain blocks, unknown models: Anthropic's largest recommended image.
    expect(image({ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }, 'claude-sonnet-4')).toBe(1_600);
    expect(image({ type: 'image', source: { type: 'url', url } })).toBe(1_600);
    expect(image({ type: 'image', url }, 'gemini-2.5-pro')).toBe(1_600);
    // A provider-neutral block for an OpenAI model is priced as OpenAI prices it.
    expect(image({ type: 'image', url }, 'gpt-4o')).toBe(765);
  });

  it("counts an OpenAI assistant message's tool_calls and legacy function_call: name and arguments", () => {
    const counting: Tokenizer = { count: (text) => text.length };
    const args = JSON.stringify({ query: 'weather in Paris' });
    const messages = [
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'search', arguments: args } }] },
      { role: 'assistant', content: null, function_call: { name: 'lookup', arguments: '{"id":7}' } },
      // Arguments given as an object (some SDK wrappers) count as their JSON.
      { role: 'assistant', content: '', tool_calls: [{ id: 'call_2', type: 'function', function: { name: 'f', arguments: { a: 1 } } }, null, 'junk'] },
    ];
    const roles = 3 * 'assistant'.length;
    const calls = 'search'.length + args.length + 'lookup'.length + '{"id":7}'.length + 'f'.length + '{"a":1}'.length;
    expect(estimateInputTokens({ messages }, undefined, counting)).toBe(3 * 3 + roles + calls + 3);
  });

  it('counts the ~1,000 tokens of a large tool call, which are billed input on the next turn', () => {
    const args = JSON.stringify({ body: 'lorem ipsum dolor sit amet '.repeat(200) });
    const messages = [
      { role: 'user', content: 'Find it' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'search', arguments: args } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'ok' },
    ];
    const argTokens = defaultTokenizer.count(args, 'gpt-4o');
    expect(argTokens).toBeGreaterThan(900);
    const withoutCall = estimateInputTokens({ messages: [messages[0]!, { role: 'assistant', content: null }, messages[2]!] }, 'gpt-4o');
    expect(estimateInputTokens({ messages }, 'gpt-4o')).toBe(withoutCall + argTokens + defaultTokenizer.count('search', 'gpt-4o'));
  });

  it('never throws on content that contains itself, and counts a part shared by two messages twice', () => {
    const counting: Tokenizer = { count: (text) => text.length };
    const part: Record<string, unknown> = { type: 'tool_result', tool_use_id: 't1' };
    part.content = [part, { type: 'text', text: 'abc' }];
    expect(estimateInputTokens({ messages: [{ role: 'user', content: [part] }] }, undefined, counting)).toBe(3 + 4 + 3 + 3);
    const list: unknown[] = [{ type: 'text', text: 'xy' }];
    list.push(list);
    expect(estimateInputTokens({ messages: [{ role: 'user', content: list }] }, 'claude-sonnet-4')).toBeGreaterThan(0);
    // Deep (not cyclic) nesting: read to a fixed depth, no stack overflow.
    let deep: Record<string, unknown> = { type: 'text', text: 'leaf' };
    for (let i = 0; i < 100_000; i++) deep = { type: 'tool_result', content: [deep] };
    expect(() => estimateInputTokens({ messages: [{ role: 'user', content: [deep] }] }, 'gpt-4o')).not.toThrow();
    // The same (acyclic) part in two messages is text sent twice.
    const shared = { type: 'text', text: 'abcd' };
    expect(estimateInputTokens({ messages: [{ role: 'user', content: [shared] }, { role: 'user', content: [shared] }] }, undefined, counting)).toBe(
      2 * (3 + 4 + 4) + 3,
    );
  });

  it('never throws for a part whose getter throws: such a part is unreadable and counts 0, the rest as usual', () => {
    const counting: Tokenizer = { count: (text) => text.length };
    const throwing = Object.defineProperty({ type: 'text' }, 'text', {
      enumerable: true,
      get(): never {
        throw new Error('getter threw');
      },
    });
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const trap = new Proxy({ type: 'text', text: 'abc' }, {
      get(): never {
        throw new Error('trap threw');
      },
    });
    const content = [throwing, { type: 'text', text: 'abc' }, revoked.proxy, trap];
    const messages = [{ role: 'user', content }];
    expect(estimateInputTokens({ messages }, undefined, counting)).toBe(3 + 4 + 3 + 3);
    for (const model of [undefined, 'gpt-4o', 'claude-sonnet-4-5']) expect(() => estimateInputTokens({ messages }, model)).not.toThrow();
    // A content array whose index trap throws, and message fields whose getters throw.
    const hostileList = new Proxy([{ type: 'text', text: 'abc' }], {
      get(target, key): unknown {
        if (key === '0') throw new Error('index trap threw');
        return Reflect.get(target, key);
      },
    });
    expect(estimateInputTokens({ messages: [{ role: 'user', content: hostileList }] }, undefined, counting)).toBe(3 + 4 + 3);
    const hostileMessage = Object.defineProperty({ role: 'user', content: 'abc' }, 'tool_calls', {
      get(): never {
        throw new Error('getter threw');
      },
    });
    expect(estimateInputTokens({ messages: [hostileMessage] }, undefined, counting)).toBe(3 + 4 + 3 + 3);
  });

  it('still passes on an error the tokenizer throws (the engine then counts with the heuristic)', () => {
    const failure = new Error('tokenizer broke');
    const broken: Tokenizer = {
      count: () => {
        throw failure;
      },
    };
    expect(() => estimateInputTokens({ messages: [{ role: 'user', content: [{ type: 'text', text: 'abc' }] }] }, undefined, broken)).toThrow(failure);
    expect(() => estimateInputTokens({ messages: [{ role: 'user', content: [{ type: 'tool_use', input: { q: 1 } }] }] }, undefined, broken)).toThrow(failure);
  });

  it('bounds the BPE time of a whole request, however many messages it is split into', () => {
    let seed = 1;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const cjk = (n: number): string => {
      let s = '';
      for (let i = 0; i < n; i++) s += String.fromCharCode(0x4e00 + Math.floor(rnd() * 20000));
      return s;
    };
    estimateInputTokens({ prompt: 'warm up' }, 'gpt-4o');
    const messages = Array.from({ length: 1000 }, () => ({ role: 'user', content: cjk(1000) }));
    // Per string, each message had its own 20 ms budget (~13 s here); shared, ~20 ms plus the rest
    // estimated (the budget itself is checked on a fake clock in defaultTokenizer.test.ts).
    const n = estimateInputTokens({ messages }, 'gpt-4o');
    // Messages past the budget are estimated with the heuristic or the measured ratio: never low.
    expect(n).toBeGreaterThanOrEqual(messages.slice(10).reduce((a, m) => a + heuristicTokenCount(m.content), 0));
    expect(n).toBeLessThan(2 * 1000 * 1000);
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
