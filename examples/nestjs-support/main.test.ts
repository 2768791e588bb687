import type { RequestRecord } from '@llm-resilience/core';
import { CANNED_REPLY, startNestSupport, SupportReplySchema, SupportService, type NestSupport } from './main';

let support: NestSupport;
let records: RequestRecord[] = [];

beforeAll(async () => {
  support = await startNestSupport({ port: 0, env: {}, logger: false });
  support.engine.events.on('record', (r) => records.push(r));
});
afterAll(() => support.close());
beforeEach(() => {
  records = [];
  support.fake!.setFaults([]);
});

interface Answer {
  status: number;
  retryAfter: string | null;
  body: Record<string, unknown>;
}

async function post(customerId: string, body: unknown): Promise<Answer> {
  const res = await fetch(`${support.url}/support/tickets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-customer-id': customerId },
    body: JSON.stringify(body),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
}

const ticket = (customerId: string, message = 'My parcel arrived damaged, I want a refund.') => post(customerId, { customerId, message });

describe('examples/nestjs-support against the fake provider', () => {
  it('boots in fake mode and answers a ticket with a reply that matches the schema, from the primary model', async () => {
    expect(support.mode).toBe('fake');
    const res = await ticket('c1');
    expect(res.status).toBe(201);
    expect(SupportReplySchema.parse(res.body)).toEqual(res.body);
    expect(res.body.reply).toMatch(/^\[support-a\] reply to/);
    expect(records[0]).toMatchObject({ user_id: 'c1', route: 'support_reply', final_model: 'support-a', outcome: 'success' });
    expect(records[0]!.output_tokens).toBeGreaterThan(0); // real usage reported by the service
  });

  it('walks the three-model chain when the first two models are down', async () => {
    support.fake!.setFaults([
      { model: 'support-a', kind: 'overloaded_503' },
      { model: 'support-b', kind: 'rate_limit', retryAfterSeconds: 60 },
    ]);
    const res = await ticket('c2');
    expect(res.status).toBe(201);
    expect(res.body.reply).toMatch(/^\[support-c\] reply to/);
    expect(records[0]).toMatchObject({ fallback_used: true, final_model: 'support-c' });
  });

  it('retries stricter on the same model when its JSON does not match the schema', async () => {
    support.fake!.setFaults([{ model: 'support-a', kind: 'invalid_json_reply', count: 1 }]);
    const res = await ticket('c3');
    expect(res.status).toBe(201);
    expect(res.body.reply).toMatch(/^\[support-a\] reply to/);
    expect(records[0]).toMatchObject({ validation_failures: 1, retry_count: 1, final_model: 'support-a' });
  });

  it('limits each customer to 10 tickets a minute, with Retry-After and a calm message', async () => {
    for (let i = 0; i < 10; i++) expect((await ticket('busy', `ticket ${i}`)).status).toBe(201);
    const res = await ticket('busy', 'one more');
    expect(res.status).toBe(429);
    expect(Number(res.retryAfter)).toBeGreaterThan(0);
    expect(res.body.message).toBe('You are sending requests too quickly. Please wait a moment and try again.');
    expect(records).toHaveLength(10); // the 11th never reached the engine
  });

  it('rejects a malformed ticket', async () => {
    expect((await post('c5', { message: 1 })).status).toBe(400);
  });

  it('binds the service to the engine given to the module', () => {
    expect(support.app.get(SupportService)).toBeInstanceOf(SupportService);
    expect(support.engine.policy.routes.support_reply!.chain.map((t) => t.model)).toEqual(['support-a', 'support-b', 'support-c']);
  });

  // Last: the outage opens the circuit breakers for the rest of the file.
  it('answers with the canned reply when no model can answer, then at once while the breakers are open', async () => {
    support.fake!.setFaults([{ kind: 'overloaded_503' }]);
    const res = await ticket('c4');
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ ...CANNED_REPLY, language: 'en' });
    const calls = support.fake!.counters.requests;
    for (let i = 0; i < 5; i++) expect((await ticket(`c4-${i}`)).body).toEqual({ ...CANNED_REPLY, language: 'en' });
    expect(records.at(-1)!.skipped.map((s) => s.reason)).toEqual(['breaker_open', 'breaker_open', 'breaker_open']);
    expect(support.fake!.counters.requests).toBeLessThan(calls + 5);
  });
});
