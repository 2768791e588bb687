import { redactQuoted } from './redactQuoted';
import type { TextRedactor } from './Redactor';

/** @internal How much of a message is looked at (redacted first, then cut to this length). */
export const MAX_TEXT = 4000;

/** @internal The longest message shown; longer ones end in `…`. */
export const MESSAGE_MAX = 300;

/**
 * @internal A provider or error message as the core shows it (`classifyError`'s `message`, the message
 * of a redacted stand-in cause): `redactor` run over it before it is cut to length (so a secret across
 * the cut is not half kept), anything from a `Troubleshooting URL:` on dropped, whitespace collapsed,
 * quoted runs of 32 characters or more (a prompt or reply quoted back) replaced by their length, and at
 * most 300 characters.
 *
 * @example
 * ```ts
 * sanitizeMessage(`Invalid value for 'content': '${prompt}'`, new Redactor());
 * // "Invalid value for 'content': '[74 chars]'"
 * ```
 */
export function sanitizeMessage(text: string, redactor: TextRedactor): string {
  let t = redactor.redact(text.slice(0, 2 * MAX_TEXT)).slice(0, MAX_TEXT);
  const troubleshooting = t.indexOf('Troubleshooting URL:');
  if (troubleshooting >= 0) t = t.slice(0, troubleshooting);
  t = t.replace(/\s+/g, ' ').trim();
  t = redactQuoted(t);
  return t.length > MESSAGE_MAX ? `${t.slice(0, MESSAGE_MAX - 1)}…` : t;
}
