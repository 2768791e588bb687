import { createResilience, definePolicy } from '@llm-resilience/core';
import { audienceOf, inboundLimitMessage, INBOUND_LIMIT_CUSTOMER_MESSAGE, messageFor, messageKindOf, setResponseHeader } from './messages';

const engine = createResilience(
  definePolicy({
    targets: { a: { provider: 'openai', model: 'm' } },
    routes: { ops: { chain: ['a'], audience: 'internal' }, chat: { chain: ['a'], audience: 'customer' } },
  }),
);

describe('messages', () => {
  it("words a rate limit no wait lets through as too large ('too_large'), with or without an engine", () => {
    expect(messageKindOf('rate_limited', Infinity)).toBe('too_large');
    expect(messageKindOf('rate_limited', 3000)).toBe('rate_limited');
    expect(messageKindOf('rate_limited', undefined)).toBe('rate_limited');
    expect(messageKindOf('overloaded', Infinity)).toBe('overloaded');
    expect(messageFor('too_large', 'customer', engine, 'chat')).toBe('This request is too long for us to process. Please shorten it and try again.');
    expect(messageFor('too_large', 'internal', engine)).toMatch(/no wait lets it through/);
    expect(messageFor('too_large', 'customer', undefined)).toMatch(/shorten it/);
    expect(messageFor('rate_limited', 'customer', undefined)).toMatch(/wait a moment/);
  });

  it('words inbound 429s per audience, never with scope values', () => {
    expect(inboundLimitMessage('customer', 'user:requests:1m', 3000)).toBe(INBOUND_LIMIT_CUSTOMER_MESSAGE);
    expect(inboundLimitMessage('internal', 'user:requests:1m', 2001)).toBe("Inbound limit 'user:requests:1m' is exhausted; retry in 3 s (Retry-After).");
    expect(inboundLimitMessage('internal', 'x', Infinity)).toMatch(/denies this request at any time/);
  });

  it('picks the audience: explicit, route, module, customer', () => {
    expect(audienceOf(engine, { audience: 'customer' }, 'ops')).toBe('internal');
    expect(audienceOf(engine, { audience: 'internal' }, 'chat', 'customer')).toBe('customer');
    expect(audienceOf(engine, { audience: 'internal' }, undefined)).toBe('internal');
    expect(audienceOf(engine, undefined, 'unknown-route')).toBe('customer');
  });

  it('uses the policy wording per kind', () => {
    expect(messageFor('overloaded', 'customer', engine)).toBe(engine.policy.messages.customer);
    expect(messageFor('rate_limited', 'internal', engine)).toBe(engine.policy.messages.internal);
    expect(messageFor('overloaded', 'customer', undefined)).toMatch(/Something went wrong/);
  });

  it('sets headers on Express- and Fastify-style responses, not after they were sent', () => {
    const headers: Record<string, string> = {};
    setResponseHeader({ header: (n: string, v: string) => (headers[n] = v) }, 'Retry-After', '3');
    setResponseHeader({ setHeader: (n: string, v: string) => (headers[`raw ${n}`] = v) }, 'Retry-After', '4');
    setResponseHeader({ headersSent: true, header: () => (headers.late = 'x') }, 'Retry-After', '5');
    expect(headers).toEqual({ 'Retry-After': '3', 'raw Retry-After': '4' });
  });
});
