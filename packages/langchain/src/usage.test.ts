import { AIMessage, AIMessageChunk } from '@langchain/core/messages';
import { addUsage, usageFromMetadata, usageOfOutput } from './usage';

describe('usage', () => {
  it('usageFromMetadata reads input/output tokens and ignores junk', () => {
    expect(usageFromMetadata({ input_tokens: 12, output_tokens: 30, total_tokens: 42 })).toEqual({ inputTokens: 12, outputTokens: 30 });
    expect(usageFromMetadata({ input_tokens: 12 })).toEqual({ inputTokens: 12, outputTokens: 0 });
    expect(usageFromMetadata({ input_tokens: -1, output_tokens: 'x' })).toBeUndefined();
    expect(usageFromMetadata(undefined)).toBeUndefined();
  });

  it('usageOfOutput reads AIMessage, AIMessageChunk and includeRaw results; not strings or parsed objects', () => {
    const meta = { input_tokens: 5, output_tokens: 7, total_tokens: 12 };
    expect(usageOfOutput(new AIMessage({ content: 'hi', usage_metadata: meta }))).toEqual({ inputTokens: 5, outputTokens: 7 });
    expect(usageOfOutput(new AIMessageChunk({ content: '', usage_metadata: meta }))).toEqual({ inputTokens: 5, outputTokens: 7 });
    expect(usageOfOutput({ raw: new AIMessage({ content: '{}', usage_metadata: meta }), parsed: {} })).toEqual({ inputTokens: 5, outputTokens: 7 });
    expect(usageOfOutput(new AIMessage('no usage'))).toBeUndefined();
    expect(usageOfOutput('text')).toBeUndefined();
    expect(usageOfOutput({ intent: 'refund' })).toBeUndefined();
  });

  it('addUsage sums and keeps the defined side', () => {
    expect(addUsage({ inputTokens: 1, outputTokens: 2 }, { inputTokens: 3, outputTokens: 4 })).toEqual({ inputTokens: 4, outputTokens: 6 });
    expect(addUsage(undefined, { inputTokens: 3, outputTokens: 4 })).toEqual({ inputTokens: 3, outputTokens: 4 });
    expect(addUsage({ inputTokens: 1, outputTokens: 2 }, undefined)).toEqual({ inputTokens: 1, outputTokens: 2 });
    expect(addUsage(undefined, undefined)).toBeUndefined();
  });
});
