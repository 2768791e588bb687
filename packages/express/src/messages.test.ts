import { inboundDenialMessage, inboundLimitMessage, INBOUND_LIMIT_CUSTOMER_MESSAGE, messageFor, streamInterruptedMessage } from './messages';

const TOO_LARGE = 'This request is too long for us to process. Please shorten it and try again.';

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
    expect(messageFor('too_large', 'customer', undefined)).toBe(TOO_LARGE);
  });
});

describe('inboundDenialMessage', () => {
  it('words a denial no wait ends as too large for customers, without the 429 overrides', () => {
    const overrides = { customer: 'Slow down.', internal: 'Slow down, team.' };
    expect(inboundDenialMessage('customer', 'tpm', Infinity, overrides, undefined)).toBe(TOO_LARGE);
    expect(inboundDenialMessage('everyone' as never, 'tpm', Infinity, overrides, undefined)).toBe(TOO_LARGE);
    expect(inboundDenialMessage('internal', 'tpm', Infinity, overrides, undefined)).toBe(inboundLimitMessage('internal', 'tpm', Infinity));
    expect(inboundDenialMessage('customer', 'tpm', 3000, overrides, undefined)).toBe('Slow down.');
    expect(inboundDenialMessage('customer', 'tpm', 3000, undefined, undefined)).toBe(INBOUND_LIMIT_CUSTOMER_MESSAGE);
  });
});


describe('streamInterruptedMessage', () => {
  it('does not promise a fallback that can no longer happen', () => {
    expect(streamInterruptedMessage('customer', 'network')).toBe('The reply was interrupted. Please try again.');
    expect(streamInterruptedMessage('internal', 'network')).toContain('(network)');
  });
});
