import { ChatRequestError } from './ChatRequestError';
import { assertJsonDepth, MAX_JSON_DEPTH } from './jsonDepth';

const nested = (levels: number) => JSON.parse('['.repeat(levels) + ']'.repeat(levels)) as unknown;

function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('assertJsonDepth', () => {
  it('passes a body of exactly the limit, the body itself counting as level 1', () => {
    expect(MAX_JSON_DEPTH).toBe(128);
    expect(thrown(() => assertJsonDepth({ extra: nested(127) }))).toBeUndefined();
    expect(thrown(() => assertJsonDepth({ model: 'x', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }))).toBeUndefined();
  });

  it('refuses one level more, naming the top-level field and the limit, as an invalid_value ChatRequestError', () => {
    const err = thrown(() => assertJsonDepth({ model: 'x', extra: nested(128) }));
    expect(err).toBeInstanceOf(ChatRequestError);
    expect(err).toMatchObject({ kind: 'invalid_request', param: 'extra', openAICode: 'invalid_value' });
    expect((err as Error).message).toBe("Invalid value for 'extra': it nests arrays and objects more than 128 levels deep; the gateway forwards at most 128.");
  });

  it('walks without recursion: 200 000 levels are refused, not a stack overflow', () => {
    expect(thrown(() => assertJsonDepth({ messages: nested(200_000) }))).toMatchObject({ param: 'messages' });
  });

  it('does not show a top-level field name that is not plain (it is the client’s text)', () => {
    const err = thrown(() => assertJsonDepth({ ['say <b>hi</b>']: nested(200) }));
    expect(err).toMatchObject({ param: '' });
    expect((err as Error).message).toBe('Invalid request body: it nests arrays and objects more than 128 levels deep; the gateway forwards at most 128.');
  });

  it('takes a smaller limit, and leaves values that are not objects alone', () => {
    expect(thrown(() => assertJsonDepth({ a: { b: {} } }, 2))).toMatchObject({ param: 'a' });
    expect(thrown(() => assertJsonDepth({ a: { b: 1 } }, 2))).toBeUndefined();
    expect(thrown(() => assertJsonDepth('text'))).toBeUndefined();
  });
});
