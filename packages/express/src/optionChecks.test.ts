import { ExpressConfigError } from './ExpressConfigError';
import { checkAudience, checkBooleans, checkFunctions, checkLogger, hasRoute, invalidOption, shown, typeOf } from './optionChecks';

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ExpressConfigError);
    return (e as ExpressConfigError).message;
  }
  throw new Error('expected an ExpressConfigError');
};

describe('option checks', () => {
  it('names types without contents, and shows only values that are never secret', () => {
    expect([null, undefined, [], {}, 'sk-x', 1, true, () => 1].map(typeOf)).toEqual([
      'null',
      'undefined',
      'an array',
      'an object',
      'a string',
      'a number',
      'a boolean',
      'a function',
    ]);
    expect(shown(-1)).toBe('-1');
    expect(shown('everyone')).toBe("'everyone'");
    expect(shown('sk-proj-0123456789abcdefghij')).toBe('a string of 28 characters');
    expect(shown({ key: 'sk-x' })).toBe('an object');
  });

  it('builds errors with the option path, the expectation and a help link', () => {
    const e = invalidOption('resilience()', 'estimate', 'a function', 'a number');
    expect(e.code).toBe('ERR_LLMR_EXPRESS_INVALID_OPTION');
    expect(e.message).toBe('resilience(): estimate must be a function, got a number. See docs/express.md#err_llmr_express_invalid_option.');
  });

  it('leaves unset options to their defaults and refuses wrong types', () => {
    expect(() => checkFunctions('x()', { a: undefined, b: () => 1 }, { a: '()', b: '()' })).not.toThrow();
    expect(messageOf(() => checkFunctions('x()', { a: null }, { a: '(req) => string' }))).toContain('x(): a must be a function (req) => string, got null.');
    expect(() => checkBooleans('x()', { f: false }, ['f', 'g'])).not.toThrow();
    expect(messageOf(() => checkBooleans('x()', { f: 1 }, ['f']))).toContain('f must be true or false, got 1.');
    expect(() => checkAudience('x()', 'internal', false)).not.toThrow();
    expect(() => checkAudience('x()', () => 'customer', true)).not.toThrow();
    expect(messageOf(() => checkAudience('x()', () => 'customer', false))).toContain("audience must be 'customer' or 'internal', got a function.");
    expect(() => checkLogger('x()', { warn: () => undefined }, 'warn', true)).not.toThrow();
    expect(() => checkLogger('x()', {}, 'warn', false)).not.toThrow();
    expect(messageOf(() => checkLogger('x()', {}, 'warn', true))).toContain('x(): logger must be an object with a warn(message, fields) function, got an object without warn.');
    expect(messageOf(() => checkLogger('x()', console.warn, 'warn', false))).toContain('logger must be an object with a warn(message, fields) function, got a function.');
  });

  it('finds only a policy’s own routes', () => {
    const routes = { chat: {} };
    expect([hasRoute(routes, 'chat'), hasRoute(routes, 'toString'), hasRoute(routes, '__proto__'), hasRoute(routes, 1)]).toEqual([true, false, false, false]);
  });
});
