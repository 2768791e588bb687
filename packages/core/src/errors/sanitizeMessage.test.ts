import { Redactor } from './Redactor';
import { sanitizeMessage } from './sanitizeMessage';

const KEY = '9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const redactor = new Redactor({ secrets: [KEY] });

describe('sanitizeMessage', () => {
  it('cuts secrets, quoted prompt text and anything from a Troubleshooting URL on, and collapses whitespace', () => {
    const prompt = 'my SSN is 123-45-6789, please draft my appeal';
    expect(sanitizeMessage(`Invalid value   for 'content': '${prompt}'\n(key ${KEY})`, redactor)).toBe("Invalid value for 'content': '[45 chars]' (key [redacted])");
    expect(sanitizeMessage('Model overloaded.\n\nTroubleshooting URL: https://example.test/x', redactor)).toBe('Model overloaded.');
  });

  it('is at most 300 characters, and cuts a secret across the 4 000-character cut whole', () => {
    const long = sanitizeMessage('word '.repeat(200), redactor);
    expect(long).toHaveLength(300);
    expect(long.endsWith('…')).toBe(true);
    expect(sanitizeMessage(`${' '.repeat(3_990)}key ${KEY}`, redactor)).toBe('key [redac');
  });
});
