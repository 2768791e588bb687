import 'reflect-metadata';
import type { LimitRule } from '@llm-resilience/core';
import { Get } from '@nestjs/common';
import { mergeRateLimited, RATE_LIMITED_METADATA } from '../decorators/metadata';
import { RateLimited } from '../decorators/RateLimited';
import { NestConfigError } from '../NestConfigError';
import type { RateLimitedOptions } from '../types';
import { handlerInboundRules, InboundRuleIds, inboundRuleIdsOf, recordDeclaredInboundRules } from './inboundRuleIds';
import { toInboundLimitRules } from './inboundRules';

const rule: LimitRule = { id: 'nest-inbound:search', scope: ['user'], metric: 'requests', limit: 2, windowMs: 60_000, onFailure: 'keep' };

function conflict(run: () => void): NestConfigError {
  try {
    run();
  } catch (err) {
    return err as NestConfigError;
  }
  throw new Error('no conflict');
}

describe('InboundRuleIds', () => {
  it('accepts one id declared twice with one definition (a burst left to its default equals the limit)', () => {
    const ids = new InboundRuleIds();
    ids.add(rule, 'A: @RateLimited limits[0]');
    expect(() => ids.add({ ...rule, burst: 2 }, 'B: @RateLimited limits[0]')).not.toThrow();
    expect(() => ids.add({ ...rule, match: {} }, 'C: @RateLimited limits[0]')).not.toThrow();
  });

  it('refuses one id with two definitions, naming both places and only the fields that differ', () => {
    const ids = new InboundRuleIds();
    ids.add(rule, 'A: @RateLimited limits[0]');
    const err = conflict(() => ids.add({ ...rule, limit: 5, windowMs: 3_600_000 }, 'B.get: @RateLimited limits[1]'));
    expect(err).toBeInstanceOf(NestConfigError);
    expect(err.code).toBe('ERR_LLMR_NEST_CONFLICTING_LIMIT_ID');
    expect(err.message).toMatch(
      /^B\.get: @RateLimited limits\[1\] declares inbound limit id 'search' with limit 5, window 1h, but A: @RateLimited limits\[0\] declares it with limit 2, window 1m\. /,
    );
  });

  it.each<[Partial<LimitRule>, string, string]>([
    [{ scope: ['tenant'] }, 'scope [tenant]', 'scope [user]'],
    [{ burst: 1 }, 'burst 1', 'burst 2'],
    [{ match: { environment: 'prod', tenant: 'acme' } }, "match { environment: 'prod', tenant: 'acme' }", 'no match'],
    [{ windowMs: 1500 }, 'window 1500 ms', 'window 1m'],
  ])('tells %j apart', (change, said, before) => {
    const ids = new InboundRuleIds();
    ids.add(rule, 'A');
    expect(conflict(() => ids.add({ ...rule, ...change }, 'B')).message).toContain(`with ${said}, but A declares it with ${before}.`);
  });

  it('keeps the ids of each application apart', () => {
    const app1 = {};
    const app2 = {};
    inboundRuleIdsOf(app1).add(rule, 'A');
    expect(inboundRuleIdsOf(app1)).toBe(inboundRuleIdsOf(app1));
    expect(() => inboundRuleIdsOf(app2).add({ ...rule, limit: 9 }, 'B')).not.toThrow();
  });
});

describe('handlerInboundRules', () => {
  const module = toInboundLimitRules([{ id: 'per-user', scope: ['user'], limit: 2, window: '1m' }, { scope: [], limit: 100, window: '1m' }], 'ResilienceModule');

  @RateLimited({ limits: [{ id: 'per-user', scope: ['user'], limit: 20, window: '1m' }, { scope: ['team'], limit: 50, window: '1h' }] })
  class ReportsController {
    @RateLimited({ limits: [{ id: 'per-user', scope: ['user'], limit: 200, window: '1m' }] })
    bulk(): void {}
    @RateLimited({ limits: [{ id: 'per-user', scope: ['user'], limit: 20, window: 60_000 }] })
    same(): void {}
    plain(): void {}
  }

  /** The rules of a handler of ReportsController, as the guard's default getOptions merges them. */
  function rulesOf(method: 'bulk' | 'same' | 'plain'): { id: string; limit: number; where: string }[] {
    const options = mergeRateLimited(
      Reflect.getMetadata(RATE_LIMITED_METADATA, ReportsController) as RateLimitedOptions,
      Reflect.getMetadata(RATE_LIMITED_METADATA, ReportsController.prototype[method]) as RateLimitedOptions | undefined,
    );
    return handlerInboundRules(module, options?.limits, `ReportsController.${method}`).map(({ rule, where }) => ({ id: rule.id, limit: rule.limit, where }));
  }

  it('without @RateLimited limits: the module rules', () => {
    expect(handlerInboundRules(module, undefined, 'C.get').map((r) => r.rule)).toEqual(module);
  });

  it('a class rule with a different definition replaces the module rule of its id, in a bucket of the class', () => {
    expect(rulesOf('plain')).toEqual([
      { id: 'nest-inbound:global:requests:1m', limit: 100, where: 'ResilienceModule limits[1]' },
      { id: 'nest-inbound@ReportsController:per-user', limit: 20, where: 'ReportsController: @RateLimited limits[0]' },
      { id: 'nest-inbound:ReportsController:team:requests:1h', limit: 50, where: 'ReportsController: @RateLimited limits[1]' },
    ]);
  });

  it("a method rule with a different definition replaces the class's, in a bucket of the method", () => {
    expect(rulesOf('bulk')).toEqual([
      { id: 'nest-inbound:global:requests:1m', limit: 100, where: 'ResilienceModule limits[1]' },
      { id: 'nest-inbound:ReportsController:team:requests:1h', limit: 50, where: 'ReportsController: @RateLimited limits[1]' },
      { id: 'nest-inbound@ReportsController.bulk:per-user', limit: 200, where: 'ReportsController.bulk: @RateLimited limits[0]' },
    ]);
  });

  it('a rule with the definition of the one it replaces is that rule: its bucket', () => {
    expect(rulesOf('same').find((r) => r.limit === 20)?.id).toBe('nest-inbound@ReportsController:per-user');
    const sameAsModule = handlerInboundRules(module, [{ id: 'per-user', scope: ['user'], limit: 2, window: 60_000, burst: 2 }], 'C.get');
    expect(sameAsModule.map((r) => r.rule.id)).toEqual(['nest-inbound:global:requests:1m', 'nest-inbound:per-user']);
  });

  it('limits without declarations (an overridden getOptions) are declared by the handler, default ids included', () => {
    const rules = handlerInboundRules(module, [{ id: 'per-user', scope: ['user'], limit: 5, window: '1m' }, { scope: ['user'], limit: 1, window: '1s' }], 'SearchController.get');
    expect(rules.map((r) => [r.rule.id, r.where])).toEqual([
      ['nest-inbound:global:requests:1m', 'ResilienceModule limits[1]'],
      ['nest-inbound@SearchController.get:per-user', 'SearchController.get: @RateLimited limits[0]'],
      ['nest-inbound:SearchController.get:user:requests:1s', 'SearchController.get: @RateLimited limits[1]'],
    ]);
  });
});

describe('recordDeclaredInboundRules', () => {
  @RateLimited({ limits: [{ id: 'search', scope: ['user'], limit: 2, window: '1m' }] })
  class BaseController {
    @RateLimited({ limits: [{ id: 'export', scope: ['user'], limit: 1, window: '1m' }] })
    @Get('export')
    export(): void {}
  }
  class DerivedController extends BaseController {}

  it("reads the rules of every route handler as the guard does: module limits, the class's (inherited too), the method's", () => {
    const ids = new InboundRuleIds();
    recordDeclaredInboundRules(ids, [{ scope: [], limit: 100, window: '1m' }], [DerivedController]);
    expect(conflict(() => ids.add({ ...rule, limit: 3 }, 'X')).message).toContain('but BaseController: @RateLimited limits[0] declares it with limit 2');
    expect(conflict(() => ids.add({ ...rule, id: 'nest-inbound:export' }, 'X')).message).toContain('but BaseController.export: @RateLimited limits[0] declares it with limit 1');
    expect(conflict(() => ids.add({ ...rule, id: 'nest-inbound:global:requests:1m', scope: [] }, 'X')).message).toContain(
      'but ResilienceModule limits[0] declares it with limit 100',
    );
  });

  it('throws at a peer declaring an id with another definition', () => {
    @RateLimited({ limits: [{ id: 'search', scope: ['user'], limit: 20, window: '1m' }] })
    class OtherController {
      @Get() get(): void {}
    }
    expect(() => recordDeclaredInboundRules(new InboundRuleIds(), undefined, [BaseController, OtherController])).toThrow(
      "OtherController: @RateLimited limits[0] declares inbound limit id 'search' with limit 20, but BaseController: @RateLimited limits[0] declares it with limit 2.",
    );
  });

  it('accepts overrides: a method over its class, a class over the module, two controllers over one module rule', () => {
    @RateLimited({ limits: [{ id: 'search', scope: ['user'], limit: 20, window: '1m' }] })
    class LooseController {
      @RateLimited({ limits: [{ id: 'search', scope: ['user'], limit: 200, window: '1m' }] })
      @Get('bulk')
      bulk(): void {}
      @Get() get(): void {}
    }
    @RateLimited({ limits: [{ id: 'search', scope: ['user'], limit: 30, window: '1m' }] })
    class OtherController {
      @Get() get(): void {}
    }
    const ids = new InboundRuleIds();
    expect(() => recordDeclaredInboundRules(ids, [{ id: 'search', scope: ['user'], limit: 2, window: '1m' }], [BaseController, LooseController, OtherController])).not.toThrow();
    expect(conflict(() => ids.add({ ...rule, id: 'nest-inbound@LooseController.bulk:search' }, 'X')).message).toContain(
      "X declares inbound limit id 'search' (the bucket of its override on LooseController.bulk) with limit 2, but LooseController.bulk: @RateLimited limits[0] declares it with limit 200.",
    );
  });

  it('ignores what is not a class, a class listed twice, and the rules of methods that are not routes', () => {
    expect(() => recordDeclaredInboundRules(new InboundRuleIds(), undefined, [undefined, null, BaseController, BaseController, DerivedController])).not.toThrow();
    class ToolsController {
      /** Not a route: the guard never counts its rules, so its 'export' is no peer of BaseController.export's. */
      @RateLimited({ limits: [{ id: 'export', scope: ['user'], limit: 7, window: '1m' }] })
      helper(): void {}
      @Get() get(): void {}
    }
    expect(() => recordDeclaredInboundRules(new InboundRuleIds(), undefined, [BaseController, ToolsController])).not.toThrow();
    Get('helper')(ToolsController.prototype, 'helper', Object.getOwnPropertyDescriptor(ToolsController.prototype, 'helper')!);
    expect(() => recordDeclaredInboundRules(new InboundRuleIds(), undefined, [BaseController, ToolsController])).toThrow(
      "ToolsController.helper: @RateLimited limits[0] declares inbound limit id 'export' with limit 7, but BaseController.export: @RateLimited limits[0] declares it with limit 1.",
    );
  });
});
