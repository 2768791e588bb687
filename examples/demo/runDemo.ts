import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import OpenAI from 'openai';
import { createResilience, definePolicy, type RequestRecord, type Resilience } from '@llm-resilience/core';
import { createFakeProvider, createRandom, type FakeProvider, type FakeProviderCounters } from '@llm-resilience/testing';
import { Progress, type ProgressSnapshot } from './progress';
import { renderReport, type ReportData } from './report/html';
import { policySummary } from './report/policySummary';
import { buildScenario, DEFAULT_LIVE_MODELS, type DemoMode, type Scenario } from './scenario';
import { DemoStats, type BreakerTransition, type RouteRow } from './stats';
import { TimeLapseClock } from './timeLapseClock';
import { planArrivals, runTraffic, type TrafficState } from './traffic';

/**
 * Options of {@link runDemo}. Everything defaults from the environment, as `pnpm demo` uses it.
 *
 * @example
 * ```ts
 * await runDemo({ env: {}, scale: 0.2, reportPath: '/tmp/report.html', out: null });
 * ```
 */
export interface DemoOptions {
  /** Where `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `DEMO_MODELS`, `DEMO_MODE`, `DEMO_DURATION_SCALE`, `DEMO_REPORT` are read. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Overrides `DEMO_MODE` (default: `live` when `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set, else `fake`). */
  mode?: DemoMode;
  /** Overrides `DEMO_DURATION_SCALE` (default 1). */
  scale?: number;
  /** Overrides `DEMO_REPORT` (default `examples/demo/report.html`). */
  reportPath?: string;
  /** Progress output; `null` for none. Default `process.stdout`. */
  out?: { write(chunk: string): unknown; isTTY?: boolean; columns?: number } | null;
  /** Force the TTY display on or off. Default: `out.isTTY`. */
  tty?: boolean;
  /** Called with the scenario before any traffic is sent (e.g. to print its notes). */
  onStart?: (scenario: Scenario) => void;
}

/**
 * What a run produced.
 *
 * @example
 * ```ts
 * const r = await runDemo({ env: {}, scale: 0.2, out: null });
 * r.totals.success / r.totals.requests; // > 0.9
 * ```
 */
export interface DemoResult {
  scenario: Scenario;
  rows: RouteRow[];
  totals: RouteRow;
  transitions: BreakerTransition[];
  /** Absolute path of the HTML report. */
  reportPath: string;
  report: ReportData;
  realDurationMs: number;
  /** What each fake provider saw, by provider name (empty in live mode). */
  counters: Record<string, FakeProviderCounters>;
  /** Engine attempts by provider: all, and those of `restricted` requests. */
  attemptsByProvider: Record<string, number>;
  restrictedAttemptsByProvider: Record<string, number>;
  /** Engine attempts of `restricted` requests by target id. */
  restrictedAttemptsByTarget: Record<string, number>;
  /** Every request record the engine emitted. */
  records: RequestRecord[];
}

/**
 * Runs the whole demo: starts the fake providers (or connects to the real one), sends the
 * scenario's traffic through one engine, shows progress, and writes the HTML report.
 *
 * @example
 * ```ts
 * const result = await runDemo();
 * console.log(result.reportPath);
 * ```
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const env = options.env ?? process.env;
  const mode: DemoMode = options.mode ?? modeFrom(env);
  const scale = options.scale ?? (env.DEMO_DURATION_SCALE ? Number(env.DEMO_DURATION_SCALE) : 1);
  const models = env.DEMO_MODELS ? env.DEMO_MODELS.split(',').map((m) => m.trim()).filter(Boolean) : [...DEFAULT_LIVE_MODELS];
  const scenario = buildScenario({ mode, scale, models });
  options.onStart?.(scenario);
  const reportPath = resolve(options.reportPath ?? env.DEMO_REPORT ?? resolve(__dirname, 'report.html'));
  const out = options.out === undefined ? process.stdout : options.out;

  // Fake mode starts at the top of the current hour so minute and hour windows line up with the phases.
  const clock = new TimeLapseClock(scenario.speed, mode === 'fake' ? Math.floor(Date.now() / 3_600_000) * 3_600_000 : Date.now());
  const fakes: Record<string, FakeProvider> = {};
  const clients: Record<string, OpenAI> = {};
  let realStart = Date.now();
  try {
    if (mode === 'fake') {
      for (const [name, config] of Object.entries(scenario.providers)) {
        fakes[name] = createFakeProvider(config, { clock, epochMs: clock.startedAt });
        const { baseURL } = await fakes[name].start();
        clients[name] = new OpenAI({ apiKey: 'demo', baseURL, maxRetries: 0, timeout: 60_000 });
      }
    } else {
      clients.openai = new OpenAI({
        apiKey: env.OPENAI_API_KEY ?? 'not-needed',
        ...(env.OPENAI_BASE_URL ? { baseURL: env.OPENAI_BASE_URL } : {}),
        maxRetries: 0,
        timeout: 60_000,
      });
    }

    const policy = definePolicy(scenario.policy, { onWarning: () => undefined });
    // Retry budget: retries stay allowed while under ~20% of a provider's calls fail (default ~9%).
    const engine = createResilience(policy, { clock, random: createRandom(99), retryBudget: { maxTokens: 20, tokenRatio: 0.25 } });
    const routes = scenario.traffic.map((t) => t.route);
    const stats = new DemoStats({
      epochMs: clock.startedAt,
      durationS: scenario.durationS,
      bucketS: mode === 'fake' ? 5 : 2,
      routes,
      now: () => clock.now(),
    });
    const subscription = stats.attach(engine);
    const arrivals = planArrivals(scenario);
    for (const a of arrivals) stats.expect(a.id, a.spec.route);
    const state: TrafficState = { planned: arrivals.length, sent: 0, done: 0, succeeded: 0, inFlight: 0 };
    clock.restart(); // scenario t=0 is when traffic starts, not when the set-up began
    realStart = Date.now();

    const snapshot = (): ProgressSnapshot => {
      const now = clock.now();
      const queued = engine.scheduler.stats().queued;
      stats.sampleQueue(now, queued);
      const breakers = Object.fromEntries(scenario.targets.map((t) => [t.id, breakerName(engine, t.id, t.provider, now)]));
      const s = (now - clock.startedAt) / 1000;
      return {
        scenarioS: Math.min(s, scenario.durationS),
        totalS: scenario.durationS,
        realS: (Date.now() - realStart) / 1000,
        phase: scenario.phases.find((p) => s >= p.from && s < p.to)?.name ?? 'draining',
        done: state.done,
        succeeded: state.succeeded,
        inFlight: state.inFlight,
        queued,
        spendUsd: stats.records.reduce((sum, r) => sum + r.actual_cost, 0),
        breakers,
      };
    };
    const sampler = setInterval(() => stats.sampleQueue(clock.now(), engine.scheduler.stats().queued), 100);
    sampler.unref();
    const tty = options.tty ?? out?.isTTY === true;
    const progress = out
      ? new Progress({ out, tty, color: tty && !env.NO_COLOR, snapshot, ...(out.columns ? { columns: out.columns } : {}) })
      : undefined;
    // Fake mode: a busy machine slows the scenario down instead of inventing latency.
    const lagWatch = mode === 'fake' ? clock.watchLag() : undefined;
    progress?.start();
    try {
      await runTraffic({ scenario, arrivals, engine, clients, clock, state });
    } finally {
      lagWatch?.dispose();
      clearInterval(sampler);
      progress?.stop();
      subscription.dispose();
    }

    const counters = Object.fromEntries(Object.entries(fakes).map(([name, f]) => [name, f.counters]));
    const rows = stats.rows();
    const totals = stats.totals();
    const realDurationMs = Date.now() - realStart;
    const report: ReportData = {
      title: 'llm-resilience demo',
      generatedAt: new Date().toISOString(),
      scenario: {
        mode,
        speed: scenario.speed,
        scale: scenario.scale,
        durationS: scenario.durationS,
        phases: scenario.phases,
        notes: scenario.notes,
        traffic: scenario.traffic.map((t) => ({ route: t.route, description: t.description, dataClass: t.dataClass })),
      },
      realDurationMs,
      targets: scenario.targets.map((t) => {
        const p = policy.targets[t.id]!;
        return { ...t, price: p.price ?? { input: 0, output: 0 }, dataClasses: [...(p.dataClasses ?? [])] };
      }),
      rows,
      totals,
      series: stats.series(),
      transitions: stats.transitions,
      downgrades: stats.downgrades,
      breakerKeys: [...scenario.targets.map((t) => `target:${t.id}`), ...[...new Set(scenario.targets.map((t) => t.provider))].map((p) => `provider:${p}`)],
      counters,
      attemptsByProvider: stats.attemptsByProvider(),
      restrictedAttemptsByProvider: stats.attemptsByProvider('restricted'),
      restrictedAttemptsByTarget: stats.attemptsByTarget('restricted'),
      policy: policySummary(policy),
    };
    mkdirSync(dirname(reportPath), { recursive: true });
    writeFileSync(reportPath, renderReport(report));
    return {
      scenario,
      rows,
      totals,
      transitions: stats.transitions,
      reportPath,
      report,
      realDurationMs,
      counters,
      attemptsByProvider: report.attemptsByProvider,
      restrictedAttemptsByProvider: report.restrictedAttemptsByProvider,
      restrictedAttemptsByTarget: report.restrictedAttemptsByTarget,
      records: stats.records,
    };
  } finally {
    await Promise.all(Object.values(fakes).map((f) => f.stop()));
  }
}

function modeFrom(env: Record<string, string | undefined>): DemoMode {
  if (env.DEMO_MODE === 'fake' || env.DEMO_MODE === 'live') return env.DEMO_MODE;
  if (env.DEMO_MODE) throw new Error(`DEMO_MODE must be 'fake' or 'live', got '${env.DEMO_MODE}'.`);
  return env.OPENAI_API_KEY || env.OPENAI_BASE_URL ? 'live' : 'fake';
}

/** The state shown for a target: its provider's breaker when that one is not closed, else its own. */
function breakerName(engine: Resilience, targetId: string, provider: string, now: number): string {
  const own = engine.breakers.target(targetId);
  const prov = engine.breakers.provider(provider);
  own.advance(now);
  prov.advance(now);
  const o = own.state.state;
  const p = prov.state.state;
  return o !== 'closed' ? o : p;
}
