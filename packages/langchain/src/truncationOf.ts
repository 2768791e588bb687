import { isRecord } from './isRecord';

/**
 * Where a provider says, in a streamed reply, that it stopped because the reply reached its output-token
 * limit: how the reply ended, as it ends up in the message the chunks add up to.
 *
 * @example
 * ```ts
 * const t: Truncation = { field: 'response_metadata.finish_reason', value: 'length' };
 * ```
 */
export interface Truncation {
  /** The field that said so, from the message (`response_metadata.finish_reason`). */
  field: string;
  /** What it said (`length`). */
  value: string;
}

/**
 * The fields that say a reply was cut off, by provider, and the values that say so. LangChain's chat
 * models put them in `response_metadata` (a streamed chunk's generation info is merged into it) or in
 * `additional_kwargs`; both are read:
 *
 * - Chat Completions (`@langchain/openai`): `finish_reason: 'length'` (the last chunk's generation info);
 * - Responses API (`@langchain/openai` that handles the `response.incomplete` event): `status: 'incomplete'`
 *   (with `incomplete_details`);
 * - Anthropic (`@langchain/anthropic`): `stop_reason: 'max_tokens'` or `'model_context_window_exceeded'`
 *   (its `message_delta` event, in `additional_kwargs` when streamed);
 * - Bedrock Converse (`@langchain/aws`): `stopReason` (also under `messageStop` when streamed),
 *   `'max_tokens'` or `'model_context_window_exceeded'`;
 * - Gemini (`@langchain/google-genai`, `@langchain/google`, the Vertex AI packages): `finishReason` or
 *   `finish_reason: 'MAX_TOKENS'`.
 */
const SIGNALS: ReadonlyArray<{ path: readonly string[]; values: readonly string[] }> = [
  { path: ['finish_reason'], values: ['length', 'MAX_TOKENS'] },
  { path: ['status'], values: ['incomplete'] },
  { path: ['stop_reason'], values: ['max_tokens', 'model_context_window_exceeded'] },
  { path: ['stopReason'], values: ['max_tokens', 'model_context_window_exceeded'] },
  { path: ['messageStop', 'stopReason'], values: ['max_tokens', 'model_context_window_exceeded'] },
  { path: ['finishReason'], values: ['MAX_TOKENS'] },
];

const PLACES = ['response_metadata', 'additional_kwargs'] as const;

/**
 * How the provider said that a streamed reply (the chunks added up: an `AIMessageChunk`, or any message)
 * was cut off by its output-token limit, else undefined: Chat Completions `finish_reason: 'length'`,
 * Anthropic `stop_reason: 'max_tokens'`, Responses API `status: 'incomplete'`, Bedrock `stopReason:
 * 'max_tokens'`, Gemini `finishReason: 'MAX_TOKENS'` (see the fields above), read from the message's
 * `response_metadata` and `additional_kwargs`. Adding chunks up, LangChain joins a string field that
 * more than one chunk carries, so a value counts when it ends with the signal (what the last chunk said).
 * A reply that reports nothing (a fake model, an SDK version that drops the event) is not cut off here.
 *
 * @example
 * ```ts
 * truncationOf(new AIMessageChunk({ content: '', response_metadata: { finish_reason: 'length' } }));
 * // { field: 'response_metadata.finish_reason', value: 'length' }
 * truncationOf(new AIMessageChunk({ content: '', response_metadata: { finish_reason: 'tool_calls' } })); // undefined
 * ```
 */
export function truncationOf(message: unknown): Truncation | undefined {
  if (!isRecord(message)) return undefined;
  for (const place of PLACES) {
    const fields = message[place];
    if (!isRecord(fields)) continue;
    for (const { path, values } of SIGNALS) {
      const value = path.reduce<unknown>((at, key) => (isRecord(at) ? at[key] : undefined), fields);
      if (typeof value !== 'string') continue;
      const said = values.find((v) => value.endsWith(v));
      if (said !== undefined) return { field: [place, ...path].join('.'), value: said };
    }
  }
  return undefined;
}
