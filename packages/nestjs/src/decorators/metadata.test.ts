import 'reflect-metadata';
import { Reflector } from '@nestjs/core';
import type { ExecutionContext } from '@nestjs/common';
import { ResilienceGuard } from '../http/ResilienceGuard';
import { ResilienceInterceptor } from '../http/ResilienceInterceptor';
import type { InboundLimitRule, RateLimitedOptions } from '../types';
import { classRateLimited, inboundRuleDeclarationsOf, mergeRateLimited, RATE_LIMITED_METADATA } from './metadata';
import { RateLimited } from './RateLimited';

describe('mergeRateLimited', () => {
  it('lets the method override the class field by field', () => {
    const key = (u: string) => u;
    expect(mergeRateLimited({ route: 'chat', priority: 'live', key }, { priority: 'batch' })).toEqual({ route: 'chat', priority: 'batch', key });
    expect(mergeRateLimited(undefined, { route: 'x' })).toEqual({ route: 'x' });
    expect(mergeRateLimited({ route: 'x' }, undefined)).toEqual({ route: 'x' });
    expect(mergeRateLimited(undefined, undefined)).toBeUndefined();
  });

  it('treats identity and key as one setting: a method that sets either replaces both of the class\'s', () => {
    const byTenant = (t: string) => ({ tenant: t });
    const byUser = (u: string) => u;
    const classWho = { route: 'chat', identity: byTenant, key: byUser };
    expect(mergeRateLimited(classWho, { key: byUser })).toEqual({ route: 'chat', key: byUser });
    expect(mergeRateLimited({ route: 'chat', key: byUser }, { identity: byTenant })).toEqual({ route: 'chat', identity: byTenant });
    // Same level: both kept, and identity wins when the request is built.
    expect(mergeRateLimited({ route: 'chat' }, { identity: byTenant, key: byUser })).toEqual({ route: 'chat', identity: byTenant, key: byUser });
    // A method that says nothing about who keeps the class's setting.
    expect(mergeRateLimited(classWho, { priority: 'batch' })).toEqual({ ...classWho, priority: 'batch' });
  });

  it('keeps the limits of both, a method rule replacing the class rule with its id', () => {
    const merged = mergeRateLimited(
      { limits: [{ id: 'u', scope: ['user'], limit: 10, window: '1m' }, { scope: ['team'], limit: 100, window: '1m' }] },
      { limits: [{ id: 'u', scope: ['user'], limit: 2, window: '1m' }] },
    );
    expect(merged?.limits).toEqual([
      { scope: ['team'], limit: 100, window: '1m' },
      { id: 'u', scope: ['user'], limit: 2, window: '1m' },
    ]);
    expect(mergeRateLimited({ limits: [{ scope: [], limit: 1, window: '1s' }] }, { route: 'r' })?.limits).toHaveLength(1);
  });
});

describe('inboundRuleDeclarationsOf', () => {
  // One array written once and used by two decorators: each declaration has its own.
  const shared: InboundLimitRule[] = [{ id: 'per-user', scope: ['user'], limit: 20, window: '1m' }];

  @RateLimited({ limits: shared })
  class ExportController {
    @RateLimited({ limits: [{ id: 'per-user', scope: ['user'], limit: 200, window: '1m' }] })
    bulk(): void {}
  }
  @RateLimited({ limits: shared })
  class ImportController {}

  const onClass = Reflect.getMetadata(RATE_LIMITED_METADATA, ExportController) as RateLimitedOptions;
  const onMethod = Reflect.getMetadata(RATE_LIMITED_METADATA, ExportController.prototype.bulk) as RateLimitedOptions;

  it('names the class or method whose @RateLimited declared a limits array, and its class', () => {
    expect(inboundRuleDeclarationsOf(onClass.limits!)).toEqual([
      { owner: 'ExportController', rules: onClass.limits, className: 'ExportController', defaultIds: [false] },
    ]);
    expect(inboundRuleDeclarationsOf(onMethod.limits!)).toEqual([
      { owner: 'ExportController.bulk', rules: onMethod.limits, className: 'ExportController', defaultIds: [false] },
    ]);
    const onOther = Reflect.getMetadata(RATE_LIMITED_METADATA, ImportController) as RateLimitedOptions;
    expect(inboundRuleDeclarationsOf(onOther.limits!)).toEqual([
      { owner: 'ImportController', rules: onOther.limits, className: 'ImportController', defaultIds: [false] },
    ]);
  });

  it('notes which rules got the default id of their declaration', () => {
    class ReportsController {
      @RateLimited({ limits: [{ scope: ['user'], limit: 5, window: '1m' }, { id: 'per-team', scope: ['team'], limit: 50, window: '1m' }] })
      get(): void {}
    }
    const limits = (Reflect.getMetadata(RATE_LIMITED_METADATA, ReportsController.prototype.get) as RateLimitedOptions).limits!;
    expect(limits.map((r) => r.id)).toEqual(['ReportsController.get:user:requests:1m', 'per-team']);
    expect(inboundRuleDeclarationsOf(limits)?.[0]?.defaultIds).toEqual([true, false]);
  });

  it('keeps both declarations, class then method, for the limits mergeRateLimited builds', () => {
    const merged = mergeRateLimited(onClass, onMethod)!;
    expect(merged.limits).toEqual(onMethod.limits);
    expect(inboundRuleDeclarationsOf(merged.limits!)?.map((d) => d.owner)).toEqual(['ExportController', 'ExportController.bulk']);
    // The options of one level alone are that level's.
    expect(inboundRuleDeclarationsOf(mergeRateLimited(onClass, { route: 'r' })!.limits!)?.map((d) => d.owner)).toEqual(['ExportController']);
  });

  it('knows nothing of limits built elsewhere', () => {
    expect(inboundRuleDeclarationsOf(shared)).toBeUndefined();
    expect(inboundRuleDeclarationsOf(mergeRateLimited({ limits: shared }, onMethod)!.limits!)).toBeUndefined();
  });
});

describe('classRateLimited', () => {
  @RateLimited({ route: 'chat', priority: 'live', limits: [{ id: 'per-user', scope: ['user'], limit: 10, window: '1m' }] })
  class Base {
    @RateLimited({ maxOutputTokens: 5 })
    async ask(): Promise<string> {
      return 'x';
    }
  }
  @RateLimited({ priority: 'batch', limits: [{ id: 'per-team', scope: ['team'], limit: 100, window: '1m' }] })
  class Sub extends Base {}
  class Leaf extends Sub {}

  it('merges the class options along the prototype chain, base first, a subclass winning field by field', () => {
    expect(classRateLimited(Base)).toBe(Reflect.getOwnMetadata(RATE_LIMITED_METADATA, Base));
    const sub = classRateLimited(Sub);
    expect(sub).toMatchObject({ route: 'chat', priority: 'batch' });
    expect(sub?.limits?.map((r) => r.id)).toEqual(['per-user', 'per-team']);
    // Each rule keeps the class that declared it (its buckets).
    expect(inboundRuleDeclarationsOf(sub!.limits!)?.map((d) => d.owner)).toEqual(['Base', 'Sub']);
    expect(classRateLimited(Leaf)).toEqual(sub);
    expect(classRateLimited(class Plain {})).toBeUndefined();
    expect(classRateLimited(undefined)).toBeUndefined();
  });

  it('is what ResilienceGuard and ResilienceInterceptor read for a handler of a subclass', () => {
    class ExposedGuard extends ResilienceGuard {
      options$(context: ExecutionContext) {
        return this.getOptions(context);
      }
    }
    class ExposedInterceptor extends ResilienceInterceptor {
      options$(context: ExecutionContext) {
        return this.getOptions(context);
      }
    }
    const context = { getClass: () => Leaf, getHandler: () => Leaf.prototype.ask } as unknown as ExecutionContext;
    const expected = mergeRateLimited(classRateLimited(Leaf), { maxOutputTokens: 5 });
    expect(new ExposedGuard({} as never, new Reflector(), {}).options$(context)).toEqual(expected);
    expect(new ExposedInterceptor({} as never, new Reflector(), {}).options$(context)).toEqual(expected);
    expect(expected).toMatchObject({ route: 'chat', priority: 'batch', maxOutputTokens: 5 });
  });
});
