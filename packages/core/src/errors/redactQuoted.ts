/**
 * @internal Quoted text this long in a provider's message is most likely the request quoted back (a schema error
 * that echoes a message's content), and in a validation reason the reply. Parameter names, enum values
 * and short keys are shorter and stay.
 */
export const ECHO_MIN_CHARS = 32;

/** Opening and closing quote of each kind a message may quote with. */
const PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['"', '"'],
  ["'", "'"],
  ['\u201c', '\u201d'],
  ['\u2018', '\u2019'],
];
const CLOSE = new Map(PAIRS);
const PATTERNS = new Map<number, RegExp>();

/**
 * What a quote that opens a run follows: the start of the text, a blank, opening punctuation
 * (`( [ { : = , ; < > |`), a backslash (`\"...\"` in JSON text), or a string prefix (`b'...'`, `u'...'`, `f"..."`) that starts a word. Not a
 * letter (the apostrophe of "can't"), a digit or closing punctuation (`messages[0]'s`, `` `max_tokens`'s ``).
 */
const OPENS_AFTER = '(?<=^|[\\s(\\[{:=,;<>|\\\\]|(?:^|[^\\p{L}\\p{N}])[bBuUrRfF])';

/**
 * Quoted runs, per kind of quote: it opens at a quote placed as an opening quote is (see
 * {@link OPENS_AFTER}) and closes at the first quote of its kind that no letter or digit follows (the
 * apostrophes of "can't" and "patient's" do not close it). A short run without a quote of its kind
 * inside is matched first, to be kept; a run that never closes (a message cut short) goes to the end
 * of the text.
 */
function quotedRuns(minChars: number): RegExp {
  let re = PATTERNS.get(minChars);
  if (re === undefined) {
    const word = '[\\p{L}\\p{N}]';
    const alternatives = PAIRS.map(([open, close]) => {
      const o = escapeRe(open);
      const c = escapeRe(close);
      return `${OPENS_AFTER}${o}(?:[^${c}]{0,${minChars - 1}}${c}(?!${word})|[\\s\\S]{${minChars},}?${c}(?!${word})|[\\s\\S]{${minChars},}$)`;
    });
    PATTERNS.set(minChars, (re = new RegExp(alternatives.join('|'), 'gu')));
  }
  return re;
}

function escapeRe(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/**
 * `text` with quoted runs of at least `minChars` (default 32) characters replaced by their length: what
 * a provider message or a validation reason may quote of a prompt or a reply, kept out of errors,
 * events and logs. Apostrophes inside a word (`can't`, `patient's`) do not end a run, and a run cut off
 * before its closing quote is redacted to the end of the text. (A word that ends in an apostrophe,
 * `patients'`, does end a single-quoted run: there it reads as the closing quote.)
 *
 * @example
 * ```ts
 * redactQuoted(`'My SSN is 123-45-6789, please draft my appeal' is not of type 'array'`);
 * // "'[45 chars]' is not of type 'array'"
 * ```
 */
export function redactQuoted(text: string, minChars = ECHO_MIN_CHARS): string {
  if (text.length < minChars) return text;
  return text.replace(quotedRuns(Math.max(1, Math.floor(minChars))), (run) => {
    const open = run[0]!;
    const close = CLOSE.get(open)!;
    const closed = run.length >= 2 && run.endsWith(close);
    const body = closed ? run.slice(1, -1) : run.slice(1);
    if (body.length < minChars) return run;
    return `${open}[${body.length} chars]${closed ? close : ''}`;
  });
}
