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

  it('returns the payload itself when there is no secret to cut (none, or all too short to be cut)', () => {
    const payload = { error: { message: 'Overloaded', details: [{ reason: 'busy' }] } };
    expect(withoutSecrets(payload, [])).toBe(payload);
    expect(withoutSecrets(payload, ['2023', 'v1'])).toBe(payload);
  });

  it('copies the first 100 entries of an array and fields of an object: a huge payload keeps its message and code, scrubbed', () => {
    // A huge array before the fields that matter, each entry quoting the key.
    const payload = {
      details: Array.from({ length: 200_000 }, (_, i) => ({ field: `f${i}`, reason: `bad key ${KEY}`, n: i })),
      message: `Received API Key = ${KEY}`,
      code: 'invalid_api_key',
      nested: { deeper: { text: KEY } },
    };
    const out = withoutSecrets(payload, [KEY]) as { details: unknown[]; message: string; code: string; nested: unknown };
    expect(out.message).toBe('Received API Key = [redacted]');
    expect(out.code).toBe('invalid_api_key');
    expect(out.nested).toEqual({ deeper: { text: '[redacted]' } });
    expect(out.details).toHaveLength(100);
    expect(out.details[99]).toEqual({ field: 'f99', reason: 'bad key [redacted]', n: 99 });
    const wide: Record<string, string> = {};
    for (let i = 0; i < 50_000; i++) wide[`k${i}`] = `${KEY}-${i}`;
    const fields = Object.keys(withoutSecrets({ message: 'm', wide }, [KEY]) as { wide: object }).length;
    expect(fields).toBe(2);
    expect(Object.keys((withoutSecrets(wide, [KEY]) as object))).toHaveLength(100);
  });

  it('copies 10 000 values in all, nearest the top first; what is reached after that is left empty, never unscrubbed', () => {
    // 100 × 100 × 100 strings, all quoting the key, under a message.
    const level = (depth: number): unknown => (depth === 0 ? `bad key ${KEY}` : Array.from({ length: 100 }, () => level(depth - 1)));
    const payload = { message: `key ${KEY}`, grid: level(3) };
    const out = withoutSecrets(payload, [KEY]) as { message: string; grid: unknown[][][] };
    expect(out.message).toBe('key [redacted]');
    let values = 0;
    const count = (v: unknown): void => {
      if (v === null || typeof v !== 'object') return;
      for (const x of Object.values(v)) {
        values++;
        count(x);
      }
    };
    count(out);
    expect(values + 1).toBe(10_000); // the payload itself is one
    // Level by level: the message and the 100 rows first, then the rows' cells while the budget lasts
    // (98 rows and 97 cells of the 99th); the strings of the last level are never reached.
    expect(out.grid).toHaveLength(100);
    expect(out.grid.map((row) => row.length)).toEqual([...Array<number>(98).fill(100), 97, 0]);
    expect(out.grid[0]![0]).toEqual([]);
    expect(JSON.stringify(out)).not.toContain(KEY);
  });
});
