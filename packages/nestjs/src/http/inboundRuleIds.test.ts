import 'reflect-metadata';
import type { LimitRule } from '@llm-resilience/core';
import { Controller, Get, type ControllerOptions, type Type } from '@nestjs/common';
import { classRateLimited, mergeRateLimited, RATE_LIMITED_METADATA } from '../decorators/metadata';
import { RateLimited } from '../decorators/RateLimited';
import { NestConfigError } from '../NestConfigError';
import type { InboundLimitRule, RateLimitedOptions } from '../types';
import { handlerInboundRules, InboundRuleIds, inboundRuleIdsOf, recordDeclaredInboundRules } from './inboundRuleIds';
import { overridingRuleId, toInboundLimitRules } from './inboundRules';

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
      { id: 'nest-inbound@ReportsController~user,20/60000ms:per-user', limit: 20, where: 'ReportsController: @RateLimited limits[0]' },
      { id: 'nest-inbound:ReportsController:team:requests:1h', limit: 50, where: 'ReportsController: @RateLimited limits[1]' },
    ]);
  });

  it("a method rule with a different definition replaces the class's, in a bucket of the method", () => {
    expect(rulesOf('bulk')).toEqual([
      { id: 'nest-inbound:global:requests:1m', limit: 100, where: 'ResilienceModule limits[1]' },
      { id: 'nest-inbound:ReportsController:team:requests:1h', limit: 50, where: 'ReportsController: @RateLimited limits[1]' },
      { id: 'nest-inbound@ReportsController.bulk~user,200/60000ms:per-user', limit: 200, where: 'ReportsController.bulk: @RateLimited limits[0]' },
    ]);
  });

  it('a rule with the definition of the one it replaces is that rule: its bucket', () => {
    expect(rulesOf('same').find((r) => r.limit === 20)?.id).toBe('nest-inbound@ReportsController~user,20/60000ms:per-user');
    const sameAsModule = handlerInboundRules(module, [{ id: 'per-user', scope: ['user'], limit: 2, window: 60_000, burst: 2 }], 'C.get');
    expect(sameAsModule.map((r) => r.rule.id)).toEqual(['nest-inbound:global:requests:1m', 'nest-inbound:per-user']);
  });

  it('notes the class whose default id a rule without id counts under', () => {
    const options = mergeRateLimited(
      Reflect.getMetadata(RATE_LIMITED_METADATA, ReportsController) as RateLimitedOptions,
      Reflect.getMetadata(RATE_LIMITED_METADATA, ReportsController.prototype.bulk) as RateLimitedOptions,
    );
    expect(handlerInboundRules(module, options?.limits, 'ReportsController.bulk').map(({ rule, defaultIdOf }) => [rule.id, defaultIdOf])).toEqual([
      ['nest-inbound:global:requests:1m', undefined],
      ['nest-inbound:ReportsController:team:requests:1h', 'ReportsController'],
      ['nest-inbound@ReportsController.bulk~user,200/60000ms:per-user', undefined],
    ]);
  });

  it('limits without declarations (an overridden getOptions) are declared by the handler, default ids included', () => {
    const rules = handlerInboundRules(module, [{ id: 'per-user', scope: ['user'], limit: 5, window: '1m' }, { scope: ['user'], limit: 1, window: '1s' }], 'SearchController.get');
    expect(rules.map((r) => [r.rule.id, r.where])).toEqual([
      ['nest-inbound:global:requests:1m', 'ResilienceModule limits[1]'],
      ['nest-inbound@SearchController.get~user,5/60000ms:per-user', 'SearchController.get: @RateLimited limits[0]'],
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

  it("counts a subclass's own class rules together with the ones it inherits, each in the buckets of its declaring class", () => {
    @RateLimited({ limits: [{ id: 'bulk', scope: ['user'], limit: 5, window: '1m' }] })
    class BulkController extends BaseController {}
    const ids = new InboundRuleIds();
    recordDeclaredInboundRules(ids, undefined, [BulkController]);
    expect(conflict(() => ids.add({ ...rule, limit: 3 }, 'X')).message).toContain('but BaseController: @RateLimited limits[0] declares it with limit 2');
    expect(conflict(() => ids.add({ ...rule, id: 'nest-inbound:bulk' }, 'X')).message).toContain('but BulkController: @RateLimited limits[0] declares it with limit 5');
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
    expect(conflict(() => ids.add({ ...rule, id: overridingRuleId('search', 'LooseController.bulk', { ...rule, limit: 200 }) }, 'X')).message).toContain(
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

describe('recordDeclaredInboundRules: classes of one name', () => {
  /** A controller factory: every call makes another class named ExportController. */
  function exportController(path: string | ControllerOptions, limits: InboundLimitRule[]): Type {
    const controller = typeof path === 'string' ? Controller(path) : Controller(path);
    @RateLimited({ limits })
    @controller
    class ExportController {
      @Get() get(): void {}
    }
    return ExportController;
  }
  const perUser = (limit: number): InboundLimitRule[] => [{ scope: ['user'], limit, window: '1m' }];

  function storeIds(cls: Type, moduleRules: LimitRule[] = []): string[] {
    const options = Reflect.getMetadata(RATE_LIMITED_METADATA, cls) as RateLimitedOptions;
    return handlerInboundRules(moduleRules, options.limits, `${cls.name}.get`).map((r) => r.rule.id);
  }

  it('share their default ids (the class name only), and start when those rules agree', () => {
    const v1 = exportController('v1/export', perUser(2));
    const v2 = exportController({ path: 'export', version: '2' }, perUser(2));
    expect(() => recordDeclaredInboundRules(new InboundRuleIds(), undefined, [v1, v2])).not.toThrow();
    expect(storeIds(v1)).toEqual(['nest-inbound:ExportController:user:requests:1m']);
    expect(storeIds(v2)).toEqual(storeIds(v1));
  });

  it('stop when rules without id under one default id differ, saying the classes share a name and explicit ids fix it', () => {
    const v1 = exportController('v1/export', perUser(2));
    const v2 = exportController('v2/export', perUser(5));
    const err = conflict(() => recordDeclaredInboundRules(new InboundRuleIds(), undefined, [v1, v2]));
    expect(err.code).toBe('ERR_LLMR_NEST_CONFLICTING_LIMIT_ID');
    expect(err.message).toBe(
      "ExportController: @RateLimited limits[0] declares inbound limit id 'ExportController:user:requests:1m' with limit 5, " +
        'but ExportController: @RateLimited limits[0] declares it with limit 2. ' +
        "Both are rules written without an id, in two different classes named ExportController: a rule without id gets the default id of its class's name, " +
        'so both count in one bucket of the store, which cannot have two sizes. ' +
        'Give these rules explicit ids (different ones to count the classes apart, or one id with one definition to share a bucket), or rename one of the classes. ' +
        'See docs/nestjs.md#err_llmr_nest_conflicting_limit_id.',
    );
    // Explicit ids count them apart.
    const a = exportController('v1/export', [{ id: 'export-v1', ...perUser(2)[0]! }]);
    const b = exportController('v2/export', [{ id: 'export-v2', ...perUser(5)[0]! }]);
    expect(() => recordDeclaredInboundRules(new InboundRuleIds(), undefined, [a, b])).not.toThrow();
  });

  it('say "different ids" when one of the two rules has its id written out', () => {
    const v1 = exportController('v1/export', perUser(2));
    const written = exportController('other', [{ id: 'ExportController:user:requests:1m', ...perUser(5)[0]! }]);
    const err = conflict(() => recordDeclaredInboundRules(new InboundRuleIds(), undefined, [v1, written]));
    expect(err.message).toContain('give them the same definition to share the bucket, or different ids to count them apart');
    expect(err.message).not.toContain('two different classes');
  });

  it('override one module rule in one bucket per definition: the same definition shares it, another counts apart', () => {
    const moduleLimits: InboundLimitRule[] = [{ id: 'per-user', scope: ['user'], limit: 2, window: '1m' }];
    const moduleRules = toInboundLimitRules(moduleLimits, 'ResilienceModule');
    const a = exportController('a', [{ id: 'per-user', scope: ['user'], limit: 20, window: '1m' }]);
    const b = exportController('b', [{ id: 'per-user', scope: ['user'], limit: 20, window: 60_000 }]);
    const c = exportController('c', [{ id: 'per-user', scope: ['user'], limit: 30, window: '1m' }]);
    expect(() => recordDeclaredInboundRules(new InboundRuleIds(), moduleLimits, [a, b, c])).not.toThrow();
    expect(storeIds(a, moduleRules)).toEqual(['nest-inbound@ExportController~user,20/60000ms:per-user']);
    expect(storeIds(b, moduleRules)).toEqual(storeIds(a, moduleRules));
    expect(storeIds(c, moduleRules)).toEqual(['nest-inbound@ExportController~user,30/60000ms:per-user']);
  });

  it('start when a controller extends a base class of its own name whose rules have other store ids', () => {
    const lib = (() => {
      class ExportController {
        @RateLimited({ limits: perUser(1) })
        @Get('list')
        list(): void {}
      }
      return ExportController;
    })();
    @RateLimited({ limits: perUser(10) })
    @Controller('export')
    class ExportController extends lib {}
    expect(() => recordDeclaredInboundRules(new InboundRuleIds(), undefined, [ExportController])).not.toThrow();
    const options = mergeRateLimited(
      classRateLimited(ExportController),
      Reflect.getMetadata(RATE_LIMITED_METADATA, ExportController.prototype.list) as RateLimitedOptions,
    );
    expect(handlerInboundRules([], options?.limits, 'ExportController.list').map((r) => [r.rule.id, r.rule.limit])).toEqual([
      ['nest-inbound:ExportController:user:requests:1m', 10],
      ['nest-inbound:ExportController.list:user:requests:1m', 1],
    ]);
  });

  it('keep the store ids of a class when rules are added elsewhere (a module rule keyed by route)', () => {
    const v1 = exportController('v1/export', perUser(5));
    const v2 = exportController('v2/export', []);
    const before = new InboundRuleIds();
    recordDeclaredInboundRules(before, [], [v1, v2]);
    const routeRule: InboundLimitRule[] = [{ scope: ['route'], limit: 1000, window: '1m' }];
    recordDeclaredInboundRules(new InboundRuleIds(), routeRule, [v1, v2]);
    expect(storeIds(v1, toInboundLimitRules(routeRule, 'ResilienceModule'))).toEqual(['nest-inbound:route:requests:1m', ...storeIds(v1)]);
  });
});
