import { redactQuoted } from './redactQuoted';

describe('redactQuoted', () => {
  it('replaces long quoted runs by their length and keeps short ones', () => {
    expect(redactQuoted(`'My SSN is 123-45-6789, please draft my appeal' is not of type 'array' - 'messages.0.content'`)).toBe(
      `'[45 chars]' is not of type 'array' - 'messages.0.content'`,
    );
    expect(redactQuoted('Invalid option: expected one of "low"|"high"')).toBe('Invalid option: expected one of "low"|"high"');
    expect(redactQuoted('Unrecognized key: “a whole sentence the model wrote as a key”')).toBe('Unrecognized key: “[41 chars]”');
  });

  it('takes a lower threshold for text that quotes its input by nature', () => {
    expect(redactQuoted(`Unexpected token 'P', "Patient Ja"... is not valid JSON`, 4)).toBe(`Unexpected token 'P', "[10 chars]"... is not valid JSON`);
  });

  it("does not end a run at an apostrophe inside a word (can't, patient's)", () => {
    const reply = "I can't share that, the patient's SSN is 123-45-6789 and I'm sorry";
    expect(redactQuoted(`Invalid value for 'content': '${reply}'`)).toBe(`Invalid value for 'content': '[${reply.length} chars]'`);
    expect(redactQuoted(`Expected number, received "${reply}"`)).toBe(`Expected number, received "[${reply.length} chars]"`);
    expect(redactQuoted(`bad value "${reply}"`, 3)).toBe(`bad value "[${reply.length} chars]"`);
    // In double quotes, a word-final apostrophe (patients') does not end the run either.
    const plural = "the patients' records of 123-45-6789 are sealed";
    expect(redactQuoted(`received "${plural}"`)).toBe(`received "[${plural.length} chars]"`);
    // An apostrophe inside a word opens nothing: prose around quoted names stays.
    expect(redactQuoted(`The model's context window can't take 'messages' of this size`)).toBe(`The model's context window can't take 'messages' of this size`);
  });

  it('redacts a run cut off before its closing quote to the end of the text', () => {
    expect(redactQuoted(`Invalid value for 'content': 'My SSN is 123-45-6789, please draft my appe`)).toBe(`Invalid value for 'content': '[43 chars]`);
  });

  describe("an apostrophe after closing punctuation (`]'s`) opens nothing", () => {
    const plain = [
      "Invalid parameter: messages[0]'s 'content' must be a string or an array of content parts.",
      'This `max_tokens`\'s value is greater than the maximum allowed for this model, which is 4096 tokens.',
      "Invalid 'model''s value: can't use 'gpt-4o' here",
    ];
    it.each(plain)('leaves a message that quotes nothing long unchanged: %s', (msg) => {
      expect(redactQuoted(msg)).toBe(msg);
    });

    // A string prefix (Python's bytes and unicode reprs) before the quote still opens a run.
    it.each([
      "b'My SSN is 123-45-6789, please draft my appeal' is not of type 'array'",
      "u'My SSN is 123-45-6789, please draft my appeal' is not of type 'array'",
    ])('still redacts a long quoted run right after a letter: %s', (msg) => {
      expect(redactQuoted(msg)).not.toContain('123-45-6789');
    });

    // A pattern that backtracks badly would hang here (the test's timeout); speed itself is not asserted.
    it('handles 100 KB inputs full of quotes, never making them longer', () => {
      const inputs = ['a'.repeat(100_000), '" '.repeat(50_000), '"a'.repeat(50_000), " '".repeat(50_000), '{"k":"v",'.repeat(11_000)];
      for (const s of inputs) {
        expect(redactQuoted(s).length).toBeLessThanOrEqual(s.length);
        expect(redactQuoted(s, 4).length).toBeLessThanOrEqual(s.length);
      }
    });
  });

  it('redacts a long run quoted with escaped quotes (JSON text inside a message)', () => {
    expect(redactQuoted('{"error":"Invalid value \\"My SSN is 123-45-6789, please draft my appeal\\" for content"}')).not.toContain('123-45-6789');
  });
});
