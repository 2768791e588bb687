import fc from 'fast-check';
import type { FaultKind, FaultRule } from '@llm-resilience/testing';
import { ChainExhaustedError, ManualClock, type PolicyInput, type RequestRecord } from '../src';
import { engineFor, startWorld, userMessage, type World } from './support';

const MODELS = ['m0', 'm1', 'm2', 'm3', 'm4'] as const;
const CLASSES = ['public', 'internal', 'restricted'] as const;
/** Faults that fail an attempt in the ways that make the engine retry, fall back or stop. */
const FAULTS: Array<FaultKind | 'none'> = ['none', 'none', 'overloaded_503', 'rate_limit', 'server_error_500', 'insufficient_quota', 'context_length', 'content_filter', 'auth'];

const arbScenario = fc.record({
  approvals: fc.tuple(
    ...MODELS.map(() => fc.option(fc.subarray([...CLASSES]), { nil: undefined })),
  ) as fc.Arbitrary<Array<string[] | undefined>>,
  chain: fc.shuffledSubarray([...MODELS], { minLength: 1, maxLength: 4 }),
  faults: fc.tuple(...MODELS.map(() => fc.constantFrom(...FAULTS))) as fc.Arbitrary<Array<FaultKind | 'none'>>,
  dataClass: fc.option(fc.constantFrom(...CLASSES), { nil: undefined }),
});

/**
 * Seed: "If the primary route uses a provider approved for sensitive data, the fallback provider should
 * meet the same requirements. Otherwise, a rate-limit event could accidentally send sensitive user
 * content to a provider that was never approved for that data type."
 *
 * Property: over random chains, approvals, fault patterns and data classes, no call with data class X
 * ever reaches a target not approved for X (checked at the fake provider and in the attempt records),
 * and when no approved target exists the request fails with ChainExhaustedError without any call.
 */
describe('restricted data never reaches an unapproved target (property)', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld(
      { models: Object.fromEntries(MODELS.map((m, i) => [m, { provider: i % 2 === 0 ? 'openai' : 'anthropic', contextWindow: 16_000 }] as const)) },
      new ManualClock(Date.UTC(2026, 0, 1)),
    );
  });
  afterAll(() => world.stop());

  it('holds for every chain, approval set, fault pattern and data class', async () => {
    await fc.assert(
      fc.asyncProperty(arbScenario, async ({ approvals, chain, faults, dataClass }) => {
        world.fake.reset();
        const rules: FaultRule[] = [];
        MODELS.forEach((m, i) => {
          const kind = faults[i]!;
          if (kind !== 'none') rules.push({ model: m, kind, ...(kind === 'rate_limit' ? { retryAfterSeconds: 0.05 } : {}) });
        });
        world.fake.setFaults(rules);
        const targets: PolicyInput['targets'] = {};
        MODELS.forEach((m, i) => {
          const dc = approvals[i];
          targets[m] = { provider: i % 2 === 0 ? 'openai' : 'anthropic', model: m, contextWindow: 16_000, ...(dc ? { dataClasses: dc } : {}) };
        });
        const approved = (m: string) => dataClass === undefined || (approvals[MODELS.indexOf(m as (typeof MODELS)[number])] ?? []).includes(dataClass);
        const { engine, events } = engineFor(world, {
          targets,
          routes: { r: { chain, retry: { backoff: { strategy: 'constant', delay: '10ms' } } } },
        });

        const outcome = await world.drive(
          engine.execute({ route: 'r', ...(dataClass ? { dataClass } : {}), maxOutputTokens: 50 }, world.call(userMessage('customer record #42'))).then(
            () => undefined,
            (e: unknown) => e,
          ),
        );

        // At the provider: only approved models of the chain were called.
        for (const [model, n] of Object.entries(world.fake.counters.requestsByModel)) {
          if (n > 0) {
            expect(chain).toContain(model);
            expect(approved(model)).toBe(true);
          }
        }
        // In the engine's record: every attempt went to an approved target.
        expect(events.record).toHaveLength(1);
        const record: RequestRecord = events.record[0]!;
        for (const a of record.attempts) expect(approved(a.target)).toBe(true);
        // Every unapproved target the chain walked past is listed as skipped for its data class.
        const lastTried = record.attempts.length > 0 ? chain.indexOf(record.attempts[record.attempts.length - 1]!.target as never) : chain.length - 1;
        for (const m of chain.slice(0, lastTried + 1)) {
          if (!approved(m)) expect(record.skipped).toContainEqual(expect.objectContaining({ target: m, reason: 'data_class' }));
        }
        for (const k of record.skipped.filter((x) => x.reason === 'data_class')) expect(approved(k.target)).toBe(false);

        if (!chain.some(approved)) {
          expect(outcome).toBeInstanceOf(ChainExhaustedError);
          expect(world.fake.counters.requests).toBe(0);
          expect(record.attempts).toEqual([]);
          expect(record.skipped.map((x) => x.reason)).toEqual(chain.map(() => 'data_class'));
        }
      }),
      { numRuns: 60 },
    );
  });
});
