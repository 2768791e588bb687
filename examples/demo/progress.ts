import { formatSuccessRate } from './table';

/**
 * What the progress display shows at one moment.
 *
 * @example
 * ```ts
 * const s: ProgressSnapshot = { scenarioS: 92, totalS: 210, realS: 15.3, phase: 'outage', done: 812, succeeded: 801,
 *   inFlight: 37, queued: 41, spendUsd: 0.42, breakers: { mini: 'open', vault: 'closed' } };
 * ```
 */
export interface ProgressSnapshot {
  scenarioS: number;
  totalS: number;
  realS: number;
  phase: string;
  done: number;
  succeeded: number;
  inFlight: number;
  queued: number;
  spendUsd: number;
  /** Breaker state name by target id. */
  breakers: Record<string, string>;
}

/**
 * Options of {@link Progress}.
 *
 * @example
 * ```ts
 * new Progress({ out: process.stdout, tty: process.stdout.isTTY === true, snapshot: () => takeSnapshot() });
 * ```
 */
export interface ProgressOptions {
  out: { write(chunk: string): unknown };
  /** Redraw a block in place several times a second (true), or print a line every few seconds (false). */
  tty: boolean;
  /** ANSI colours (TTY only; off when `NO_COLOR` is set). Default: `tty`. */
  color?: boolean;
  snapshot: () => ProgressSnapshot;
  /** Real ms between updates. Default 250 on a TTY, 3000 otherwise. */
  intervalMs?: number;
  /** Terminal width; longer TTY lines are cut so the block can be redrawn in place. Default 100. */
  columns?: number;
}

const STATE_COLOR: Record<string, string> = { closed: '32', open: '31', 'half-open': '33', ramping: '36', paused: '35' };
const LINES = 3;

/**
 * The live progress display: on a TTY a three-line block redrawn in place (phase and progress bar;
 * requests, success rate, in flight, queue depth, spend; breaker state of every target), otherwise one
 * plain line every few seconds, which suits CI logs.
 *
 * @example
 * ```ts
 * const progress = new Progress({ out: process.stdout, tty: true, snapshot });
 * progress.start();
 * // ... run ...
 * progress.stop(); // draws the final state once more
 * ```
 */
export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;
  private readonly color: boolean;

  constructor(private readonly options: ProgressOptions) {
    this.color = options.color ?? options.tty;
  }

  start(): void {
    const every = this.options.intervalMs ?? (this.options.tty ? 250 : 3000);
    this.timer = setInterval(() => this.draw(), every);
    this.timer.unref();
    if (this.options.tty) this.draw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.draw();
    if (this.options.tty) this.options.out.write('\n');
  }

  private draw(): void {
    const s = this.options.snapshot();
    if (!this.options.tty) {
      this.options.out.write(plainLine(s) + '\n');
      return;
    }
    const columns = this.options.columns ?? 100;
    const lines = this.block(s).map((l) => fit(l, columns - 1));
    const up = this.drawn ? `\x1b[${LINES - 1}A\r` : '';
    this.drawn = true;
    this.options.out.write(up + lines.map((l) => `\x1b[2K${l}`).join('\n'));
  }

  private block(s: ProgressSnapshot): string[] {
    const c = (code: string, text: string) => (this.color ? `\x1b[${code}m${text}\x1b[0m` : text);
    const width = 24;
    const filled = Math.round((Math.min(s.scenarioS, s.totalS) / s.totalS) * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const ok = s.done > 0 ? (s.succeeded / s.done) * 100 : 100;
    const notClosed = Object.entries(s.breakers).filter(([, st]) => st !== 'closed');
    const closed = Object.keys(s.breakers).length - notClosed.length;
    const breakers = [
      ...notClosed.map(([id, st]) => `${id} ${c(STATE_COLOR[st] ?? '0', st.toUpperCase())}`),
      c(STATE_COLOR.closed!, notClosed.length === 0 ? `all ${closed} closed` : `${closed} closed`),
    ].join(c('2', ' · '));
    return [
      ` ${c('1', '▶')} t=${pad(s.scenarioS.toFixed(0), 3)}s/${s.totalS}s ${bar} ${c('1', s.phase.padEnd(10))} ${c('2', `(real ${s.realS.toFixed(1)}s)`)}`,
      `   ${s.done} done · ${c(ok >= 95 ? '32' : ok >= 85 ? '33' : '31', `${okText(s)} ok`)} · ${s.inFlight} in flight · batch queue ${s.queued} · spend $${s.spendUsd.toFixed(4)}`,
      `   breakers: ${breakers}`,
    ];
  }
}

/**
 * The non-TTY line.
 *
 * @example
 * ```ts
 * plainLine(s); // '[t= 92s/210s outage] 812 done, 98.6% ok, 37 in flight, queue 41, spend $0.4213, breakers mini=open'
 * ```
 */
export function plainLine(s: ProgressSnapshot): string {
  const notClosed = Object.entries(s.breakers).filter(([, st]) => st !== 'closed');
  return (
    `[t=${pad(s.scenarioS.toFixed(0), 3)}s/${s.totalS}s ${s.phase}] ${s.done} done, ${okText(s)} ok, ${s.inFlight} in flight, ` +
    `queue ${s.queued}, spend $${s.spendUsd.toFixed(4)}, breakers ${notClosed.length ? notClosed.map(([id, st]) => `${id}=${st}`).join(' ') : 'all closed'}`
  );
}

/** The success rate so far (`100.0%` before anything finished, never while a request failed). */
function okText(s: ProgressSnapshot): string {
  return formatSuccessRate(s.succeeded, s.done, '100.0%');
}

/** Cuts a line to `columns` visible characters (dropping its colours when it must be cut). */
function fit(line: string, columns: number): string {
  // eslint-disable-next-line no-control-regex
  const plain = line.replace(/\x1b\[[0-9;]*m/g, '');
  return plain.length <= columns ? line : plain.slice(0, Math.max(0, columns - 1)) + '…';
}

function pad(s: string, n: number): string {
  return s.padStart(n);
}
