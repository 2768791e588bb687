import { parseArgs } from './cliArgs';

describe('parseArgs', () => {
  it('reads --config, --port, --host and --seed, in both spellings', () => {
    expect(parseArgs(['--config', 's.json', '--port', '9000', '--seed=7', '--host=0.0.0.0'])).toEqual({ config: 's.json', port: 9000, host: '0.0.0.0', seed: 7, help: false });
    expect(parseArgs([])).toEqual({ port: 8787, host: '127.0.0.1', help: false });
    expect(parseArgs(['-h']).help).toBe(true);
  });

  it('rejects unknown options, missing values and non-integers', () => {
    expect(() => parseArgs(['--bogus'])).toThrow(/Unknown option "--bogus"/);
    expect(() => parseArgs(['--port'])).toThrow(/--port needs a value/);
    expect(() => parseArgs(['--port', 'abc'])).toThrow(/--port must be an integer/);
  });
});
