import { ManualClock } from '@llm-resilience/core';
import { RedisHealth } from './RedisHealth';

function setup(results: boolean[]) {
  const clock = new ManualClock(1_000);
  const events: string[] = [];
  let probes = 0;
  const health = new RedisHealth({
    clock,
    initialBackoffMs: 100,
    maxBackoffMs: 400,
    probe: async () => {
      probes++;
      if (!results.shift()) throw new Error('still down');
    },
    onDown: (e) => events.push(`down:${(e as Error).message}`),
    onUp: (ms) => events.push(`up:${ms}`),
  });
  return { clock, health, events, probes: () => probes };
}

describe('RedisHealth', () => {
  it('starts up and never probes while up', async () => {
    const { health, probes } = setup([]);
    expect(health.state).toBe('up');
    expect(health.maybeProbe()).toBeUndefined();
    expect(probes()).toBe(0);
    expect(health.retryAfterMs).toBe(0);
  });

  it('goes down once, probes only after the backoff, doubling up to the maximum', async () => {
    const { clock, health, events, probes } = setup([false, false, false, true]);
    health.markDown(new Error('ECONNREFUSED'));
    health.markDown(new Error('again'));
    expect(events).toEqual(['down:ECONNREFUSED']);
    expect(health.retryAfterMs).toBe(100);

    expect(health.maybeProbe()).toBeUndefined();
    await clock.advance(100);
    await expect(health.maybeProbe()).resolves.toBe(false); // backoff now 200
    expect(health.retryAfterMs).toBe(200);
    await clock.advance(199);
    expect(health.maybeProbe()).toBeUndefined();
    await clock.advance(1);
    await expect(health.maybeProbe()).resolves.toBe(false); // 400
    await clock.advance(400);
    await expect(health.maybeProbe()).resolves.toBe(false); // capped at 400
    expect(health.retryAfterMs).toBe(400);
    await clock.advance(400);
    await expect(health.maybeProbe()).resolves.toBe(true);
    expect(health.state).toBe('up');
    expect(probes()).toBe(4);
    expect(events).toEqual(['down:ECONNREFUSED', 'up:1100']);
    expect((health.cause as Error).message).toBe('still down');
  });

  it('keeps doubling the backoff when Redis fails again within one backoff of a successful probe', async () => {
    // Probes pass, real work fails right after (a Redis that answers but cannot serve): no flapping at
    // the initial pace.
    const { clock, health, events } = setup([true, true, true, true]);
    health.markDown(new Error('READONLY'));
    expect(health.retryAfterMs).toBe(100);
    await clock.advance(100);
    await expect(health.maybeProbe()).resolves.toBe(true);
    await clock.advance(10);
    health.markDown(new Error('READONLY')); // up 10 ms < 100: relapse
    expect(health.retryAfterMs).toBe(200);
    await clock.advance(200);
    await expect(health.maybeProbe()).resolves.toBe(true);
    await clock.advance(199);
    health.markDown(new Error('READONLY')); // up 199 ms < 200
    expect(health.retryAfterMs).toBe(400);
    await clock.advance(400);
    await expect(health.maybeProbe()).resolves.toBe(true);
    health.markDown(new Error('READONLY'));
    expect(health.retryAfterMs).toBe(400); // capped at the maximum
    await clock.advance(400);
    await expect(health.maybeProbe()).resolves.toBe(true);
    // Up for at least one backoff: a new outage starts over.
    await clock.advance(400);
    health.markDown(new Error('ECONNRESET'));
    expect(health.retryAfterMs).toBe(100);
    expect(events.filter((e) => e.startsWith('down'))).toHaveLength(5);
  });

  it('never says 0 ms while down: a probe that is due, or running, answers no sooner than 1 ms', async () => {
    let answer!: (ok: boolean) => void;
    const clock = new ManualClock(1_000);
    const health = new RedisHealth({
      clock,
      initialBackoffMs: 100,
      maxBackoffMs: 400,
      probe: () => new Promise<void>((resolve, reject) => (answer = (ok) => (ok ? resolve() : reject(new Error('still down'))))),
    });
    health.markDown(new Error('ECONNREFUSED'));
    await clock.advance(100);
    expect(health.retryAfterMs).toBe(1); // due (was 0: callers honouring it retried in a hot loop)
    const probing = health.maybeProbe()!;
    await clock.advance(50);
    expect(health.retryAfterMs).toBe(1); // running, past its due time
    answer(false);
    await expect(probing).resolves.toBe(false);
    expect(health.retryAfterMs).toBe(200); // the next probe's time
    await clock.advance(250);
    expect(health.retryAfterMs).toBe(1); // overdue: still 1
  });

  it('runs one probe at a time', async () => {
    const { clock, health, probes } = setup([true]);
    health.markDown(new Error('x'));
    await clock.advance(100);
    const a = health.maybeProbe();
    const b = health.maybeProbe();
    expect(b).toBe(a);
    await expect(a).resolves.toBe(true);
    expect(probes()).toBe(1);
  });

  it('treats a probe that throws synchronously as a failed probe', async () => {
    const clock = new ManualClock(0);
    const health = new RedisHealth({
      clock,
      initialBackoffMs: 10,
      maxBackoffMs: 10,
      probe: () => {
        throw new Error('sync');
      },
    });
    health.markDown(new Error('x'));
    await clock.advance(10);
    await expect(health.maybeProbe()).resolves.toBe(false);
    expect(health.state).toBe('down');
  });
});
