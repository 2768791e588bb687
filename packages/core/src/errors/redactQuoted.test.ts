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
});
