import type { AIMessageChunk } from '@langchain/core/messages';
import { manualEngine, ScriptedChatModel } from '../test/support';
import { withResilience } from './withResilience';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

/*
 * LangChain's mergeConfigs replaces an unknown key such as `resilience` whole; ResilientRunnable merges
 * it field by field, so call options (a `timeout`, which becomes `resilience.deadline`, or
 * `resilience` itself) never drop what `withConfig` bound.
 */
describe('ResilientRunnable: call options never drop resilience options bound with withConfig', () => {
  const modes = ['invoke', 'stream', 'batch', 'streamEvents', 'streamLog'] as const;

  it.each(modes)('%s: the bound priority still applies when the call passes a timeout', async (mode) => {
    const { engine, records } = manualEngine();
    const model = new ScriptedChatModel([{ text: 'ok' }]);
    // batch() defaults to the batch class: bind the other one there so the check means something.
    const bound = mode === 'batch' ? 'live' : 'batch';
    const safe = withResilience(model, { engine, route: 'solo' }).withConfig({ resilience: { priority: bound } } as never);
    const opts = { timeout: 60_000 } as never;
    let out = '';
    if (mode === 'invoke') out = String((await safe.invoke('hi', opts)).content);
    else if (mode === 'batch') out = String((await safe.batch(['hi'], opts))[0]!.content);
    else if (mode === 'stream') for await (const c of await safe.stream('hi', opts)) out += String(c.content);
    else if (mode === 'streamEvents') {
      for await (const e of safe.streamEvents('hi', { version: 'v2', timeout: 60_000 } as never)) {
        if (e.event === 'on_chain_stream' && e.name === 'ResilientRunnable') out += String((e.data.chunk as AIMessageChunk).content);
      }
    } else {
      for await (const patch of safe.streamLog('hi', opts)) {
        for (const op of patch.ops) if (op.op === 'add' && op.path === '/streamed_output/-') out += String((op.value as AIMessageChunk).content);
      }
    }
    expect(out).toBe('ok');
    await flush();
    expect(records[0]).toMatchObject({ outcome: 'success', priority: bound });
  });

  it('merges resilience call options field by field with bound ones, and bound ones across withConfig calls', async () => {
    const { engine, records } = manualEngine();
    const model = new ScriptedChatModel([{ text: 'one' }, { text: 'two' }]);
    const safe = withResilience(model, { engine, route: 'solo' })
      .withConfig({ resilience: { priority: 'batch' } } as never)
      .withConfig({ resilience: { identity: { user: 'u1' } } } as never);
    await safe.invoke('hi');
    await safe.invoke('hi', { resilience: { priority: 'live' } } as never);
    await flush();
    expect(records[0]).toMatchObject({ priority: 'batch', user_id: 'u1' });
    expect(records[1]).toMatchObject({ priority: 'live', user_id: 'u1' });
  });
});
