import { RunnableLambda } from '@langchain/core/runnables';
import { z } from 'zod';
import { manualEngine } from '../test/support';
import { callOptionProblems, CALL_OPTION_NAMES, optionProblems, OPTION_NAMES, policyOf } from './checkOptions';

const { engine } = manualEngine({ trafficClasses: { nightly: { priority: 5 } } });
const echo = RunnableLambda.from(async (s: string) => s);
const problemsOf = (options: Record<string, unknown>) => optionProblems({ engine, route: 'chat', ...options });

describe('optionProblems', () => {
  it('accepts every option with a valid value, and undefined for any of them', () => {
    const valid = {
      engine,
      route: 'chat',
      targets: { long: echo, primary: () => echo },
      fallbacks: [echo],
      identity: { user: 'u1', team: 't', tenant: 'acme', environment: 'prod' },
      priority: 'live',
      batchPriority: 'nightly',
      dataClass: 'internal',
      output: z.object({ title: z.string() }),
      maxOutputTokens: 400,
      audience: 'customer',
      estimateInput: () => 12,
      maxConcurrency: 4,
      innerRetries: 'error',
      name: 'Summary',
    };
    expect(Object.keys(valid).sort()).toEqual([...OPTION_NAMES].sort());
    expect(optionProblems(valid)).toEqual([]);
    expect(problemsOf({ identity: () => ({ user: 'u' }), maxOutputTokens: 0, maxConcurrency: Infinity, innerRetries: 'ignore' })).toEqual([]);
    expect(optionProblems({ ...Object.fromEntries(OPTION_NAMES.map((k) => [k, undefined])), engine, route: 'chat' })).toEqual([]);
  });

  it('reports a missing route as required, naming the routes of the policy when the engine is one', () => {
    expect(optionProblems({ engine })).toEqual(["route: required (one of 'chat', 'solo')"]);
    expect(optionProblems({ engine, route: undefined })).toEqual(["route: required (one of 'chat', 'solo')"]);
    expect(optionProblems({ engine: 'engine' })[1]).toBe('route: required (the name of a route of the policy)');
    expect(problemsOf({ route: '' })).toEqual(["route: expected the name of a route of the policy (one of 'chat', 'solo'), got ''"]);
  });

  it('names unknown keys, with the closest known option or where a per-call option goes', () => {
    const [fallback, deadline, other] = problemsOf({ fallback: [echo], deadline: 5, retries: 3 });
    expect(fallback).toMatch(/^fallback: unknown option \(did you mean `fallbacks`\?\); known options: engine, route, /);
    expect(deadline).toBe('deadline: not an option of withResilience(); it is set per call: invoke(input, { resilience: { deadline } })');
    expect(other).toMatch(/^retries: unknown option; known options: /);
  });

  it('checks priority and batchPriority against the traffic classes of the policy', () => {
    expect(problemsOf({ priority: 'vip', batchPriority: 'bulk' })).toEqual([
      "priority: expected a traffic class of the policy (one of 'live', 'batch', 'experiment', 'nightly'), got 'vip'",
      "batchPriority: expected a traffic class of the policy (one of 'live', 'batch', 'experiment', 'nightly'), got 'bulk'",
    ]);
    expect(problemsOf({ priority: 'toString' })).toHaveLength(1);
  });

  it('reports an engine that is not one, and checks what it can without its policy', () => {
    const engineProblem = (got: string) => `engine: expected a Resilience engine (the result of createResilience(policy)), got ${got}`;
    expect(optionProblems({ route: 'chat', priority: 'vip' })).toEqual([engineProblem('undefined')]);
    expect(optionProblems({ engine: { execute: () => undefined }, route: 'chat', priority: 3 })).toEqual([
      engineProblem('an object without execute() and policy'),
      'priority: expected the name of a traffic class, got 3',
    ]);
    expect(optionProblems({ engine: 'engine', route: 'chat' })).toEqual([engineProblem("'engine'")]);
    expect(policyOf(engine)).toBe(engine.policy);
  });

  it('checks that some target of the policy is approved for the dataClass', () => {
    expect(problemsOf({ dataClass: 'phi' })).toEqual([
      "dataClass: no target of the policy is approved for 'phi' (list it in a target's `dataClasses`), so every call would fail",
    ]);
    expect(problemsOf({ dataClass: '' })).toEqual(["dataClass: expected the name of a data class (a string), got ''"]);
  });

  it('accepts an identity object of strings or a function, and never shows identity values', () => {
    expect(problemsOf({ identity: 'bob' })).toEqual([
      'identity: expected an object { user, team, tenant, environment } of strings, or a function (input, config) => identity, got a string',
    ]);
    expect(problemsOf({ identity: { user: 42, userId: 'u1', tenant: 'acme' } })).toEqual([
      'identity.user: expected a string, got 42',
      'identity.userId: not an identity field (expected user, team, tenant or environment)',
    ]);
    const shown = problemsOf({ identity: 'secret-a' }).concat(problemsOf({ identity: { user: 'secret-b', team: ['secret-c'] } }));
    expect(shown).toHaveLength(2);
    expect(shown.join('\n')).not.toMatch(/secret/);
  });

  it('refuses values of the wrong type or out of range, naming the option and what it expects', () => {
    expect(
      problemsOf({
        route: 42,
        targets: { long: 'gpt-4.1' },
        fallbacks: [echo, undefined],
        output: {},
        maxOutputTokens: -5,
        audience: 'everyone',
        estimateInput: 100,
        maxConcurrency: 2.5,
        innerRetries: 'fail',
        name: '',
      }),
    ).toEqual([
      "route: expected the name of a route of the policy (one of 'chat', 'solo'), got 42",
      "targets.long: expected a Runnable or a factory (target) => Runnable, got 'gpt-4.1'",
      'fallbacks[1]: expected a Runnable, got undefined',
      'output: expected a Standard Schema (e.g. a zod 4 schema; an object with `~standard.validate`), got an object',
      'maxOutputTokens: expected a finite number of tokens >= 0, got -5',
      "audience: expected 'internal' or 'customer', got 'everyone'",
      'estimateInput: expected a function (input) => { messages } | { prompt } | number, got 100',
      'maxConcurrency: expected a whole number >= 1 (or Infinity), got 2.5',
      "innerRetries: expected 'warn', 'error' or 'ignore', got 'fail'",
      "name: expected a non-empty string, got ''",
    ]);
  });

  it('refuses numbers that would switch limits off and containers of the wrong shape', () => {
    for (const bad of [NaN, Infinity, '400']) {
      expect(problemsOf({ maxOutputTokens: bad })).toEqual([`maxOutputTokens: expected a finite number of tokens >= 0, got ${typeof bad === 'string' ? `'${bad}'` : bad}`]);
    }
    for (const bad of [0, NaN, '4', -1]) expect(problemsOf({ maxConcurrency: bad })).toHaveLength(1);
    expect(problemsOf({ fallbacks: echo })).toEqual(['fallbacks: expected an array of runnables, got a Runnable']);
    expect(problemsOf({ targets: echo })).toEqual(['targets: expected an object of runnables per target id, e.g. { long: longChain }, got a Runnable']);
    expect(problemsOf({ targets: [echo] })).toEqual(['targets: expected an object of runnables per target id, e.g. { long: longChain }, got an array']);
  });
});

describe('callOptionProblems', () => {
  const policy = engine.policy;

  it('accepts every call option with a valid value, undefined for any of them, and no options', () => {
    const valid = {
      identity: { user: 'u1', team: 't', tenant: 'acme', environment: 'prod' },
      priority: 'nightly',
      dataClass: 'internal',
      requestId: 'req-1',
      deadline: 1_700_000_000_000,
      maxOutputTokens: 0,
      audience: 'internal',
    };
    expect(Object.keys(valid).sort()).toEqual([...CALL_OPTION_NAMES].sort());
    expect(callOptionProblems(valid, policy)).toEqual([]);
    expect(callOptionProblems(Object.fromEntries(CALL_OPTION_NAMES.map((k) => [k, undefined])), policy)).toEqual([]);
    expect(callOptionProblems(undefined, policy)).toEqual([]);
    expect(callOptionProblems({ identity: null }, policy)).toEqual([]);
  });

  it('names unknown keys with the closest call option, and options that belong to withResilience()', () => {
    const [typo, route, other] = callOptionProblems({ priorty: 'live', route: 'chat', retries: 2 }, policy);
    expect(typo).toMatch(/^resilience\.priorty: unknown call option \(did you mean `priority`\?\); known: identity, priority, dataClass, /);
    expect(route).toMatch(/^resilience\.route: unknown call option; it is an option of withResilience\(\), not of a call; known: /);
    expect(other).toMatch(/^resilience\.retries: unknown call option; known: /);
  });

  it('checks every value, describing identity values by type only', () => {
    expect(
      callOptionProblems(
        {
          identity: { user: { id: 'secret-user' }, org: 'x' },
          priority: 'vip',
          dataClass: 'phi',
          requestId: '',
          deadline: Number.NaN,
          maxOutputTokens: -1,
          audience: 'everyone',
        },
        policy,
      ),
    ).toEqual([
      'resilience.identity.user: expected a string, got an object',
      'resilience.identity.org: not an identity field (expected user, team, tenant or environment)',
      "resilience.priority: expected a traffic class of the policy (one of 'live', 'batch', 'experiment', 'nightly'), got 'vip'",
      "resilience.dataClass: no target of the policy is approved for 'phi' (list it in a target's `dataClasses`), so every call would fail",
      "resilience.maxOutputTokens: expected a finite number of tokens >= 0, got -1",
      "resilience.audience: expected 'internal' or 'customer', got 'everyone'",
      "resilience.requestId: expected a non-empty string, got ''",
      'resilience.deadline: expected an absolute time in epoch ms (a finite number), got NaN',
    ]);
    expect(callOptionProblems({ identity: () => ({ user: 'u' }) }, policy)).toEqual([
      'resilience.identity: expected an object { user, team, tenant, environment } of strings, got a function',
    ]);
    expect(callOptionProblems('live', policy)).toEqual([
      "resilience: expected an object of call options (identity, priority, dataClass, requestId, deadline, maxOutputTokens, audience), got 'live'",
    ]);
  });
});
