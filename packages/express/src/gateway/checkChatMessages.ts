import { isObject } from './chatTypes';
import { invalidType } from './ChatRequestError';

/**
 * Checks the shape every chat API requires of `messages`, whatever the upstream: each message is
 * an object with a string `role`; its `content` is a string, an array of objects with a string
 * `type`, `null` or absent. Throws a `ChatRequestError` (`invalid_type`) naming the first
 * offending path. Part types and roles are not checked here: OpenAI-compatible upstreams differ in
 * what they accept (the Anthropic translation checks its own).
 *
 * @example
 * ```ts
 * assertChatMessages([{ role: 'user', content: 'hi' }]); // passes
 * assertChatMessages([null]); // throws: Invalid type for 'messages[0]': expected an object, but got null instead.
 * ```
 */
export function assertChatMessages(messages: readonly unknown[]): void {
  messages.forEach((m, i) => {
    const at = `messages[${i}]`;
    if (!isObject(m)) throw invalidType(at, 'an object', m);
    if (typeof m.role !== 'string') throw invalidType(`${at}.role`, 'a string', m.role);
    const content = m.content;
    if (content === undefined || content === null || typeof content === 'string') return;
    if (!Array.isArray(content)) throw invalidType(`${at}.content`, 'a string or an array of objects', content);
    content.forEach((p: unknown, j) => {
      if (!isObject(p)) throw invalidType(`${at}.content[${j}]`, 'an object', p);
      if (typeof p.type !== 'string') throw invalidType(`${at}.content[${j}].type`, 'a string', p.type);
    });
  });
}

