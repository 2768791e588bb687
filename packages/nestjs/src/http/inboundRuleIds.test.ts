import 'reflect-metadata';
import type { LimitRule } from '@llm-resilience/core';
import { Controller, Get, type ControllerOptions, type Type } from '@nestjs/common';
import { mergeRateLimited, RATE_LIMITED_METADATA } from '../decorators/metadata';
import { RateLimited } from '../decorators/RateLimited';
import { NestConfigError } from '../NestConfigError';
import type { InboundLimitRule, RateLimitedOptions } from '../types';
import { DeclarationNames, handlerInboundRules, InboundRuleIds, inboundRuleIdsOf, recordDeclaredInboundRules } from './inboundRuleIds';
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

  it('names the declaring class as the application does: default ids and override buckets', () => {
    const names = new DeclarationNames();
    names.qualify(ReportsController, '/v2/reports');
    const options = mergeRateLimited(
      Reflect.getMetadata(RATE_LIMITED_METADATA, ReportsController) as RateLimitedOptions,
      Reflect.getMetadata(RATE_LIMITED_METADATA, ReportsController.prototype.bulk) as RateLimitedOptions,
    );
    expect(handlerInboundRules(module, options?.limits, 'ReportsController(/v2/reports).bulk', names).map(({ rule, where, namedAfter }) => [rule.id, where, namedAfter])).toEqual([
      ['nest-inbound:global:requests:1m', 'ResilienceModule limits[1]', undefined],
      ['nest-inbound:ReportsController(/v2/reports):team:requests:1h', 'ReportsController(/v2/reports): @RateLimited limits[1]', ReportsController],
      ['nest-inbound@ReportsController(/v2/reports).bulk:per-user', 'ReportsController(/v2/reports).bulk: @RateLimited limits[0]', ReportsController],
    ]);
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

describe('DeclarationNames', () => {
  it('names a class by its name, and by its name and route once qualified', () => {
    class ExportController {}
    const names = new DeclarationNames();
    expect(names.of(ExportController, 'ExportController')).toBe('ExportController');
    expect(names.of(undefined, 'C')).toBe('C');
    names.qualify(ExportController, '/v1/export');
    expect(names.of(ExportController, 'ExportController')).toBe('ExportController(/v1/export)');
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
  const perUser: InboundLimitRule[] = [{ scope: ['user'], limit: 2, window: '1m' }];

  function storeIds(ids: InboundRuleIds, cls: Type, moduleRules: LimitRule[] = []): string[] {
    const options = Reflect.getMetadata(RATE_LIMITED_METADATA, cls) as RateLimitedOptions;
    return handlerInboundRules(moduleRules, options.limits, `${ids.names.of(cls, cls.name)}.get`, ids.names).map((r) => r.rule.id);
  }

  it('names each by its route, so their default ids count apart', () => {
    const v1 = exportController('v1/export', perUser);
    const v2 = exportController('/v2/export/', [{ scope: ['user'], limit: 5, window: '1m' }]);
    const ids = new InboundRuleIds();
    // Different limits under what would be one default id: no conflict once named apart.
    expect(() => recordDeclaredInboundRules(ids, undefined, [v1, v2])).not.toThrow();
    expect(storeIds(ids, v1)).toEqual(['nest-inbound:ExportController(/v1/export):user:requests:1m']);
    expect(storeIds(ids, v2)).toEqual(['nest-inbound:ExportController(/v2/export):user:requests:1m']);
  });

  it('names the override buckets of each apart', () => {
    const override: InboundLimitRule[] = [{ id: 'per-user', scope: ['user'], limit: 20, window: '1m' }];
    const a = exportController('a', override);
    const b = exportController('b', override);
    const ids = new InboundRuleIds();
    const moduleLimits: InboundLimitRule[] = [{ id: 'per-user', scope: ['user'], limit: 2, window: '1m' }];
    recordDeclaredInboundRules(ids, moduleLimits, [a, b]);
    const moduleRules = toInboundLimitRules(moduleLimits, 'ResilienceModule');
    expect(storeIds(ids, a, moduleRules)).toEqual(['nest-inbound@ExportController(/a):per-user']);
    expect(storeIds(ids, b, moduleRules)).toEqual(['nest-inbound@ExportController(/b):per-user']);
  });

  it('adds the host and the version a controller declares, and the module of controllers at one route', () => {
    const hosted = exportController({ path: 'export', host: 'admin.example.com' }, perUser);
    const v2 = exportController({ path: 'export', version: ['2', '3'] }, perUser);
    const inA = exportController('export', perUser);
    const inB = exportController('export', perUser);
    const modules = new Map<Function, string>([
      [inA, 'AModule'],
      [inB, 'BModule'],
    ]);
    const ids = new InboundRuleIds();
    recordDeclaredInboundRules(ids, undefined, [hosted, v2, inA, inB], (cls) => modules.get(cls));
    expect([hosted, v2, inA, inB].map((cls) => ids.names.of(cls, 'ExportController'))).toEqual([
      'ExportController(admin.example.com/export)',
      'ExportController(/export v2,3)',
      'ExportController(/export in AModule)',
      'ExportController(/export in BModule)',
    ]);
  });

  it('leaves a class alone when no other class has its name, and one class serving two controllers (an inherited route) is one declaration', () => {
    class ExportBase {
      @RateLimited({ limits: perUser })
      @Get('x')
      x(): void {}
    }
    @Controller('a')
    class A extends ExportBase {}
    @Controller('b')
    class B extends ExportBase {}
    const single = exportController('export', perUser);
    const ids = new InboundRuleIds();
    recordDeclaredInboundRules(ids, undefined, [A, B, single]);
    expect(ids.names.of(single, 'ExportController')).toBe('ExportController');
    expect(ids.names.of(ExportBase, 'ExportBase')).toBe('ExportBase');
  });

  it('names controllers apart whose handlers count under their route without a route name', () => {
    const plain = (path: string): Type => {
      @Controller(path)
      class ExportController {
        @Get() get(): void {}
      }
      return ExportController;
    };
    const [a, b] = [plain('a'), plain('b')];
    const ids = new InboundRuleIds();
    recordDeclaredInboundRules(ids, [{ scope: ['route'], limit: 10, window: '1m' }], [a, b]);
    expect(ids.names.of(a, a.name)).toBe('ExportController(/a)');
    // Without rules keyed by route, their names are in no store key: left alone.
    const other = new InboundRuleIds();
    recordDeclaredInboundRules(other, [{ scope: ['user'], limit: 10, window: '1m' }], [plain('a'), plain('b')]);
    expect(other.names.of(a, a.name)).toBe('ExportController');
  });

  it('stops with ERR_LLMR_NEST_AMBIGUOUS_CLASS_NAME when neither route nor module tells them apart', () => {
    const a = exportController('export', perUser);
    const b = exportController('export', perUser);
    const err = conflict(() => recordDeclaredInboundRules(new InboundRuleIds(), undefined, [a, b], () => 'ApiModule'));
    expect(err).toBeInstanceOf(NestConfigError);
    expect(err.code).toBe('ERR_LLMR_NEST_AMBIGUOUS_CLASS_NAME');
    expect(err.message).toMatch(
      /^Several classes named ExportController \(a controller at \/export in ApiModule; a controller at \/export in ApiModule\) declare inbound limits whose buckets are named after their class .* Rename one of the classes \(e\.g\. V2ExportController\), or declare the controllers at different paths\./,
    );
  });

  it('stops when one of them is not a controller (a base class made by a factory)', () => {
    const base = (): Type => {
      class ExportBase {
        @RateLimited({ limits: perUser })
        @Get('x')
        x(): void {}
      }
      return ExportBase;
    };
    const [baseA, baseB] = [base(), base()];
    @Controller('a')
    class A extends (baseA as new () => object) {}
    @Controller('b')
    class B extends (baseB as new () => object) {}
    const err = conflict(() => recordDeclaredInboundRules(new InboundRuleIds(), undefined, [A, B]));
    expect(err.code).toBe('ERR_LLMR_NEST_AMBIGUOUS_CLASS_NAME');
    expect(err.message).toContain('Several classes named ExportBase (a class that is not a controller; a class that is not a controller)');
  });
});
