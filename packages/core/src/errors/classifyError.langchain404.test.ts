import { addLangChainErrorFields } from '@langchain/core/errors';
import OpenAI from 'openai';
import { drive, setup } from '../engine/engineTestKit';
import { classifyError } from './classifyError';

/*
 * @langchain/openai stamps EVERY 404 with lc_error_code MODEL_NOT_FOUND (its utils/client.js:
 * `else if (e.status === 404) addLangChainErrorFields(e, "MODEL_NOT_FOUND")`), whatever the 404 is about.
 * Only the provider's own `model_not_found` (or a message about the model) makes a 404 `auth`; a 404
 * about something else (a stale `previous_response_id`, a file id) stays `invalid_request` through
 * LangChain as without it: no alert, no breaker failure on a healthy target.
 */
const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const staleResponseId = () =>
  OpenAI.APIError.generate(
    404,
    { error: { message: "Previous response with id 'resp_abc' not found.", type: 'invalid_request_error', param: 'previous_response_id', code: 'previous_response_not_found' } },
    undefined,
    new Headers({}),
  );
/** What ChatOpenAI (@langchain/openai) throws for these 404s. */
const viaLangChain = (e: Error) => addLangChainErrorFields(e, 'MODEL_NOT_FOUND');

describe('classifyError: LangChain MODEL_NOT_FOUND on a 404', () => {
  it('classifies as the same 404 without LangChain does (invalid_request), not auth', () => {
    expect(classifyError(staleResponseId(), { now: NOW }).kind).toBe('invalid_request');
    expect(classifyError(viaLangChain(staleResponseId()), { now: NOW }).kind).toBe('invalid_request');
  });

  it('does not alert nor open a healthy target’s breaker on requests that carry a stale response id', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'] } });
    const alerts: string[] = [];
    engine.events.on('alert', (e) => alerts.push(`${e.kind}:${e.target}`));
    const call = async (t: { id: string }) => {
      if (t.id === 'a') throw viaLangChain(staleResponseId());
      return { choices: [{ message: { content: 'ok' } }], usage: { prompt_tokens: 10, completion_tokens: 5 } };
    };
    for (let i = 0; i < 5; i++) await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, call)).catch(() => undefined);
    expect(alerts).toEqual([]);
    expect(engine.breakers.target('a').state.state).toBe('closed');
  });

  it('is auth when the provider itself says model_not_found, or the message is about the model', () => {
    const gone = OpenAI.APIError.generate(
      404,
      { error: { message: 'The model `gpt-x` does not exist or you do not have access to it.', type: 'invalid_request_error', code: 'model_not_found' } },
      undefined,
      new Headers({}),
    );
    expect(classifyError(viaLangChain(gone), { now: NOW })).toMatchObject({ kind: 'auth', status: 404, code: 'model_not_found' });
    const bare = Object.assign(new Error('models/gemini-x is not found for API version v1beta'), { lc_error_code: 'MODEL_NOT_FOUND' });
    expect(classifyError(bare, { now: NOW }).kind).toBe('auth');
  });
});
