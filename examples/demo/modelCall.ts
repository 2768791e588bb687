import type OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { z } from 'zod';
import type { ModelCall } from '@llm-resilience/core';
import { IntentSchema } from './scenario';

/** JSON Schema of {@link IntentSchema} as sent to providers (keywords strict mode rejects removed). */
const INTENT_JSON_SCHEMA = wireSchema(z.toJSONSchema(IntentSchema));

function wireSchema(node: unknown): Record<string, unknown> {
  if (Array.isArray(node)) return node.map(wireSchema) as unknown as Record<string, unknown>;
  if (node === null || typeof node !== 'object') return node as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$schema' || k === 'minLength' || k === 'maxLength') continue;
    out[k] = typeof v === 'object' ? wireSchema(v) : v;
  }
  return out;
}

/**
 * The model call the engine runs on each attempt: the official OpenAI SDK (with `maxRetries: 0`:
 * the engine retries), the target's model, the attempt's signal and output cap. Response headers are
 * reported so the engine can pace from `x-ratelimit-remaining-*`. A structured call asks for JSON
 * and, after a rejected reply, repeats the request with a stricter instruction.
 *
 * @example
 * ```ts
 * const call = chatCall(clients, messages, { structured: false });
 * await engine.execute({ route: 'chat', input: { messages } }, call);
 * ```
 */
export function chatCall(
  clients: Readonly<Record<string, OpenAI>>,
  messages: ChatCompletionMessageParam[],
  options: { structured: boolean },
): ModelCall<ChatCompletion> {
  return async (target, ctx) => {
    const client = clients[target.provider];
    if (!client) throw new Error(`No client for provider '${target.provider}' of target '${target.id}'.`);
    const sent: ChatCompletionMessageParam[] = ctx.repair
      ? [...messages, { role: 'system', content: 'Your previous reply was not valid JSON for the schema. Reply with the JSON object only, nothing else.' }]
      : messages;
    const { data, response } = await client.chat.completions
      .create(
        {
          model: target.model,
          messages: sent,
          max_completion_tokens: ctx.maxOutputTokens,
          ...(options.structured
            ? { response_format: { type: 'json_schema' as const, json_schema: { name: 'intent', strict: true, schema: INTENT_JSON_SCHEMA } } }
            : {}),
        },
        { signal: ctx.signal },
      )
      .withResponse();
    ctx.reportHeaders(response.headers);
    return data;
  };
}
