import { ResilienceError } from './ResilienceError';

/**
 * @internal Secrets shorter than this are refused (in options) or skipped (at run time): cutting every
 * occurrence of a short string (`2023-06-01`, `true`, a word) would shred ordinary text.
 */
export const MIN_SECRET_CHARS = 8;

/** What a cut secret or a match of a pattern of {@link RedactOptions} becomes. */
const REDACTED = '[redacted]';

/** What the whole text becomes when `secrets` is a function that threw: nothing is known to be safe. */
const SECRETS_FAILED = '[redacted: redact.secrets() threw]';

/**
 * The credentials and patterns of the app, cut out of provider and error text before it reaches events,
 * records, logs and error messages: the `redact` option of `createResilience`, and of {@link Redactor}.
 * Key formats the core knows (`sk-...`, `AIza...`, `Bearer ...`, `api_key=...`, ...) are cut without it;
 * this is for the rest: Azure's 32-hex-character keys, a gateway's own tokens, any key a provider echoes
 * in a 401 or quota body.
 *
 * @example
 * ```ts
 * const redact: RedactOptions = {
 *   secrets: [process.env.AZURE_OPENAI_KEY!, process.env.GATEWAY_TOKEN!],
 *   patterns: [/\bgw_[A-Za-z0-9]{24,}\b/],
 * };
 * createResilience(policy, { redact });
 * ```
 */
export interface RedactOptions {
  /**
   * Strings cut out wherever they occur, exactly (case-sensitive) as written: API keys of any format,
   * tokens, the value of a `Bearer` header. Either an array, checked at start-up (each a string of at
   * least 8 characters, else the engine refuses to start) and read once; or a function, called each time
   * text is scrubbed, for keys that rotate or differ per tenant, returning one secret (a string, cut
   * whole: `() => process.env.AZURE_OPENAI_KEY!`) or several (an array, a `Set`, any iterable of
   * strings). What it returns that is not a string of at least 8 characters is skipped; if it throws,
   * the whole text is replaced by `[redacted: redact.secrets() threw]`. Default: none.
   */
  secrets?: readonly string[] | (() => string | Iterable<string>);
  /**
   * Regular expressions whose matches are replaced by `[redacted]`, after the secrets and the built-in key
   * formats; every match is replaced (a `g` flag is implied, a `y` flag ignored). Default: none.
   */
  patterns?: readonly RegExp[];
}

/**
 * Built-in key formats: credentials that look like credentials, cut whether or not the app named them.
 * Each keeps the label it found (`Bearer [redacted]`, `api_key=[redacted]`).
 */
const KEY_FORMATS: ReadonlyArray<[RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  // Provider keys by prefix: OpenAI/Anthropic (sk-), Google (AIza), Groq, Hugging Face, xAI, Replicate,
  // Perplexity, NVIDIA, Fireworks.
  [/\bsk-[A-Za-z0-9_*-]{8,}/g, '[redacted-key]'],
  [/\bAIza[0-9A-Za-z_-]{20,}/g, '[redacted-key]'],
  [/\b(?:gsk_|hf_|xai-|r8_|pplx-|nvapi-|fw_)[A-Za-z0-9_-]{12,}/g, '[redacted-key]'],
  // Credentials as headers (`x-api-key: ...`), query parameters (`?access_token=...`) or JSON fields.
  [/\b((?:x-)?(?:goog-)?api-key|authorization)(\s*[:=]\s*)(?!Bearer\b|Basic\b)[^\s",;]{6,}/gi, '$1$2[redacted]'],
  [/\b((?:[a-z]+_)?(?:api[_-]?key|key|token|secret|password))=([^&\s"]{6,})/gi, '$1=[redacted]'],
  [/("(?:[a-z]+_)?(?:api[_-]?key|key|token|secret|password)"\s*:\s*")[^"]{6,}"/gi, '$1[redacted]"'],
  // The password of a URL's userinfo (`redis://:pw@host`, `https://user:pw@host`): fetch and clients quote such URLs.
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*:)[^\s/?#@]+@/gi, '$1[redacted]@'],
];

/**
 * `text` with every occurrence of each of `secrets` replaced by `[redacted]`. `secrets` is one secret
 * (a string, cut whole, never character by character) or an iterable of them. Secrets shorter than 8
 * characters (and anything not a string) are skipped, since cutting them would shred ordinary text; the
 * longest are cut first, so a key and a prefix of it are both cut whole. Nothing else is touched: no key
 * formats, no patterns (see {@link Redactor} for those).
 *
 * @example
 * ```ts
 * redactSecrets('Incorrect API key provided: 0123456789abcdef0123456789abcdef.', [azureKey, 'v1']);
 * // 'Incorrect API key provided: [redacted].' ('v1' is too short to be cut)
 * redactSecrets(`bad key ${azureKey}`, azureKey); // 'bad key [redacted]'
 * ```
 */
export function redactSecrets(text: string, secrets: string | Iterable<unknown>): string {
  return cut(text, usable(secrets));
}

/**
 * The secrets worth cutting, longest first. A string is one secret: it is also an iterable (of its
 * characters), which would otherwise be read as one-character secrets, all skipped.
 */
function usable(secrets: string | Iterable<unknown>): string[] {
  if (typeof secrets === 'string') return secrets.length >= MIN_SECRET_CHARS ? [secrets] : [];
  const out: string[] = [];
  for (const s of secrets) if (typeof s === 'string' && s.length >= MIN_SECRET_CHARS) out.push(s);
  return out.sort((a, b) => b.length - a.length);
}

function cut(text: string, secrets: readonly string[]): string {
  let t = text;
  for (const secret of secrets) if (t.includes(secret)) t = t.split(secret).join(REDACTED);
  return t;
}

/** A match becomes `[redacted]`; an empty match (a pattern that can match nothing, such as `x*`) stays empty. */
const replaceMatch = (match: string): string => (match === '' ? match : REDACTED);

/**
 * The scrubber the engine runs over every provider and error text before it reaches an `alert` event,
 * an error message, a record or a log line: the app's own secrets (exact strings), then the key formats
 * the core knows, then the app's patterns. Built from {@link RedactOptions}, checked when it is built;
 * `new Redactor()` cuts the built-in key formats only. `classifyError(err, { redact })` takes one.
 *
 * @example
 * ```ts
 * const redactor = new Redactor({ secrets: [process.env.AZURE_OPENAI_KEY!] });
 * redactor.redact(`Access denied due to invalid subscription key ${process.env.AZURE_OPENAI_KEY}.`);
 * // 'Access denied due to invalid subscription key [redacted].'
 * classifyError(err, { redact: redactor }).message; // the provider's message without the key
 * ```
 */
export class Redactor implements TextRedactor {
  /** Longest first; when `secrets` is a function, read (and sorted) on every call of `redact`. */
  private readonly secrets: readonly string[] | (() => string | Iterable<string>);
  private readonly patterns: readonly RegExp[];

  /**
   * Throws a {@link ResilienceError} (`ERR_LLMR_INVALID_OPTIONS`) listing every bad entry of `options`
   * (a secret shorter than 8 characters, a pattern that is not a RegExp), never quoting a secret.
   */
  constructor(options: RedactOptions = {}) {
    const problems = redactOptionProblems(options, 'redact');
    if (problems.length > 0) {
      throw new ResilienceError(`Invalid redact options:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
        kind: 'invalid_request',
        code: 'ERR_LLMR_INVALID_OPTIONS',
      });
    }
    const { secrets, patterns } = options;
    this.secrets = typeof secrets === 'function' ? secrets : usable(secrets ?? []);
    this.patterns = (patterns ?? []).map((p) => new RegExp(p.source, `${p.flags.replace(/[gy]/g, '')}g`));
  }

  /**
   * `text` with the secrets, the built-in key formats and the patterns cut out. Never throws: if the
   * `secrets` function throws (or returns something that is not iterable), the whole text is replaced.
   *
   * @example
   * ```ts
   * new Redactor({ patterns: [/\btok_[a-z0-9]{20,}/] }).redact('bad token tok_0123456789abcdefghij');
   * // 'bad token [redacted]'
   * ```
   */
  redact(text: string): string {
    let t = text;
    if (typeof this.secrets === 'function') {
      try {
        t = cut(t, usable(this.secrets()));
      } catch {
        return SECRETS_FAILED;
      }
    } else {
      t = cut(t, this.secrets);
    }
    for (const [pattern, replacement] of KEY_FORMATS) t = t.replace(pattern, replacement);
    for (const pattern of this.patterns) t = t.replace(pattern, replaceMatch);
    return t;
  }
}

/**
 * Anything that scrubs text: a {@link Redactor} (of this copy of `@llm-resilience/core` or of another:
 * its ES module and CommonJS builds are two copies, with two `Redactor` classes), or an object of your
 * own with a `redact(text)` method. `classifyError(err, { redact })` takes one (or {@link RedactOptions}).
 *
 * @example
 * ```ts
 * const vault: TextRedactor = { redact: (text) => text.split(vaultToken()).join('[vault token]') };
 * classifyError(err, { redact: vault }).message;
 * ```
 */
export interface TextRedactor {
  /** `text` with what must not be shown cut out. Should not throw (if it does, the text is replaced). */
  redact(text: string): string;
}

/** What a text becomes when a `redact(text)` of the app threw or returned no string. */
const REDACT_FAILED = '[redacted: redact() threw]';

/**
 * @internal Built-in key formats only: what `classifyError` cuts without a `redact` option, and what runs
 * after a scrubber of the app's (which may not know them).
 */
export const KEY_FORMATS_ONLY = new Redactor();

/**
 * @internal The scrubber `value` stands for, for `classifyError`'s `redact` option: a {@link Redactor}
 * of this module as it is; an object with a `redact(text)` method (a `Redactor` of another copy of the
 * package, a scrubber of the app's), wrapped so that it never throws and the built-in key formats are
 * still cut after it; {@link RedactOptions}, built into a `Redactor`. Built anew on every call (it is
 * cheap: the options are checked, the secrets sorted, the patterns compiled), never cached per object,
 * so what the object holds now is what is cut: secrets pushed into its array after an earlier call, a
 * `redact` method replaced since. Anything else throws a `TypeError` naming `at`, what was expected and
 * every problem found, never a value.
 *
 * @example
 * ```ts
 * toTextRedactor({ secrets: [azureKey] }, 'options.redact').redact(`bad key ${azureKey}`); // 'bad key [redacted]'
 * toTextRedactor('key', 'options.redact'); // throws TypeError
 * ```
 */
export function toTextRedactor(value: unknown, at: string): TextRedactor {
  if (value instanceof Redactor) return value;
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) throw notARedactor(at, [], value);
  const redact = (value as { redact?: unknown }).redact;
  if (typeof redact === 'function') {
    return {
      redact: (text) => {
        let t: unknown;
        try {
          t = (redact as (text: string) => unknown).call(value, text);
        } catch {
          return REDACT_FAILED;
        }
        return typeof t === 'string' ? KEY_FORMATS_ONLY.redact(t) : REDACT_FAILED;
      },
    };
  }
  const problems = redactOptionProblems(value, at);
  if (problems.length > 0) throw notARedactor(at, problems, value);
  return new Redactor(value as RedactOptions);
}

function notARedactor(at: string, problems: readonly string[], value: unknown): TypeError {
  const expected = `${at}: expected a Redactor, RedactOptions ({ secrets?, patterns? }) or an object with a redact(text) method`;
  if (problems.length === 0) return new TypeError(`${expected}, got ${kindOf(value)}.`);
  return new TypeError(`${expected}; as RedactOptions it has these problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

/**
 * @internal True when `options` names secrets or patterns of the app's own (the `redact` option was
 * set to something): the engine then hands out redacted stand-ins as its errors' causes.
 *
 * @example
 * ```ts
 * namesOwnRules({ secrets: [azureKey] }); // true
 * namesOwnRules(undefined);               // false
 * ```
 */
export function namesOwnRules(options: RedactOptions | undefined): boolean {
  return options !== undefined && (options.secrets !== undefined || options.patterns !== undefined);
}

/**
 * @internal What is wrong with `value` as {@link RedactOptions}, one line per problem, each naming its
 * path under `at` and what was expected; a secret's value is never quoted, only its length.
 *
 * @example
 * ```ts
 * redactOptionProblems({ secrets: ['short'] }, 'options.redact');
 * // ['options.redact.secrets[0]: expected a string of at least 8 characters, got a string of 5 characters']
 * ```
 */
export function redactOptionProblems(value: unknown, at: string): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [`${at}: expected an object { secrets?, patterns? }, got ${kindOf(value)}`];
  }
  const problems: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (key === 'secrets') {
      if (typeof v === 'function') continue;
      if (!Array.isArray(v)) {
        problems.push(`${at}.secrets: expected an array of strings or a function returning them, got ${kindOf(v)}`);
        continue;
      }
      v.forEach((s: unknown, i) => {
        if (typeof s !== 'string' || s.length < MIN_SECRET_CHARS) {
          const got = typeof s === 'string' ? `a string of ${s.length} character${s.length === 1 ? '' : 's'}` : kindOf(s);
          problems.push(`${at}.secrets[${i}]: expected a string of at least ${MIN_SECRET_CHARS} characters (shorter ones would shred ordinary text), got ${got}`);
        }
      });
    } else if (key === 'patterns') {
      if (!Array.isArray(v)) {
        problems.push(`${at}.patterns: expected an array of RegExp, got ${kindOf(v)}`);
        continue;
      }
      v.forEach((p: unknown, i) => {
        if (Object.prototype.toString.call(p) !== '[object RegExp]') problems.push(`${at}.patterns[${i}]: expected a RegExp, got ${kindOf(p)}`);
      });
    } else {
      problems.push(`${at}.${key}: unknown option (known: secrets, patterns)`);
    }
  }
  return problems;
}

/** The value's type, never its contents (it may be a key). */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}
