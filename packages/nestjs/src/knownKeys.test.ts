import { createResilience, definePolicy } from '@llm-resilience/core';
import { isPlainObject, shown, typeOf } from './describeValue';
import { engineProblem, isEngine } from './engineCheck';
import { closestKey, unknownKey } from './knownKeys';

describe('unknownKey', () => {
  it('finds the first key not known, with the closest known one', () => {
    expect(unknownKey({ engine: 1, limits: [] }, ['engine', 'limits'])).toBeUndefined();
    expect(unknownKey({ limts: [] }, ['engine', 'limits'])).toEqual({ key: 'limts', problem: "not an option (did you mean 'limits'?); known: engine, limits" });
    expect(unknownKey({ colour: 'red' }, ['engine'])).toEqual({ key: 'colour', problem: 'not an option; known: engine' });
    expect(closestKey('Identiy', ['identity', 'audience'])).toBe('identity');
    expect(closestKey('rotue', ['route'])).toBe('route'); // two letters swapped
  });
});

describe('typeOf and shown', () => {
  it('never serialise a value: BigInts and objects by type, options by short value', () => {
    expect([typeOf(10n), typeOf({}), typeOf([]), typeOf(null), typeOf(undefined), typeOf(Promise.resolve()), typeOf(() => 1)]).toEqual([
      'a bigint',
      'an object',
      'an array',
      'null',
      'undefined',
      'a Promise',
      'a function',
    ]);
    expect([shown(-1), shown(true), shown('3'), shown('x'.repeat(30)), shown(10n), shown({ key: 'sk-secret' })]).toEqual([
      '-1',
      'true',
      "'3'",
      'a string of 30 characters',
      'a bigint',
      'an object',
    ]);
    expect([isPlainObject({}), isPlainObject(Object.create(null)), isPlainObject([]), isPlainObject(new Map())]).toEqual([true, true, false, false]);
  });
});

describe('engineProblem', () => {
  it('accepts a real engine and says what a fake one lacks', () => {
    const engine = createResilience(definePolicy({ targets: { a: { provider: 'openai', model: 'm' } }, routes: { chat: { chain: ['a'] } } }));
    expect(isEngine(engine)).toBe(true);
    expect(engineProblem({ execute() {} })).toBe('an object without shutdown()');
    expect(engineProblem({})).toBe('an object without execute()');
    expect(engineProblem(undefined)).toBe('undefined');
    expect(engineProblem('engine')).toBe('a string');
  });
});
