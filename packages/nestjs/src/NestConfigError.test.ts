import { ResilienceError } from '@llm-resilience/core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCS_PATH, helpLink, NEST_CONFIG_ERROR_CODES, NestConfigError, nestConfigErrorIn } from './NestConfigError';

describe('NestConfigError', () => {
  it('carries its code, kind and help link', () => {
    const e = new NestConfigError('ERR_LLMR_NEST_NO_MODULE', 'No module.');
    expect(e).toBeInstanceOf(ResilienceError);
    expect(e).toMatchObject({ code: 'ERR_LLMR_NEST_NO_MODULE', kind: 'invalid_request', help: helpLink('ERR_LLMR_NEST_NO_MODULE') });
    expect(e.message).toBe('No module. See docs/nestjs.md#err_llmr_nest_no_module.');
  });
});

describe('nestConfigErrorIn', () => {
  it('finds the setup error itself or among the causes', () => {
    const setup = new NestConfigError('ERR_LLMR_NEST_AMBIGUOUS_ENGINE', 'Two apps.');
    expect(nestConfigErrorIn(setup)).toBe(setup);
    const wrapped = new Error('outer', { cause: new ResilienceError('engine', { kind: 'invalid_request', code: 'ERR_LLMR_NOT_RETRYABLE', cause: setup }) });
    expect(nestConfigErrorIn(wrapped)).toBe(setup);
  });

  it('recognises a setup error of another copy of the package by its code', () => {
    class OtherCopy extends Error {
      readonly code = 'ERR_LLMR_NEST_INVALID_LIMIT';
    }
    const other = new OtherCopy('limits[0].limit');
    expect(nestConfigErrorIn(other)).toBe(other);
  });

  it('ignores other errors, including the core’s own invalid requests', () => {
    expect(nestConfigErrorIn(new ResilienceError('x', { kind: 'invalid_request', code: 'ERR_LLMR_UNKNOWN_ROUTE' }))).toBeUndefined();
    expect(nestConfigErrorIn({ code: 'ERR_LLMR_NEST_NO_MODULE' })).toBeUndefined(); // not an Error
    expect(nestConfigErrorIn(undefined)).toBeUndefined();
    const cyclic = new Error('a');
    (cyclic as { cause?: unknown }).cause = cyclic;
    expect(nestConfigErrorIn(cyclic)).toBeUndefined();
  });
});

describe('NEST_CONFIG_ERROR_CODES', () => {
  it('are each explained under their own heading of docs/nestjs.md, where their help link points', () => {
    const docs = readFileSync(join(__dirname, '..', '..', '..', DOCS_PATH), 'utf8');
    for (const code of NEST_CONFIG_ERROR_CODES) expect(docs).toContain(`\n### ${code}\n`);
  });
});
