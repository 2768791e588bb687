import { AIMessage, AIMessageChunk } from '@langchain/core/messages';
import { truncationOf } from './truncationOf';

describe('truncationOf', () => {
  it.each([
    ['Chat Completions', { response_metadata: { finish_reason: 'length' } }, { field: 'response_metadata.finish_reason', value: 'length' }],
    ['the Responses API', { response_metadata: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } } }, { field: 'response_metadata.status', value: 'incomplete' }],
    ['Anthropic, streamed (message_delta)', { additional_kwargs: { stop_reason: 'max_tokens', stop_sequence: null } }, { field: 'additional_kwargs.stop_reason', value: 'max_tokens' }],
    ['Anthropic, whole', { response_metadata: { stop_reason: 'max_tokens' } }, { field: 'response_metadata.stop_reason', value: 'max_tokens' }],
    ['Anthropic, the context window', { additional_kwargs: { stop_reason: 'model_context_window_exceeded' } }, { field: 'additional_kwargs.stop_reason', value: 'model_context_window_exceeded' }],
    ['Bedrock Converse, streamed', { response_metadata: { messageStop: { stopReason: 'max_tokens' } } }, { field: 'response_metadata.messageStop.stopReason', value: 'max_tokens' }],
    ['Bedrock Converse, whole', { response_metadata: { stopReason: 'max_tokens' } }, { field: 'response_metadata.stopReason', value: 'max_tokens' }],
    ['Gemini', { response_metadata: { finishReason: 'MAX_TOKENS' } }, { field: 'response_metadata.finishReason', value: 'MAX_TOKENS' }],
    ['Gemini through Vertex AI', { response_metadata: { finish_reason: 'MAX_TOKENS' } }, { field: 'response_metadata.finish_reason', value: 'MAX_TOKENS' }],
  ])('reads %s', (_, fields, said) => {
    expect(truncationOf(new AIMessageChunk({ content: '', ...fields }))).toEqual(said);
    expect(truncationOf(new AIMessage({ content: '', ...fields }))).toEqual(said);
  });

  it('reads the message the chunks add up to: the signal of the last chunk, also when LangChain joined a field two chunks carried', () => {
    const chunks = [
      new AIMessageChunk({ content: '', response_metadata: { model_provider: 'openai', id: 'resp_1' } }),
      new AIMessageChunk({ content: 'Quarterly res' }),
      new AIMessageChunk({ content: '', response_metadata: { status: 'in_progress' } }),
      new AIMessageChunk({ content: '', response_metadata: { status: 'incomplete' } }),
    ];
    const added = chunks.reduce((a, c) => a.concat(c));
    expect(added.response_metadata.status).toBe('in_progressincomplete');
    expect(truncationOf(added)).toEqual({ field: 'response_metadata.status', value: 'incomplete' });
  });

  it('is nothing for a reply that ended otherwise, or says nothing, and for values that are not messages', () => {
    for (const fields of [
      { response_metadata: { finish_reason: 'stop' } },
      { response_metadata: { finish_reason: 'tool_calls' } },
      { response_metadata: { status: 'completed' } },
      { additional_kwargs: { stop_reason: 'tool_use' } },
      { response_metadata: { messageStop: { stopReason: 'end_turn' } } },
      { response_metadata: { finishReason: 'STOP' } },
      { response_metadata: { finish_reason: 7 } },
      {},
    ]) {
      expect(truncationOf(new AIMessageChunk({ content: '', ...fields }))).toBeUndefined();
    }
    for (const none of [undefined, null, 'length', { finish_reason: 'length' }, { response_metadata: 'length' }]) expect(truncationOf(none)).toBeUndefined();
  });
});
