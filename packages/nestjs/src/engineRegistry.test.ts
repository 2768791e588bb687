import 'reflect-metadata';
import { createResilience, definePolicy, type Resilience, type ResolvedTarget } from '@llm-resilience/core';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Fallback } from './decorators/Fallback';
import { RateLimited } from './decorators/RateLimited';
import { Target } from './decorators/Target';
import { activeServiceCount } from './engineRegistry';
import { runWithResilienceContext } from './requestContext';
import { ResilienceModule } from './ResilienceModule';
import { ResilienceService } from './ResilienceService';

@Injectable()
class Assistant {
  @RateLimited({ route: 'chat' })
  @Fallback({ chain: true })
  async answer(@Target() target?: ResolvedTarget): Promise<string> {
    return target!.model;
  }
}

function engineFor(model: string): Resilience {
  return createResilience(definePolicy({ targets: { a: { provider: 'openai', model } }, routes: { chat: { chain: ['a'] } } }));
}

async function app(engine: Resilience): Promise<TestingModule> {
  const m = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ engine })], providers: [Assistant] }).compile();
  return m.init();
}

describe('engine registry', () => {
  it('fails clearly when no application with ResilienceModule is running', async () => {
    expect(activeServiceCount()).toBe(0);
    await expect(new Assistant().answer()).rejects.toMatchObject({
      code: 'ERR_LLMR_NEST_NO_MODULE',
      message: expect.stringContaining('Assistant.answer is decorated with @RateLimited/@Fallback but no application with ResilienceModule is running'),
    });
  });

  it('keeps the engine of each application apart, and falls back to the only one for unbound instances', async () => {
    const one = await app(engineFor('model-one'));
    const two = await app(engineFor('model-two'));
    await expect(one.get(Assistant).answer()).resolves.toBe('model-one');
    await expect(two.get(Assistant).answer()).resolves.toBe('model-two');

    // Two applications: an instance nobody created is ambiguous, unless the request context or a binding names the engine.
    const stray = new Assistant();
    await expect(stray.answer()).rejects.toMatchObject({ code: 'ERR_LLMR_NEST_AMBIGUOUS_ENGINE' });
    await expect(runWithResilienceContext({ service: two.get(ResilienceService) }, () => stray.answer())).resolves.toBe('model-two');
    one.get(ResilienceService).bind(stray);
    await expect(stray.answer()).resolves.toBe('model-one');

    await two.close();
    expect(activeServiceCount()).toBe(1);
    await expect(new Assistant().answer()).resolves.toBe('model-one');
    await one.close();
    expect(activeServiceCount()).toBe(0);
  });

  it('checks the routes of bound instances', async () => {
    const m = await app(engineFor('m'));
    class Other {
      @RateLimited({ route: 'nope' })
      async x(): Promise<void> {}
    }
    expect(() => m.get(ResilienceService).bind(new Other())).toThrow(expect.objectContaining({ code: 'ERR_LLMR_NEST_UNKNOWN_ROUTE' }));
    await m.close();
  });
});
