import { ConsoleLogger, Logger } from '@nestjs/common';
import { identityScopedRuleIds, isEmptyIdentity, shouldWarnUndefinedIdentity, UNDEFINED_IDENTITY_CODE, warnUndefinedIdentity } from './undefinedIdentity';

describe('isEmptyIdentity', () => {
  it('is true only when no dimension has a value', () => {
    expect(isEmptyIdentity(undefined)).toBe(true);
    expect(isEmptyIdentity(null)).toBe(true);
    expect(isEmptyIdentity({})).toBe(true);
    expect(isEmptyIdentity({ user: '' })).toBe(true);
    expect(isEmptyIdentity({ user: 'u1' })).toBe(false);
    expect(isEmptyIdentity({ tenant: 'acme' })).toBe(false);
    expect(isEmptyIdentity({ environment: 'prod' })).toBe(false);
  });
});

describe('identityScopedRuleIds', () => {
  it('lists the rules keyed by user, team or tenant', () => {
    expect(
      identityScopedRuleIds([
        { id: 'user-rpm', scope: ['user'] },
        { id: 'team-tpm', scope: ['team', 'model'] },
        { id: 'tenant-day', scope: ['tenant'] },
        { id: 'everyone', scope: [] },
        { id: 'per-env-route', scope: ['environment', 'route'] },
      ]),
    ).toEqual(['user-rpm', 'team-tpm', 'tenant-day']);
  });
});

describe('warnUndefinedIdentity', () => {
  const warnings: unknown[][] = [];
  beforeAll(() => {
    Logger.overrideLogger({ log: () => undefined, error: () => undefined, warn: (...args: unknown[]) => warnings.push(args) });
  });
  afterAll(() => {
    Logger.overrideLogger(new ConsoleLogger());
  });

  it('logs with Nest’s Logger once per application and source, with the code and the help link', () => {
    const app = {};
    const other = {};
    expect(shouldWarnUndefinedIdentity(app, 'inbound')).toBe(true);
    warnUndefinedIdentity(app, 'inbound', 'First.');
    warnUndefinedIdentity(app, 'inbound', 'Again.');
    expect(shouldWarnUndefinedIdentity(app, 'inbound')).toBe(false);
    expect(shouldWarnUndefinedIdentity(app, 'policy')).toBe(true);
    warnUndefinedIdentity(app, 'policy', 'Policy.');
    warnUndefinedIdentity(other, 'inbound', 'Other app.');
    expect(warnings).toEqual([
      [`${UNDEFINED_IDENTITY_CODE}: First. See docs/nestjs.md#err_llmr_nest_undefined_identity.`, 'ResilienceModule'],
      [`${UNDEFINED_IDENTITY_CODE}: Policy. See docs/nestjs.md#err_llmr_nest_undefined_identity.`, 'ResilienceModule'],
      [`${UNDEFINED_IDENTITY_CODE}: Other app. See docs/nestjs.md#err_llmr_nest_undefined_identity.`, 'ResilienceModule'],
    ]);
  });
});
