import { ResilienceError } from './ResilienceError';
import { MIN_SECRET_CHARS, namesOwnRules, redactOptionProblems, Redactor, redactSecrets, toTextRedactor, type RedactOptions } from './Redactor';

const AZURE_KEY = '0123456789abcdef0123456789abcdef';

describe('redactSecrets', () => {
  it('cuts every occurrence of each secret, exactly and case-sensitively', () => {
    const text = `key ${AZURE_KEY} rejected; ${AZURE_KEY} again; ${AZURE_KEY.toUpperCase()} is another string`;
    expect(redactSecrets(text, [AZURE_KEY])).toBe(`key [redacted] rejected; [redacted] again; ${AZURE_KEY.toUpperCase()} is another string`);
  });

  it(`skips secrets shorter than ${MIN_SECRET_CHARS} characters and values that are not strings`, () => {
    const text = 'anthropic-version 2023-06-01 true 1234567';
    expect(redactSecrets(text, ['2023-06-01'.slice(0, 7), 'true', '1234567', undefined, 42, null])).toBe(text);
    expect(redactSecrets(text, ['2023-06-01'])).toBe('anthropic-version [redacted] true 1234567');
  });

  it('cuts the longest first, so a key and a prefix of it are both cut whole', () => {
    expect(redactSecrets('a: gw-token-0001-rest, b: gw-token-0001', ['gw-token-0001', 'gw-token-0001-rest'])).toBe('a: [redacted], b: [redacted]');
  });

  it('takes one secret as a string, cut whole (a string is also an iterable of its characters)', () => {
    expect(redactSecrets(`key ${AZURE_KEY} rejected`, AZURE_KEY)).toBe('key [redacted] rejected');
    expect(redactSecrets('a 1234567 b', '1234567')).toBe('a 1234567 b');
  });

  it('touches nothing but the secrets (no key formats)', () => {
    expect(redactSecrets('Bearer abcdefghijkl sk-abcdefghijkl', [AZURE_KEY])).toBe('Bearer abcdefghijkl sk-abcdefghijkl');
  });
});

describe('Redactor', () => {
  it('cuts the built-in key formats with no options', () => {
    expect(new Redactor().redact('Incorrect API key provided: sk-proj-abcdefghijkl. Authorization: Bearer abc.def')).toBe(
      'Incorrect API key provided: [redacted-key]. Authorization: Bearer [redacted]',
    );
  });

  it("cuts the password of a URL's userinfo, keeping the user, host and path", () => {
    const r = new Redactor();
    expect(r.redact('Request cannot be constructed from a URL that includes credentials: http://user:Sup3rSecretPassw0rd@127.0.0.1:9/v1/chat')).toBe(
      'Request cannot be constructed from a URL that includes credentials: http://user:[redacted]@127.0.0.1:9/v1/chat',
    );
    expect(r.redact('connect failed: redis://:hunter2hunter2@cache.internal:6379/0')).toBe('connect failed: redis://:[redacted]@cache.internal:6379/0');
    // No userinfo, or a user without a password: nothing to cut.
    expect(r.redact('see https://api.example.com:443/v1 and mailto:a@b.c and https://user@host/x')).toBe('see https://api.example.com:443/v1 and mailto:a@b.c and https://user@host/x');
  });

  it('cuts the app secrets, then the key formats, then the app patterns', () => {
    const r = new Redactor({ secrets: [AZURE_KEY], patterns: [/\bgw_[A-Za-z0-9]{12,}/] });
    expect(r.redact(`Access denied due to invalid subscription key ${AZURE_KEY}; gateway token gw_abcdefghijklmnop; sk-abcdefghijkl`)).toBe(
      'Access denied due to invalid subscription key [redacted]; gateway token [redacted]; [redacted-key]',
    );
  });

  it('replaces every match of a pattern whatever its flags, and leaves empty matches alone', () => {
    const sticky = new Redactor({ patterns: [/tok_\d{4}/y, /TOK_\d{4}/i, /z*/] });
    expect(sticky.redact('a tok_1234 b tok_5678 c')).toBe('a [redacted] b [redacted] c');
    // The pattern given is not changed (its lastIndex and flags stay the caller's).
    const mine = /tok_\d{4}/g;
    new Redactor({ patterns: [mine] }).redact('tok_1234');
    expect(mine.lastIndex).toBe(0);
    expect(mine.flags).toBe('g');
  });

  it('reads an array of secrets once, when it is built', () => {
    const secrets = [AZURE_KEY];
    const r = new Redactor({ secrets });
    secrets.push('added-later-0001');
    expect(r.redact(`${AZURE_KEY} added-later-0001`)).toBe('[redacted] added-later-0001');
  });

  it('calls a function of secrets each time, for keys that rotate, skipping what cannot be a secret', () => {
    let current = ['first-key-0001'];
    const r = new Redactor({ secrets: () => [...current, 'short', undefined as unknown as string] });
    expect(r.redact('first-key-0001 / second-key-0002')).toBe('[redacted] / second-key-0002');
    current = ['second-key-0002'];
    expect(r.redact('first-key-0001 / second-key-0002')).toBe('first-key-0001 / [redacted]');
    expect(new Redactor({ secrets: () => new Set(['in-a-set-0001']) }).redact('x in-a-set-0001')).toBe('x [redacted]');
  });

  it('takes one secret from a function returning a string, cut whole, not character by character', () => {
    // The natural way to write "the current key"; it type-checks without a cast.
    const options: RedactOptions = { secrets: () => AZURE_KEY };
    expect(new Redactor(options).redact(`Incorrect API key provided: ${AZURE_KEY}.`)).toBe('Incorrect API key provided: [redacted].');
    // A string that cannot be a secret is skipped like one from an array, not split up.
    expect(new Redactor({ secrets: () => 'short' }).redact('a short text')).toBe('a short text');
  });

  it('replaces the whole text when the function of secrets throws or returns no iterable: nothing is known to be safe', () => {
    const throwing = new Redactor({
      secrets: () => {
        throw new Error('vault unreachable');
      },
    });
    expect(throwing.redact(`invalid key ${AZURE_KEY}`)).toBe('[redacted: redact.secrets() threw]');
    const notIterable = new Redactor({ secrets: (() => 42) as unknown as () => Iterable<string> });
    expect(notIterable.redact(`invalid key ${AZURE_KEY}`)).toBe('[redacted: redact.secrets() threw]');
  });

  it('refuses bad options when it is built, naming each path and never quoting a secret', () => {
    let error: unknown;
    try {
      new Redactor({ secrets: ['s3cr3t', AZURE_KEY], patterns: ['tok_.*' as unknown as RegExp] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ResilienceError);
    expect((error as ResilienceError).code).toBe('ERR_LLMR_INVALID_OPTIONS');
    expect((error as Error).message.split('\n')).toEqual([
      'Invalid redact options:',
      '  - redact.secrets[0]: expected a string of at least 8 characters (shorter ones would shred ordinary text), got a string of 6 characters',
      '  - redact.patterns[0]: expected a RegExp, got string',
    ]);
    expect((error as Error).message).not.toContain('s3cr3t');
  });
});

describe('redactOptionProblems', () => {
  it.each([
    [null, ['at: expected an object { secrets?, patterns? }, got null']],
    [['k'], ['at: expected an object { secrets?, patterns? }, got an array']],
    [{ secrets: 'one-long-secret' }, ['at.secrets: expected an array of strings or a function returning them, got string']],
    [{ secrets: [undefined] }, ['at.secrets[0]: expected a string of at least 8 characters (shorter ones would shred ordinary text), got undefined']],
    [{ secrets: ['a'] }, ['at.secrets[0]: expected a string of at least 8 characters (shorter ones would shred ordinary text), got a string of 1 character']],
    [{ patterns: /x/ }, ['at.patterns: expected an array of RegExp, got object']],
    [{ secret: [AZURE_KEY] }, ['at.secret: unknown option (known: secrets, patterns)']],
  ])('reports %p', (value, problems) => {
    expect(redactOptionProblems(value, 'at')).toEqual(problems);
  });

  it('accepts valid options, a function of secrets and absent fields', () => {
    expect(redactOptionProblems({ secrets: [AZURE_KEY], patterns: [/x/] }, 'at')).toEqual([]);
    expect(redactOptionProblems({ secrets: () => [], patterns: undefined }, 'at')).toEqual([]);
    expect(redactOptionProblems({}, 'at')).toEqual([]);
  });
});

describe('toTextRedactor (the redact option of classifyError)', () => {
  const text = `invalid key ${AZURE_KEY}; sk-abcdefghijkl`;

  it('takes a Redactor of this module as it is', () => {
    const r = new Redactor({ secrets: [AZURE_KEY] });
    expect(toTextRedactor(r, 'at')).toBe(r);
  });

  it('builds a Redactor from RedactOptions', () => {
    const options: RedactOptions = { secrets: [AZURE_KEY] };
    expect(toTextRedactor(options, 'at').redact(text)).toBe('invalid key [redacted]; [redacted-key]');
    expect(toTextRedactor({}, 'at').redact(text)).toBe(`invalid key ${AZURE_KEY}; [redacted-key]`);
  });

  it('reads the options object as it is at each call: a secret pushed into its array later is cut (keys loaded from a vault after start-up)', () => {
    const options = { secrets: [] as string[] };
    expect(toTextRedactor(options, 'at').redact(text)).toBe(`invalid key ${AZURE_KEY}; [redacted-key]`);
    options.secrets.push(AZURE_KEY);
    expect(toTextRedactor(options, 'at').redact(text)).toBe('invalid key [redacted]; [redacted-key]');
    // ...and checked at each call too: a short one added since is reported, not silently skipped.
    options.secrets.push('short');
    expect(() => toTextRedactor(options, 'at')).toThrow(TypeError);
  });

  it('uses any object with a redact(text) method, then still cuts the built-in key formats', () => {
    const mine = { marker: '[mine]', redact(t: string) { return t.split(AZURE_KEY).join(this.marker); } };
    expect(toTextRedactor(mine, 'at').redact(text)).toBe('invalid key [mine]; [redacted-key]');
  });

  it('uses the redact method the object has at each call, not the first one it had', () => {
    const mine: { redact(t: string): string } = { redact: (t) => t };
    expect(toTextRedactor(mine, 'at').redact(text)).toBe(`invalid key ${AZURE_KEY}; [redacted-key]`);
    mine.redact = (t) => t.split(AZURE_KEY).join('[vault]');
    expect(toTextRedactor(mine, 'at').redact(text)).toBe('invalid key [vault]; [redacted-key]');
  });

  it('never throws for a redact(text) of the app that throws or returns no string: the text is replaced', () => {
    const throwing = { redact: () => { throw new Error(`vault down, key ${AZURE_KEY}`); } };
    const notText = { redact: () => 42 };
    expect(toTextRedactor(throwing, 'at').redact(text)).toBe('[redacted: redact() threw]');
    expect(toTextRedactor(notText, 'at').redact(text)).toBe('[redacted: redact() threw]');
  });

  it.each([
    ['a string', AZURE_KEY, 'at: expected a Redactor, RedactOptions ({ secrets?, patterns? }) or an object with a redact(text) method, got string.'],
    ['null', null, 'at: expected a Redactor, RedactOptions ({ secrets?, patterns? }) or an object with a redact(text) method, got null.'],
    ['a function', () => AZURE_KEY, 'at: expected a Redactor, RedactOptions ({ secrets?, patterns? }) or an object with a redact(text) method; as RedactOptions it has these problems:\n  - at: expected an object { secrets?, patterns? }, got function'],
    [
      'options with a short secret and an unknown key',
      { secrets: ['s3cr3t'], secret: [AZURE_KEY] },
      'at: expected a Redactor, RedactOptions ({ secrets?, patterns? }) or an object with a redact(text) method; as RedactOptions it has these problems:\n' +
        '  - at.secrets[0]: expected a string of at least 8 characters (shorter ones would shred ordinary text), got a string of 6 characters\n' +
        '  - at.secret: unknown option (known: secrets, patterns)',
    ],
  ])('throws a TypeError for %s, never quoting a value', (_what, value, message) => {
    let error: unknown;
    try {
      toTextRedactor(value, 'at');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(message);
    expect((error as Error).message).not.toContain(AZURE_KEY);
    expect((error as Error).message).not.toContain('s3cr3t');
  });
});

describe('namesOwnRules', () => {
  it('is true once secrets or patterns are given, even empty', () => {
    expect(namesOwnRules({ secrets: [AZURE_KEY] })).toBe(true);
    expect(namesOwnRules({ secrets: () => AZURE_KEY })).toBe(true);
    expect(namesOwnRules({ patterns: [] })).toBe(true);
    expect(namesOwnRules({})).toBe(false);
    expect(namesOwnRules(undefined)).toBe(false);
  });
});
