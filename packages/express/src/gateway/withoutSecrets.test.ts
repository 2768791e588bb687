import { withoutSecrets } from './withoutSecrets';

const KEY = 'gwt.7Hq2Lr9Xv4Nc8Zp1Qa';

describe('withoutSecrets', () => {
  it('cuts the secrets out of every string of a payload, nested and in arrays, leaving the rest as it was', () => {
    const payload = { error: { message: `Received API Key = ${KEY}`, code: 'invalid_api_key', status: 401, details: [{ key: KEY }, null, true] } };
    expect(withoutSecrets(payload, [KEY])).toEqual({
      error: { message: 'Received API Key = [redacted]', code: 'invalid_api_key', status: 401, details: [{ key: '[redacted]' }, null, true] },
    });
    expect(payload.error.message).toContain(KEY); // a copy: the original is not changed
  });

  it('cuts a key the JSON escaped differently, since it works on the parsed value', () => {
    const parsed = JSON.parse(`{"message":"key ${KEY.replace('.', '\\u002e')}"}`) as unknown;
    expect(withoutSecrets(parsed, [KEY])).toEqual({ message: 'key [redacted]' });
  });

  it('cuts property names too, and keeps a __proto__ key a plain property', () => {
    const parsed = JSON.parse(`{"${KEY}": 1, "__proto__": {"polluted": "${KEY}"}}`) as unknown;
    const out = withoutSecrets(parsed, [KEY]) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['[redacted]', '__proto__']);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(JSON.stringify(out)).not.toContain(KEY);
  });

  it('takes a string payload, skips short secrets and stops 8 levels deep', () => {
    expect(withoutSecrets(`bad ${KEY}`, [KEY, '2023'])).toBe('bad [redacted]');
    let deep: unknown = KEY;
    for (let i = 0; i < 10; i++) deep = { d: deep };
    expect(JSON.stringify(withoutSecrets(deep, [KEY]))).toBe(`${'{"d":'.repeat(8)}null${'}'.repeat(8)}`);
  });
});
