import { Registry } from 'prom-client';
import { drive, setup } from '../engine/engineTestKit';
import { PrometheusMetrics } from './PrometheusMetrics';
import { recordFacts } from './recordFacts';

describe('token metrics of a stream that broke off', () => {
  it('count the input usage the adapter gave with fail(error, usage) even when no output token came', async () => {
    // Anthropic's message_start reports the input billed before any output: a stream that breaks off
    // then, with its usage given (fail(error, usage)), counts those 1 200 input tokens.
    const registry = new Registry();
    const { engine, clock, records } = setup({}, { chat: { chain: ['a'] } }, { metrics: new PrometheusMetrics({ registry }) });
    const r = await drive(clock, engine.execute({ route: 'chat', inputTokens: 1_000, maxOutputTokens: 50, stream: true }, async () => ({ chunks: [] })));
    r.fail(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), { inputTokens: 1_200, outputTokens: 0 });
    expect(records[0]).toMatchObject({ outcome: 'failure', input_tokens: 1_200, output_tokens: 0 });
    expect(recordFacts(records[0]!).tokens).toEqual({ input: 1_200, output: 0 });
    expect(await registry.metrics()).toMatch(/llm_resilience_tokens_total\{[^}]*type="input"[^}]*\} 1200/);
  });
});
