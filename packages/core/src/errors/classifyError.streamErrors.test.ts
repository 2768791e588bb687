/**
 * Errors that arrive inside a stream, after its 200: there is no error status, only the error body.
 * Each SSE body goes through the SDKs' own stream parsers (openai v7 and v4, @anthropic-ai/sdk 1.x and
 * 0.x), and what they throw must classify the same whatever the version.
 */
import { Stream as AnthropicStream } from '@anthropic-ai/sdk/core/streaming';
import { Stream as Anthropic0Stream } from 'anthropic0/streaming';
import { Stream as OpenAIStream } from 'openai/core/streaming';
import { Stream as OpenAI4Stream } from 'openai4/streaming';
import { classifyError } from './classifyError';

type Parse = (response: Response, controller: AbortController) => AsyncIterable<unknown>;

const OPENAI_PARSERS: Record<string, Parse> = {
  'openai v7': (r, c) => OpenAIStream.fromSSEResponse(r, c),
  'openai v4': (r, c) => OpenAI4Stream.fromSSEResponse(r, c),
};
const ANTHROPIC_PARSERS: Record<string, Parse> = {
  '@anthropic-ai/sdk 1.x': (r, c) => AnthropicStream.fromSSEResponse(r, c),
  '@anthropic-ai/sdk 0.x': (r, c) => Anthropic0Stream.fromSSEResponse(r, c),
};

/** What the parser throws for this SSE body (after yielding the events before the error). */
async function thrownBy(parse: Parse, sse: string): Promise<unknown> {
  const response = new Response(sse, { status: 200, headers: { 'content-type': 'text/event-stream', 'x-request-id': 'req_1', 'request-id': 'req_1' } });
  try {
    for await (const _ of parse(response, new AbortController())) void _;
  } catch (err) {
    return err;
  }
  throw new Error('the stream ended without an error');
}

const OPENAI_CHUNK = 'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}\n\n';
const openAIStream = (error: object) => `${OPENAI_CHUNK}data: ${JSON.stringify({ error })}\n\ndata: [DONE]\n\n`;

const OPENAI_CASES = [
  {
    name: 'server_is_overloaded',
    error: { message: 'Our servers are currently overloaded. Please try again later.', type: 'service_unavailable_error', param: null, code: 'server_is_overloaded' },
    kind: 'overloaded',
  },
  {
    name: 'service_unavailable_error without a code',
    error: { message: 'The service is temporarily unavailable.', type: 'service_unavailable_error', param: null, code: null },
    kind: 'overloaded',
  },
  {
    name: 'rate_limit_exceeded',
    error: { message: 'Rate limit reached for m on requests per min (RPM). Please try again in 2s.', type: 'requests', param: null, code: 'rate_limit_exceeded' },
    kind: 'rate_limited',
    retryAfterMs: 2_000,
  },
  { name: 'server_error', error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null }, kind: 'unknown' },
];

describe('classifyError: OpenAI-format in-stream errors (`data: {"error": ...}`)', () => {
  it.each(Object.keys(OPENAI_PARSERS).flatMap((sdk) => OPENAI_CASES.map((c) => ({ sdk, ...c }))))('$sdk, $name -> $kind', async ({ sdk, error, kind, retryAfterMs }) => {
    const err = await thrownBy(OPENAI_PARSERS[sdk]!, openAIStream(error));
    const c = classifyError(err);
    expect(c.kind).toBe(kind);
    expect(c.status).toBeUndefined();
    expect(c.retryAfterMs).toBe(retryAfterMs);
  });
});

const ANTHROPIC_START = 'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}\n\n';
const anthropicStream = (type: string, message: string) => `${ANTHROPIC_START}event: error\ndata: ${JSON.stringify({ type: 'error', error: { type, message } })}\n\n`;

describe('classifyError: Anthropic in-stream errors (`event: error`)', () => {
  it.each(
    Object.keys(ANTHROPIC_PARSERS).flatMap((sdk) =>
      [
        { type: 'overloaded_error', message: 'Overloaded', kind: 'overloaded' },
        { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit', kind: 'rate_limited' },
        { type: 'api_error', message: 'Internal server error', kind: 'unknown' },
      ].map((c) => ({ sdk, ...c })),
    ),
  )('$sdk, $type -> $kind', async ({ sdk, type, message, kind }) => {
    const err = await thrownBy(ANTHROPIC_PARSERS[sdk]!, anthropicStream(type, message));
    const c = classifyError(err);
    expect({ kind: c.kind, code: c.code, message: c.message }).toEqual({ kind, code: type, message });
    expect(c.status).toBeUndefined();
  });
});
