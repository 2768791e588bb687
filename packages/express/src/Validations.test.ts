import type { Request } from 'express';
import { ExpressConfigError } from './ExpressConfigError';
import { Validations, VALIDATION_CODES } from './Validations';

function collecting() {
  const warnings: Array<{ message: string; code: unknown; help: unknown }> = [];
  return { warnings, logger: { warn: (message: string, f?: Record<string, unknown>) => void warnings.push({ message, code: f?.code, help: f?.help }) } };
}

/** The parts of an Express request the proxy checks read. */
function fakeRequest(headers: Record<string, string>, trustProxy: unknown, ip: string | undefined): Request {
  return { headers, ip, app: { get: (k: string) => (k === 'trust proxy' ? trustProxy : undefined) } } as unknown as Request;
}

describe('Validations', () => {
  it('fires each check once, with its code and help link', () => {
    const { warnings, logger } = collecting();
    const v = new Validations(true, logger);
    v.identity(undefined);
    v.identity({});
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.code).toBe('ERR_LLMR_EXPRESS_UNDEFINED_IDENTITY');
    expect(warnings[0]!.help).toBe('docs/express.md#err_llmr_express_undefined_identity');
    expect(warnings[0]!.message).toContain('See docs/express.md#err_llmr_express_undefined_identity.');
    expect(v.on('identity')).toBe(false);
  });

  it('warns about X-Forwarded-For without trust proxy, permissive trust proxy and a missing IP', () => {
    const { warnings, logger } = collecting();
    const v = new Validations(undefined, logger);
    v.proxy(fakeRequest({}, false, '10.0.0.1'));
    expect(warnings).toHaveLength(0);
    v.proxy(fakeRequest({ 'x-forwarded-for': '1.2.3.4' }, false, '10.0.0.1'));
    v.proxy(fakeRequest({}, true, '1.2.3.4'));
    v.proxy(fakeRequest({}, 1, undefined));
    expect(warnings.map((w) => w.code)).toEqual([VALIDATION_CODES.xForwardedFor, VALIDATION_CODES.trustProxy, VALIDATION_CODES.ip]);
  });

  it('is switchable per check and as a whole', () => {
    const { warnings, logger } = collecting();
    new Validations({ identity: false }, logger).identity(undefined);
    new Validations(false, logger).proxy(fakeRequest({ 'x-forwarded-for': '1.2.3.4' }, false, undefined));
    new Validations({ default: false, limitScope: true }, logger).limitScope('user-rpm', 'user');
    expect(warnings.map((w) => w.code)).toEqual([VALIDATION_CODES.limitScope]);
    expect(warnings[0]!.message).toContain("'user-rpm'");
  });

  it('rejects unknown check names at start-up', () => {
    expect(() => new Validations({ trustproxy: false } as never)).toThrow(ExpressConfigError);
    expect(() => new Validations({ trustproxy: false } as never)).toThrow(/validations\.trustproxy is not a known check/);
  });

  it('names unknown options', () => {
    const { warnings, logger } = collecting();
    new Validations(true, logger).unknownOptions({ engine: 1, standardHeader: 'draft-7' }, ['engine', 'standardHeaders'], 'resilience()');
    expect(warnings[0]).toMatchObject({ code: VALIDATION_CODES.unknownOptions });
    expect(warnings[0]!.message).toContain("'standardHeader'");
  });

  it('emits a process warning by default', () => {
    const emitted: Array<{ message: string; code?: string }> = [];
    const spy = jest.spyOn(process, 'emitWarning').mockImplementation(((message: string, opts?: { code?: string }) => {
      emitted.push({ message, code: opts?.code });
    }) as typeof process.emitWarning);
    try {
      new Validations(true).doubleCount();
    } finally {
      spy.mockRestore();
    }
    expect(emitted).toEqual([expect.objectContaining({ code: 'ERR_LLMR_EXPRESS_DOUBLE_COUNT' })]);
  });
});
