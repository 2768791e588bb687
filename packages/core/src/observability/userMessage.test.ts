import { ERROR_KINDS } from '../errors/ErrorKind';
import { DEFAULT_MESSAGES } from '../policy/definePolicy';
import { userMessageFor } from './userMessage';

const PROVIDER_NAMES = /openai|anthropic|claude|gpt|gemini|google|vertex|azure|bedrock|mistral|cohere|groq|provider/i;
const CHAIN_WORDS = /fallback|chain|quota|billing|429|503|tpm|rpm|rate limit/i;

describe('userMessageFor', () => {
  it("returns the seed's step-10 messages", () => {
    expect(userMessageFor('rate_limited', 'internal', DEFAULT_MESSAGES)).toBe(
      "We hit the current model's rate limit. Retrying in a few seconds.",
    );
    expect(userMessageFor('rate_limited', 'customer', DEFAULT_MESSAGES)).toBe(
      "This request is taking longer than usual. We're trying another model now.",
    );
    expect(userMessageFor('queued', 'customer', DEFAULT_MESSAGES)).toBe(
      'Your request is queued and will run when capacity is available.',
    );
    expect(userMessageFor('queued', 'internal', DEFAULT_MESSAGES)).toBe(DEFAULT_MESSAGES.queued);
  });

  it('uses the policy wording when it is customised', () => {
    const messages = { internal: 'RL hit', customer: 'Hang on…', queued: 'Queued.' };
    expect(userMessageFor('rate_limited', 'internal', messages)).toBe('RL hit');
    expect(userMessageFor('overloaded', 'customer', messages)).toBe('Hang on…');
    expect(userMessageFor('queued', 'customer', messages)).toBe('Queued.');
  });

  it('tells the team which problem it was, with different wording per kind', () => {
    const m = (k: Parameters<typeof userMessageFor>[0]) => userMessageFor(k, 'internal', DEFAULT_MESSAGES);
    expect(m('overloaded')).toMatch(/overloaded or having an outage/);
    expect(m('timeout')).toMatch(/took too long/);
    expect(m('context_length')).toMatch(/context window/);
    expect(m('quota_exhausted')).toMatch(/quota or billing.*the team has been alerted/);
    expect(m('policy_rejected')).toMatch(/safety policy.*not sent to another model/);
    expect(m('auth')).toMatch(/credentials/);
    const internal = ERROR_KINDS.map(m);
    expect(new Set(internal).size).toBe(ERROR_KINDS.length);
  });

  it('never shows customers provider names, numbers, quotas or chains', () => {
    for (const kind of [...ERROR_KINDS, 'queued' as const]) {
      const text = userMessageFor(kind, 'customer', DEFAULT_MESSAGES);
      expect(text).not.toMatch(PROVIDER_NAMES);
      expect(text).not.toMatch(CHAIN_WORDS);
      expect(text).not.toMatch(/\d/);
    }
  });

  it('tells customers what to do when another model cannot help', () => {
    expect(userMessageFor('context_length', 'customer', DEFAULT_MESSAGES)).toMatch(/shorten it/);
    expect(userMessageFor('policy_rejected', 'customer', DEFAULT_MESSAGES)).toMatch(/rephrase/);
    expect(userMessageFor('auth', 'customer', DEFAULT_MESSAGES)).toMatch(/try again later/);
    expect(userMessageFor('quota_exhausted', 'customer', DEFAULT_MESSAGES)).toBe(DEFAULT_MESSAGES.customer);
  });

  it('applies per-kind overrides for one audience only', () => {
    const overrides = { quota_exhausted: { internal: 'Credit is out; #ops was paged.' } };
    expect(userMessageFor('quota_exhausted', 'internal', DEFAULT_MESSAGES, overrides)).toBe('Credit is out; #ops was paged.');
    expect(userMessageFor('quota_exhausted', 'customer', DEFAULT_MESSAGES, overrides)).toBe(DEFAULT_MESSAGES.customer);
  });
});
