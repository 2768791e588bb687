import express from 'express';
import OpenAI, { APIError } from 'openai';
import { openAIGateway, resilience, resilienceErrorHandler, type OpenAIGatewayOptions } from '../index';
import { fetchChatCall, listen, rejection, testEngine, useFakeProvider } from '../../test/support';

const provider = useFakeProvider();

/**
 * Seed spec (error -> action): "Quota/billing error -> stop retries and alert". The gateway answers a
 * chain that ended on an exhausted quota (or rejected upstream credentials) with a 503, which the
 * official SDKs retry by default — each retry running the whole chain again — unless the answer says
 * `x-should-retry: false`.
 */
describe.each([
  ['insufficient_quota', 'quota_exhausted'],
  ['auth', 'auth'],
] as const)('openAIGateway: an upstream %s does not trigger the official SDK retries', (fault, kind) => {
  it(`the openai SDK with its default maxRetries sends the request once (${kind}: x-should-retry false)`, async () => {
    const upstreams: OpenAIGatewayOptions['upstreams'] = {
      primary: { kind: 'openai', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' },
      backup: { kind: 'openai', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' },
      anthropic: { kind: 'anthropic', baseURL: provider.baseURL, apiKey: 'upstream-secret-key' },
    };
    const app = express();
    app.use(openAIGateway({ engine: testEngine(), upstreams, auth: { 'sk-client-alice': { user: 'alice' } }, models: { support: 'support_reply' } }));
    const { url, close } = await listen(app);
    try {
      provider.fake.setFaults([{ kind: fault }]);
      let gatewayRequests = 0;
      const countingFetch: typeof fetch = (input, init) => {
        gatewayRequests++;
        return fetch(input, init);
      };
      // Default maxRetries (2), as the docs' client example.
      const client = new OpenAI({ apiKey: 'sk-client-alice', baseURL: `${url}/v1`, timeout: 10_000, fetch: countingFetch });
      const err = await rejection(client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'quota?' }] }));
      expect(err).toBeInstanceOf(APIError);
      expect((err as APIError).status).toBe(503);
      expect((err as APIError).headers?.get('x-should-retry')).toBe('false');
      // One gateway request, one call per target.
      expect(gatewayRequests).toBe(1);
      expect(provider.fake.counters.requests).toBe(2);
    } finally {
      await close();
    }
  });
});

describe('resilienceErrorHandler: a kind no retry can fix', () => {
  it('answers an exhausted upstream quota with x-should-retry: false, and an overload without it', async () => {
    const app = express();
    app.use(resilience({ engine: testEngine(), identity: () => ({ user: 'u1' }) }));
    app.post('/ask', async (req, res, next) => {
      try {
        const { value } = await req.resilience.execute('support_reply', fetchChatCall(provider.baseURL, 'hi'), { input: { prompt: 'hi' }, maxOutputTokens: 30 });
        res.json(value);
      } catch (err) {
        next(err);
      }
    });
    app.use(resilienceErrorHandler());
    const { url, close } = await listen(app);
    try {
      provider.fake.setFaults([{ kind: 'insufficient_quota' }]);
      const quota = await fetch(`${url}/ask`, { method: 'POST' });
      expect(quota.status).toBe(503);
      expect(quota.headers.get('x-should-retry')).toBe('false');
      provider.fake.setFaults([{ kind: 'overloaded_503' }]);
      const overloaded = await fetch(`${url}/ask`, { method: 'POST' });
      expect(overloaded.status).toBe(503);
      expect(overloaded.headers.get('x-should-retry')).toBeNull();
    } finally {
      await close();
    }
  });
});
