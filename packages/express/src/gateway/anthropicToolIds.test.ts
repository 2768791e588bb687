import { toAnthropicRequest } from './anthropicTranslate';
import type { JsonObject } from './chatTypes';

type Msg = { role: string; content: JsonObject[] };

function toolUseIds(out: JsonObject): string[] {
  return (out.messages as Msg[]).flatMap((m) => m.content.filter((b) => b.type === 'tool_use').map((b) => String(b.id)));
}

describe('Anthropic tool_use ids stay unique in one conversation', () => {
  // Anthropic answers 400 "tool_use ids must be unique": a legacy function_call's id skips the ids of
  // the conversation's tool_calls (a client id `lookup_1` is valid and passed through unchanged).
  it('a legacy function_call id does not collide with a valid tool_calls id of the same form', () => {
    const out = toAnthropicRequest(
      {
        model: 'alias',
        messages: [
          { role: 'user', content: 'Look up a' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'lookup_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"a"}' } }] },
          { role: 'tool', tool_call_id: 'lookup_1', content: 'A' },
          { role: 'user', content: 'Now b' },
          { role: 'assistant', content: null, function_call: { name: 'lookup', arguments: '{"q":"b"}' } },
          { role: 'function', name: 'lookup', content: 'B' },
          { role: 'user', content: 'Thanks' },
        ],
      },
      'claude-x',
      100,
      false,
    );
    const ids = toolUseIds(out);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    // The legacy turn's result answers the legacy call, not the earlier one.
    const results = (out.messages as Msg[]).flatMap((m) => m.content.filter((b) => b.type === 'tool_result').map((b) => String(b.tool_use_id)));
    expect(results).toEqual(['lookup_1', ids[1]]);
  });
});
