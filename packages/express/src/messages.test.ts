import { inboundLimitMessage, INBOUND_LIMIT_CUSTOMER_MESSAGE, messageFor, streamInterruptedMessage } from './messages';

describe('inboundLimitMessage', () => {
  it('is calm for customers and specific for the team, never with scope values', () => {
    expect(inboundLimitMessage('customer', 'user-rpm', 3000)).toBe(INBOUND_LIMIT_CUSTOMER_MESSAGE);
    expect(inboundLimitMessage('internal', 'user-rpm', 2100)).toBe("Inbound limit 'user-rpm' is exhausted; retry in 3 s (Retry-After).");
    expect(inboundLimitMessage('internal', 'big', Infinity)).toContain('at any time');
  });

  it('takes overrides per audience', () => {
    expect(inboundLimitMessage('customer', 'x', 1, { customer: 'Slow down.' })).toBe('Slow down.');
    expect(inboundLimitMessage('internal', 'x', 1000, { customer: 'Slow down.' })).toContain("'x'");
  });

  it('gives anything but the internal audience the customer wording (a bad value never names the rule)', () => {
    for (const bad of [undefined, 'everyone', 'constructor']) {
      expect(inboundLimitMessage(bad as never, 'user-rpm', 3000)).toBe(INBOUND_LIMIT_CUSTOMER_MESSAGE);
      expect(streamInterruptedMessage(bad as never, 'network')).toBe('The reply was interrupted. Please try again.');
    }
    expect(inboundLimitMessage('constructor' as never, 'x', 1, {})).toBe(INBOUND_LIMIT_CUSTOMER_MESSAGE);
  });
});

describe('messageFor', () => {
  it('has generic wording without an engine', () => {
    expect(messageFor('rate_limited', 'customer', undefined)).toContain('wait');
    expect(messageFor('overloaded', 'internal', undefined)).toBe('Something went wrong on our side. Please try again later.');
  });
});

describe('streamInterruptedMessage', () => {
  it('does not promise a fallback that can no longer happen', () => {
    expect(streamInterruptedMessage('customer', 'network')).toBe('The reply was interrupted. Please try again.');
    expect(streamInterruptedMessage('internal', 'network')).toContain('(network)');
  });
});
