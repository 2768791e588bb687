import 'reflect-metadata';
import { createResilience, definePolicy } from '@llm-resilience/core';
import type { DiscoveryService } from '@nestjs/core';
import { ResilienceService } from './ResilienceService';

const policy = definePolicy({ targets: { a: { provider: 'openai', model: 'm-a' } }, routes: { chat: { chain: ['a'] } } });
const discovery = { getProviders: () => [], getControllers: () => [] } as unknown as DiscoveryService;

describe('ResilienceService shutdown hooks', () => {
  afterEach(() => jest.useRealTimers());

  it('arms the drain deadline once, also when Nest runs the hooks twice (a second close, a signal during one), and clears it', async () => {
    jest.useFakeTimers();
    const engine = createResilience(policy);
    const service = new ResilienceService(engine, { policy, drainTimeoutMs: 60_000 }, discovery);
    service.beforeApplicationShutdown();
    service.beforeApplicationShutdown();
    expect(jest.getTimerCount()).toBe(1);
    await service.onApplicationShutdown();
    await service.onApplicationShutdown();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('stops the engine when the deadline passes, before the last hook', async () => {
    jest.useFakeTimers();
    const engine = createResilience(policy);
    const service = new ResilienceService(engine, { policy, drainTimeoutMs: 5_000 }, discovery);
    service.beforeApplicationShutdown();
    const open = await engine.execute({ route: 'chat' }, async () => 'x');
    expect(open.value).toBe('x');
    await jest.advanceTimersByTimeAsync(5_000);
    await expect(engine.execute({ route: 'chat' }, async () => 'x')).rejects.toMatchObject({ code: 'ERR_LLMR_SHUT_DOWN' });
    await service.onApplicationShutdown();
  });

  it('leaves an engine it was given alone', async () => {
    jest.useFakeTimers();
    const engine = createResilience(policy);
    const service = new ResilienceService(engine, { engine, drainTimeoutMs: 5_000 }, discovery);
    service.beforeApplicationShutdown();
    expect(jest.getTimerCount()).toBe(0);
    await service.onApplicationShutdown();
    expect((await engine.execute({ route: 'chat' }, async () => 'x')).value).toBe('x');
  });
});
