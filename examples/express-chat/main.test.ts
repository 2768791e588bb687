import OpenAI, { APIError } from 'openai';
import { DEMO_CLIENT_KEY, startExpressChat, type ExpressChat } from './main';

let chat: ExpressChat;

beforeAll(async () => {
  chat = await startExpressChat({ port: 0, env: {} });
});
afterAll(() => chat.close());

const post = (body: unknown, user = 'u1') =>
  fetch(`${chat.url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-user-id': user }, body: JSON.stringify(body) });

describe('examples/express-chat against the fake provider', () => {
  it('boots in fake mode and answers /chat through the engine', async () => {
    expect(chat.mode).toBe('fake');
    const res = await post({ message: 'Where is my order?' });
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit')).toMatch(/^limit=10, remaining=9, reset=\d+$/);
    const body = (await res.json()) as { reply: string; model: string; fallback: boolean };
    expect(body.reply.startsWith('[fast-a] reply to')).toBe(true);
    expect(body).toMatchObject({ model: 'fast-a', fallback: false });
  });

  it('falls back to the backup model when the primary has an outage', async () => {
    chat.fake!.setFaults([{ model: 'fast-a', kind: 'overloaded_503' }]);
    try {
      const body = (await (await post({ message: 'Still there?' }, 'u2')).json()) as { reply: string; model: string; fallback: boolean };
      expect(body.reply.startsWith('[fast-b] reply to')).toBe(true);
      expect(body).toMatchObject({ model: 'fast-b', fallback: true });
    } finally {
      chat.fake!.setFaults([]);
    }
  });

  it('limits each user to 10 requests a minute', async () => {
    for (let i = 0; i < 10; i++) expect((await post({ message: `m${i}` }, 'busy')).status).toBe(200);
    const denied = await post({ message: 'one more' }, 'busy');
    expect(denied.status).toBe(429);
    expect(Number(denied.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await denied.json()) as { error: { type: string } }).error.type).toBe('rate_limited');
  });

  it('serves the OpenAI-compatible gateway to the official SDK', async () => {
    const client = new OpenAI({ apiKey: DEMO_CLIENT_KEY, baseURL: `${chat.url}/v1`, maxRetries: 0 });
    const reply = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'hi' }] });
    expect(reply.choices[0]!.message.content!.startsWith('[fast-a] reply to')).toBe(true);
    const stream = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'stream' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text.startsWith('[fast-a] reply to')).toBe(true);
  });

  it("leaves the gateway's bodies to the gateway: a 150 KB conversation fits its 4mb bodyLimit", async () => {
    // An app-level express.json() (100 KB default) in front of the gateway would refuse it with 413.
    const client = new OpenAI({ apiKey: DEMO_CLIENT_KEY, baseURL: `${chat.url}/v1`, maxRetries: 0 });
    const long = 'lorem ipsum dolor sit amet '.repeat(5600);
    expect(long.length).toBeGreaterThan(150_000);
    const reply = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: long }], max_tokens: 20 });
    expect(reply.choices[0]!.message.content!.startsWith('[fast-a] reply to')).toBe(true);
  });

  it('answers malformed and oversized gateway bodies OpenAI-style (400, 413), never with an HTML page', async () => {
    const res = await fetch(`${chat.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_CLIENT_KEY}`, 'content-type': 'application/json' },
      body: '{"model": "support", "messages": [',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ error: { message: 'We could not parse the JSON body of your request.', type: 'invalid_request_error', param: null, code: null } });
    // The same limit through the SDK: a body over 4mb is the gateway's 413, an APIError with its type.
    const client = new OpenAI({ apiKey: DEMO_CLIENT_KEY, baseURL: `${chat.url}/v1`, maxRetries: 0 });
    const err = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'x'.repeat(4 * 1024 * 1024 + 1) }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect({ status: (err as APIError).status, type: (err as APIError).type }).toEqual({ status: 413, type: 'invalid_request_error' });
  });
});
