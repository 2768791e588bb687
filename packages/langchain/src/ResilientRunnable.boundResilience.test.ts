import type { AIMessageChunk } from '@langchain/core/messages';
import { HumanMessage } from '@langchain/core/messages';
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

  /*
   * `{ resilience: { identity, dataClass: ctx.dataClass } }` with no class for this call passes
   * `dataClass: undefined`: that means "not given" (as `call?.dataClass ?? o.dataClass` does for the
   * withResilience option), never "drop the bound class", which could send internal data to a target
   * approved for public data only.
   */
  it('keeps a bound dataClass when the call passes dataClass: undefined, so the request stays on approved targets', async () => {
    const { engine, records } = manualEngine({ routes: { pubfirst: { chain: ['long', 'primary'] } } });
    const long = new ScriptedChatModel([{ text: 'from long', usage: { input: 5, output: 5 } }]);
    const primary = new ScriptedChatModel([{ text: 'from primary', usage: { input: 5, output: 5 } }]);
    const safe = withResilience(long, { engine, route: 'pubfirst', targets: { long, primary } }).withConfig({
      resilience: { dataClass: 'internal' },
    } as never);

    const out = await safe.invoke([new HumanMessage('internal ticket text')], { resilience: { dataClass: undefined, priority: 'live' } } as never);

    expect(out.content).toBe('from primary');
    // 'long' is approved for 'public' only: an 'internal' request must never reach it.
    expect(records[0]).toMatchObject({ data_class: 'internal', priority: 'live' });
    expect(records[0]!.attempts.map((a) => a.target)).toEqual(['primary']);
  });

  it('keeps a bound identity and priority when the call (or a later withConfig) passes them as undefined', async () => {
    const { engine, records } = manualEngine();
    const model = new ScriptedChatModel([{ text: 'one' }, { text: 'two' }, { text: 'three' }]);
    const safe = withResilience(model, { engine, route: 'solo' }).withConfig({
      resilience: { identity: { user: 'u1', team: 't1' }, priority: 'batch' },
    } as never);
    await safe.invoke('hi', { resilience: { identity: undefined, priority: undefined } } as never);
    await safe.withConfig({ resilience: { identity: undefined, priority: undefined, dataClass: undefined } } as never).invoke('hi');
    // A defined identity replaces the bound one whole (as it replaces withResilience's), not field by field.
    await safe.invoke('hi', { resilience: { identity: { user: 'u2' }, priority: undefined } } as never);
    await flush();
    expect(records[0]).toMatchObject({ priority: 'batch', user_id: 'u1', team_id: 't1' });
    expect(records[1]).toMatchObject({ priority: 'batch', user_id: 'u1', team_id: 't1' });
    expect(records[2]).toMatchObject({ priority: 'batch', user_id: 'u2' });
    expect(records[2]!.team_id).toBeUndefined();
  });
});
