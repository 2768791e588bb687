import { once } from 'node:events';
import { connect as connectTcp } from 'node:net';
import { startIoDeadline } from './ioDeadline';
import { REDIS_URL } from '../test/redisTestUtils';

/** Keeps the process busy for `ms` (a synchronous step of the application: the event loop is blocked). */
function blockEventLoop(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // CPU-bound work
  }
}

describe('startIoDeadline', () => {
  afterEach(() => jest.useRealTimers());

  it('declares expiry after ms, once the loop has passed its I/O phase, and not once cancelled', () => {
    jest.useFakeTimers();
    const expired: string[] = [];
    startIoDeadline(100, () => expired.push('a'));
    const cancelB = startIoDeadline(100, () => expired.push('b'));
    const cancelC = startIoDeadline(100, () => expired.push('c'));
    cancelB();
    jest.advanceTimersByTime(100);
    expect(expired).toEqual([]); // the timers fired; the verdicts wait for the check phase
    cancelC(); // e.g. the reply was read in the I/O phase between
    jest.runOnlyPendingTimers();
    expect(expired).toEqual(['a']);
  });

  it('declares expiry promptly while the connection stays silent (the loop does not wait in its poll phase)', async () => {
    const url = new URL(REDIS_URL);
    const socket = connectTcp(Number(url.port || 6379), url.hostname); // open and idle: nothing to read
    try {
      await once(socket, 'connect');
      const started = Date.now();
      const expired = new Promise<number>((resolve) => startIoDeadline(10, () => resolve(Date.now() - started)));
      // A verdict held back in the poll phase would come only when the socket speaks: never here.
      let guardTimer: NodeJS.Timeout | undefined;
      const guard = new Promise<number>((resolve) => (guardTimer = setTimeout(() => resolve(Infinity), 200)));
      try {
        expect(await Promise.race([expired, guard])).toBeLessThan(200);
      } finally {
        clearTimeout(guardTimer);
      }
    } finally {
      socket.destroy();
    }
  });

  it('lets a reply that arrived while the event loop was blocked past the deadline be read first', async () => {
    // Redis is another process: it answers while this one is blocked.
    const url = new URL(REDIS_URL);
    const socket = connectTcp(Number(url.port || 6379), url.hostname);
    try {
      await once(socket, 'connect');
      const order: string[] = [];
      const cancel = startIoDeadline(10, () => order.push('deadline expired'));
      setTimeout(() => order.push('plain timer expired'), 10); // what a plain timer would decide
      const replied = once(socket, 'data').then(() => {
        order.push('reply read');
        cancel();
      });
      socket.write('PING\r\n');
      blockEventLoop(60); // Redis answers within a millisecond; the reply waits in the socket
      await replied;
      await new Promise((resolve) => setImmediate(resolve));
      // Node ran the expired timer before reading the socket; the deadline's verdict came after it.
      expect(order).toEqual(['plain timer expired', 'reply read']);
    } finally {
      socket.destroy();
    }
  });
});
