import { SentCallLog } from './SentCallLog';

describe('SentCallLog', () => {
  it('gives the calls sent strictly after a time, and forgets those at or before it', () => {
    const log = new SentCallLog<{ sentAt: number; id: string }>(60_000);
    for (const [sentAt, id] of [[100, 'a'], [200, 'b'], [300, 'c']] as const) log.add({ sentAt, id }, sentAt);
    expect(log.sentAfter(200).map((c) => c.id)).toEqual(['c']);
    expect(log.size).toBe(1);
    // Reports replacing it later are observed no earlier: what was dropped is not asked for again.
    expect(log.sentAfter(0).map((c) => c.id)).toEqual(['c']);
  });

  it('forgets calls sent longer ago than its horizon', () => {
    const log = new SentCallLog<{ sentAt: number }>(1_000);
    log.add({ sentAt: 0 }, 0);
    log.add({ sentAt: 500 }, 500);
    log.add({ sentAt: 1_200 }, 1_200);
    expect(log.sentAfter(-1).map((c) => c.sentAt)).toEqual([500, 1_200]);
  });

  it('holds at most 10 000 calls, dropping the oldest', () => {
    const log = new SentCallLog<{ sentAt: number }>(Infinity);
    for (let i = 0; i < 10_005; i++) log.add({ sentAt: i }, i);
    expect(log.size).toBe(10_000);
    expect(log.sentAfter(-1)[0]!.sentAt).toBe(5);
  });

  it('leaves out a call logged out of order (the clock went back) that is not after the report', () => {
    const log = new SentCallLog<{ sentAt: number }>(60_000);
    log.add({ sentAt: 500 }, 500);
    log.add({ sentAt: 400 }, 500);
    log.add({ sentAt: 700 }, 700);
    expect(log.sentAfter(450).map((c) => c.sentAt)).toEqual([500, 700]);
  });

  it('forgets the calls a report counts without returning the others', () => {
    const log = new SentCallLog<{ sentAt: number }>(60_000);
    for (const sentAt of [100, 200, 300]) log.add({ sentAt }, sentAt);
    log.forget(200);
    expect(log.size).toBe(1);
    expect(log.sentAfter(0).map((c) => c.sentAt)).toEqual([300]);
  });
});
