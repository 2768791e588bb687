import { REPAIR_CONFIG_KEY, repairOf } from './repair';

describe('repairOf', () => {
  it('reads the repair request from configurable, and nothing else', () => {
    expect(repairOf({ configurable: { [REPAIR_CONFIG_KEY]: { reason: 'not JSON' } } })).toEqual({ reason: 'not JSON' });
    expect(repairOf({ configurable: { [REPAIR_CONFIG_KEY]: 'not JSON' } })).toBeUndefined();
    expect(repairOf({ configurable: { [REPAIR_CONFIG_KEY]: { reason: 3 } } })).toBeUndefined();
    expect(repairOf({ configurable: {} })).toBeUndefined();
    expect(repairOf(undefined)).toBeUndefined();
  });
});
