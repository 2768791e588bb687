import { ResilienceError } from '../errors/ResilienceError';
import { scripted, setup } from './engineTestKit';

/** Names every plain object answers through its prototype: never a traffic class, route or target of a policy. */
const PROTOTYPE_NAMES = ['toString', 'constructor', '__proto__', 'hasOwnProperty'];

async function outcomeOf(p: Promise<{ record: { priority: string } }>) {
  return p.then(
    (r) => ({ ran: true as const, priority: r.record.priority }),
    (e: unknown) => ({ ran: false as const, error: e }),
  );
}

describe('Resilience: a request priority that is not a traffic class of the policy', () => {
  it.each(PROTOTYPE_NAMES)(
    "rejects priority '%s' (an Object.prototype name) with ERR_LLMR_UNKNOWN_PRIORITY instead of running the request",
    async (name) => {
      const { engine } = setup();
      const { fn, calls } = scripted({});
      const outcome = await outcomeOf(engine.execute({ route: 'chat', inputTokens: 10, priority: name }, fn));
      expect(outcome).toMatchObject({ ran: false });
      if (!outcome.ran) {
        expect(outcome.error).toBeInstanceOf(ResilienceError);
        expect(outcome.error).toMatchObject({ code: 'ERR_LLMR_UNKNOWN_PRIORITY', kind: 'invalid_request' });
      }
      expect(calls).toEqual([]);
    },
  );

  it.each(PROTOTYPE_NAMES)("rejects priority '%s' on an onExhausted: 'queue' route at once (no requeue wait without end)", async (name) => {
    const { engine, clock } = setup({}, { summary: { chain: ['long'], onExhausted: 'queue' } });
    const { fn, calls } = scripted({});
    const outcome = await outcomeOf(engine.execute({ route: 'summary', inputTokens: 10, priority: name }, fn));
    expect(outcome).toMatchObject({ ran: false, error: { code: 'ERR_LLMR_UNKNOWN_PRIORITY' } });
    expect(calls).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('still runs a request whose priority is a traffic class of the policy', async () => {
    const { engine } = setup();
    const { fn } = scripted({});
    await expect(outcomeOf(engine.execute({ route: 'chat', inputTokens: 10, priority: 'batch' }, fn))).resolves.toEqual({ ran: true, priority: 'batch' });
  });
});

describe('Resilience: a request route that is not a route of the policy', () => {
  it.each(PROTOTYPE_NAMES)("rejects route '%s' (an Object.prototype name) with ERR_LLMR_UNKNOWN_ROUTE instead of a TypeError", async (name) => {
    const { engine } = setup();
    const { fn, calls } = scripted({});
    const outcome = await outcomeOf(engine.execute({ route: name, inputTokens: 10 }, fn));
    expect(outcome).toMatchObject({ ran: false });
    if (!outcome.ran) {
      expect(outcome.error).toBeInstanceOf(ResilienceError);
      expect(outcome.error).toMatchObject({ code: 'ERR_LLMR_UNKNOWN_ROUTE', kind: 'invalid_request' });
    }
    expect(calls).toEqual([]);
  });
});
