import Redis from 'ioredis';
import { duplicateForSubscribe, isOutageError, notReadyReason, type RedisClient, type ScriptClient } from './redisClient';
import { RedisKeyError } from './RedisKeyError';

/** A stand-in with just what notReadyReason reads: ioredis' status and its reconnect attempt count. */
const client = (status: string, retryAttempts = 0) => ({ status, retryAttempts }) as unknown as ScriptClient;

describe('notReadyReason', () => {
  it("accepts only 'ready' once a client has been ready: every other status would queue the command", () => {
    const c = client('ready');
    expect(notReadyReason(c)).toBeUndefined();
    for (const status of ['close', 'reconnecting', 'connecting', 'connect', 'ready']) {
      (c as { status: string }).status = status;
      (c as unknown as { retryAttempts: number }).retryAttempts = status === 'ready' ? 0 : 1;
      expect(notReadyReason(c)?.message).toBe(status === 'ready' ? undefined : `Redis connection is ${status}`);
    }
    // Even where ioredis' attempt count says nothing (a client connected again by hand after disconnect()).
    (c as { status: string }).status = 'connecting';
    (c as unknown as { retryAttempts: number }).retryAttempts = 0;
    expect(notReadyReason(c)?.message).toBe('Redis connection is connecting');
  });

  it('waits for the first connection (wait, connecting, connect) unless told to refuse, and not once ioredis retries it', () => {
    for (const status of ['wait', 'connecting', 'connect']) {
      expect(notReadyReason(client(status))).toBeUndefined();
      expect(notReadyReason(client(status), 'refuse')?.message).toBe(`Redis connection is ${status}`);
      expect(notReadyReason(client(status, 1))?.message).toBe(`Redis connection is ${status}`);
    }
    for (const status of ['reconnecting', 'close', 'end', 'disconnecting']) expect(notReadyReason(client(status))?.message).toBe(`Redis connection is ${status}`);
  });
});

describe('isOutageError', () => {
  it('counts replies of a Redis that cannot serve writes as outages, not other error replies', () => {
    const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
    expect(isOutageError(reply("READONLY You can't write against a read only replica."))).toBe(true);
    expect(isOutageError(reply('MISCONF Redis is configured to save RDB snapshots'))).toBe(true);
    expect(isOutageError(reply('NOREPLICAS Not enough good replicas to write.'))).toBe(true);
    // maxmemory reached under noeviction: no write passes (the store waits for its probe, with backoff,
    // instead of refusing every reservation with a 1 ms retry hint).
    expect(isOutageError(reply("OOM command not allowed when used memory > 'maxmemory'."))).toBe(true);
    expect(isOutageError(reply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(false);
    expect(isOutageError(new Error('Connection is closed.'))).toBe(true);
    // Redis's answer to one reservation of a batch (a key holding what the store does not write).
    expect(isOutageError(new RedisKeyError(1, 'WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(false);
  });
});

describe('duplicateForSubscribe', () => {
  it('turns ioredis’ own resubscription off on a single-node duplicate (the syncs resubscribe, handling failures)', () => {
    const redis = new Redis({ lazyConnect: true, port: 1 });
    const sub = duplicateForSubscribe(redis) as Redis;
    try {
      expect(sub).not.toBe(redis);
      expect(sub.options.autoResubscribe).toBe(false);
      expect(sub.options.port).toBe(1); // the rest of the options kept
      expect(redis.options.autoResubscribe).toBe(true); // the application's client untouched
    } finally {
      sub.disconnect();
      redis.disconnect();
    }
  });

  it('duplicates a Cluster as it is', () => {
    const calls: unknown[][] = [];
    const twin = {} as RedisClient;
    const cluster = { isCluster: true, duplicate: (...args: unknown[]) => (calls.push(args), twin) } as unknown as RedisClient;
    expect(duplicateForSubscribe(cluster)).toBe(twin);
    expect(calls).toEqual([[]]);
  });
});
