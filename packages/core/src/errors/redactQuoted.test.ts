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
});
