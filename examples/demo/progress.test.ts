import { Progress, plainLine, type ProgressSnapshot } from './progress';

const snapshot: ProgressSnapshot = {
  scenarioS: 92,
  totalS: 210,
  realS: 15.3,
  phase: 'outage',
  done: 200,
  succeeded: 198,
  inFlight: 7,
  queued: 12,
  spendUsd: 0.4213,
  breakers: { mini: 'open', vault: 'closed' },
};

describe('progress display', () => {
  it('prints one plain line for logs (CI)', () => {
    expect(plainLine(snapshot)).toBe('[t= 92s/210s outage] 200 done, 99.0% ok, 7 in flight, queue 12, spend $0.4213, breakers mini=open');
    expect(plainLine({ ...snapshot, breakers: { vault: 'closed' } })).toMatch(/breakers all closed$/);
  });

  it('never shows 100.0% ok while a request failed', () => {
    expect(plainLine({ ...snapshot, done: 2000, succeeded: 1999 })).toContain(' 2000 done, 99.9% ok,');
    expect(plainLine({ ...snapshot, done: 2000, succeeded: 2000 })).toContain(' 2000 done, 100.0% ok,');
    expect(plainLine({ ...snapshot, done: 0, succeeded: 0 })).toContain(' 0 done, 100.0% ok,');
  });

  it('redraws a three-line block in place on a terminal, cut to its width', () => {
    let written = '';
    const p = new Progress({ out: { write: (c: string) => (written += c) }, tty: true, color: false, columns: 60, snapshot: () => snapshot, intervalMs: 60_000 });
    p.start();
    p.stop();
    const frames = written.split('\x1b[2A\r');
    expect(frames).toHaveLength(2);
    const lines = frames[1]!.replace(/\n$/, '').split('\n').map((l) => l.replace('\x1b[2K', ''));
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => l.length <= 59)).toBe(true);
    expect(lines[0]).toContain('outage');
    expect(lines[2]).toContain('mini OPEN');
  });
});
