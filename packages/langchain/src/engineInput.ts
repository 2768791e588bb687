import { coerceMessageLikeToMessage, isBaseMessage, type BaseMessage, type BaseMessageLike } from '@langchain/core/messages';
import type { ChatMessage } from '@llm-resilience/core';
import type { InputEstimate } from './types';

const ROLES: Record<string, string> = {
  human: 'user',
  ai: 'assistant',
  system: 'system',
  developer: 'developer',
  tool: 'tool',
  function: 'function',
  remove: 'system',
};

/**
 * Converts a LangChain message to the core's `{ role, content }` (OpenAI role names).
 *
 * @example
 * ```ts
 * toChatMessage(new HumanMessage('Hi')); // { role: 'user', content: 'Hi' }
 * ```
 */
export function toChatMessage(message: BaseMessage): ChatMessage {
  const type = message.getType();
  const role = type === 'generic' ? String((message as { role?: unknown }).role ?? 'user') : (ROLES[type] ?? type);
  const content: unknown[] = [];
  if (typeof message.content === 'string') content.push({ type: 'text', text: message.content });
  else content.push(...message.content);
  // Tool calls cost input tokens on the next turn: count their arguments too.
  const calls = (message as { tool_calls?: ReadonlyArray<{ name?: string; args?: unknown }> }).tool_calls;
  if (Array.isArray(calls)) for (const c of calls) content.push({ type: 'tool_call', name: c.name, args: c.args });
  return { role, content: content.length === 1 && typeof message.content === 'string' ? message.content : content };
}

function isPromptValue(v: unknown): v is { toChatMessages(): BaseMessage[] } {
  return typeof v === 'object' && v !== null && typeof (v as { toChatMessages?: unknown }).toChatMessages === 'function';
}

function stringLeaves(value: unknown, out: string[], depth: number): void {
  if (depth > 4) return;
  if (typeof value === 'string') out.push(value);
  else if (isBaseMessage(value)) out.push(value.text);
  else if (Array.isArray(value)) for (const v of value) stringLeaves(v, out, depth + 1);
  else if (typeof value === 'object' && value !== null) for (const v of Object.values(value)) stringLeaves(v, out, depth + 1);
}

/**
 * Reads what the engine estimates input tokens from out of a Runnable's input: a string (a prompt),
 * a BaseMessage or a list of message-likes (`['human', '...']`, `{ role, content }`, BaseMessage),
 * a PromptValue, or an object of prompt variables (its string values, which the prompt template
 * will place in the prompt). Returns undefined when nothing countable is found.
 *
 * @example
 * ```ts
 * engineInputOf([new SystemMessage('Be brief.'), new HumanMessage(doc)]);
 * // { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: doc }] }
 * engineInputOf({ document: doc }); // { prompt: doc }
 * ```
 */
export function engineInputOf(input: unknown): Exclude<InputEstimate, number> | undefined {
  if (typeof input === 'string') return { prompt: input };
  if (isBaseMessage(input)) return { messages: [toChatMessage(input)] };
  if (isPromptValue(input)) return { messages: input.toChatMessages().map(toChatMessage) };
  if (Array.isArray(input)) {
    const messages: ChatMessage[] = [];
    for (const item of input) {
      try {
        messages.push(toChatMessage(coerceMessageLikeToMessage(item as BaseMessageLike)));
      } catch {
        // Not a message-like: count its text as a user turn.
        const parts: string[] = [];
        stringLeaves(item, parts, 0);
        if (parts.length > 0) messages.push({ role: 'user', content: parts.join('\n') });
      }
    }
    return messages.length > 0 ? { messages } : undefined;
  }
  if (typeof input === 'object' && input !== null) {
    const parts: string[] = [];
    stringLeaves(input, parts, 0);
    return parts.length > 0 ? { prompt: parts.join('\n') } : undefined;
  }
  return undefined;
}
