/**
 * A tool call's header (id and name, no argument yet) holds nothing of the answer, whatever parser
 * yields it: `withStructuredOutput(functionCalling)` yields `{}`, `JsonOutputToolsParser`
 * `[{ type, args: {} }]`. An overload right after it still falls back.
 */
import { JsonOutputToolsParser } from '@langchain/core/output_parsers/openai_tools';
import type { Runnable } from '@langchain/core/runnables';
import { z } from 'zod';
import { withResilience } from './index';
import { realEngine, recordsReach, startProvider, type Provider } from '../test/fakeProvider';
import { attemptsOf } from '../test/scriptedChatServer';

let p: Provider;
beforeAll(async () => {
  p = await startProvider({ models: { 'summary-a': { contextWindow: 100_000, replyTokens: 40 }, 'summary-long': { contextWindow: 100_000, replyTokens: 40 } } });
});
afterAll(() => p.fake.stop());
beforeEach(() => {
  p.fake.setFaults([]);
  p.fake.reset();
});

const Summary = z.object({ title: z.string(), bullets: z.array(z.string()).min(1) });
const tool = { type: 'function' as const, function: { name: 'summary', description: 'A summary', parameters: z.toJSONSchema(Summary) as Record<string, unknown> } };
const bound = (m: string) => p.chat(m).bindTools([tool], { tool_choice: { type: 'function', function: { name: 'summary' } } });

describe('an overload right after the tool call header (no argument yet): falls back, as withStructuredOutput does', () => {
  it.each([
    ['JsonOutputToolsParser', (m: string) => bound(m).pipe(new JsonOutputToolsParser()) as Runnable<string, unknown>],
  ])('%s', async (_, chain) => {
    // The header carries no argument (`args: {}`): the attempt is still open, sum-a:overloaded, then sum-long answers.
    p.fake.setFaults([{ model: 'summary-a', kind: 'stream_error', errorType: 'overloaded', afterChunks: 0 }]);
    const { engine, records } = realEngine({ retry: { perKind: { overloaded: 0 } } });
    const safe = withResilience(chain('summary-a'), { engine, route: 'summary', fallbacks: [chain('summary-long')] });
    const got: unknown[] = [];
    let err: unknown;
    try {
      for await (const c of await safe.stream('JSON question: summarize')) got.push(c);
    } catch (e) {
      err = e;
    }
    await recordsReach(engine, records, 1);
    expect({ err: (err as Error | undefined)?.name, attempts: attemptsOf(records[0]!), first: got[0] }).toEqual({ err: undefined, attempts: ['sum-a:overloaded', 'sum-long:success'], first: expect.anything() });
    expect(JSON.stringify(got.at(-1))).toContain('[summary-long]');
  });
});
