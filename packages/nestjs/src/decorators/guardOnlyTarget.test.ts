import 'reflect-metadata';
import { createResilience, definePolicy, type RequestRecord, type ResolvedTarget } from '@llm-resilience/core';
import { Injectable, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ResilienceModule } from '../ResilienceModule';
import { runWithResilienceContext } from '../requestContext';
import { RateLimited } from './RateLimited';
import { Target } from './Target';

async function boot<T>(cls: Type<T>) {
  const engine = createResilience(
    definePolicy({
      targets: { a: { provider: 'openai', model: 'model-a' } },
      routes: { chat: { chain: ['a'] } },
    }),
  );
  const records: RequestRecord[] = [];
  engine.events.on('record', (r) => records.push(r));
  const moduleRef = await Test.createTestingModule({ imports: [ResilienceModule.forRoot({ engine })], providers: [cls] }).compile();
  await moduleRef.init();
  return { instance: moduleRef.get(cls), records, moduleRef };
}

@Injectable()
@RateLimited({ route: 'chat' })
class Asker {
  @RateLimited({ limits: [{ id: 'per-user', scope: ['user'], limit: 5, window: '1m' }] })
  async ask(@Target() target?: ResolvedTarget): Promise<string> {
    return target!.model;
  }
}

describe('guard-only @RateLimited on a method that declares @Target()', () => {
  // Only a call through the engine fills @Target() / @AttemptCtx(): such a method keeps the class route.
  it('keeps the class route and injects the target', async () => {
    const booted = await boot(Asker);
    try {
      await expect(runWithResilienceContext({ identity: { user: 'u1' } }, () => booted.instance.ask())).resolves.toBe('model-a');
      expect(booted.records.map((r) => r.route)).toEqual(['chat']);
    } finally {
      await booted.moduleRef.close();
    }
  });
});
