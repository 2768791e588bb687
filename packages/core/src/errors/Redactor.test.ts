import { ResilienceError } from './ResilienceError';
import { MIN_SECRET_CHARS, redactOptionProblems, Redactor, redactSecrets } from './Redactor';

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
