import { setup } from './engineTestKit';

describe('retry budget options fill in the documented defaults field by field', () => {
  it('keeps the default tokenRatio 0.2 when only maxTokens is given', () => {
    const { engine } = setup({}, { chat: { chain: ['a', 'b'] } }, { retryBudget: { maxTokens: 40 } });
    const budget = engine.retryBudget('openai')!;
    expect(budget.maxTokens).toBe(40);
    expect(budget.tokenRatio).toBe(0.2);
  });

  it('keeps the default maxTokens 20 when only tokenRatio is given', () => {
    const { engine } = setup({}, { chat: { chain: ['a', 'b'] } }, { retryBudget: { tokenRatio: 0.5 } });
    const budget = engine.retryBudget('openai')!;
    expect(budget.maxTokens).toBe(20);
    expect(budget.available).toBe(20);
    expect(budget.tokenRatio).toBe(0.5);
  });

  it('uses the defaults for an explicit undefined field, and none at all with false', () => {
    const { engine } = setup({}, { chat: { chain: ['a', 'b'] } }, { retryBudget: { maxTokens: undefined, tokenRatio: 0.3 } });
    expect(engine.retryBudget('openai')!.maxTokens).toBe(20);
    const off = setup({}, { chat: { chain: ['a', 'b'] } }, { retryBudget: false });
    expect(off.engine.retryBudget('openai')).toBeUndefined();
  });
});
