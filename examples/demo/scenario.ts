/**
 * The demo's scenario: who sends what, the three fake providers with their limits and scripted
 * faults, and the policy that keeps the app working through them. Plain data, no I/O.
 *
 * Times are scenario seconds. In fake mode the scenario plays on a {@link TimeLapseClock} at
 * {@link BASE_SPEED}x, so a provider's per-minute limit resets every 10 real seconds.
 */
import { z } from 'zod';
import type { PolicyInput } from '@llm-resilience/core';
import type { FakeModelConfig, FakeProviderConfig } from '@llm-resilience/testing';

/**
 * Scenario seconds per real second at `DEMO_DURATION_SCALE=1`.
 *
 * @example
 * ```ts
 * new TimeLapseClock(BASE_SPEED / scale);
 * ```
 */
export const BASE_SPEED = 6;

/**
 * `fake`: in-process fake providers with scripted faults. `live`: a real OpenAI-compatible endpoint, gently.
 *
 * @example
 * ```ts
 * const mode: DemoMode = process.env.OPENAI_API_KEY ? 'live' : 'fake';
 * ```
 */
export type DemoMode = 'fake' | 'live';

/**
 * A stretch of the timeline with a name, for the progress line and the charts.
 *
 * @example
 * ```ts
 * const p: Phase = { name: 'outage', from: 75, to: 125, description: 'acme is down' };
 * ```
 */
export interface Phase {
  name: string;
  /** Scenario seconds, inclusive. */
  from: number;
  /** Scenario seconds, exclusive. */
  to: number;
  description: string;
}

/**
 * The routes the demo app calls.
 *
 * @example
 * ```ts
 * const route: DemoRoute = 'classify';
 * ```
 */
export type DemoRoute = 'chat' | 'support' | 'classify' | 'records' | 'analyst' | 'summarize';

/**
 * One kind of traffic: a route, how often it is called and what its prompts look like.
 *
 * @example
 * ```ts
 * const t: TrafficSpec = { route: 'chat', description: 'web chat', ratePerSecond: 3, dataClass: 'public',
 *   team: 'web', users: 60, promptTokens: [60, 500], maxOutputTokens: 200 };
 * ```
 */
export interface TrafficSpec {
  route: DemoRoute;
  description: string;
  /** Steady arrivals per scenario second (Poisson). */
  ratePerSecond: number;
  /** Extra requests arriving at once at scenario second `at`. */
  bursts?: { at: number; count: number }[];
  dataClass: string;
  team: string;
  tenant?: string;
  /** Distinct users sending this traffic. */
  users: number;
  /** Prompt size range in tokens (fake mode; live mode sends short prompts). */
  promptTokens: readonly [number, number];
  maxOutputTokens: number;
  /** The reply must be JSON matching {@link IntentSchema}. */
  structured?: boolean;
}

/**
 * The structured output of the `classify` route, validated by the engine on every reply.
 *
 * @example
 * ```ts
 * IntentSchema.parse({ intent: 'refund_request', urgency: 'high', language: 'es', summary: 'Damaged order' });
 * ```
 */
export const IntentSchema = z.strictObject({
  intent: z.enum(['order_status', 'refund_request', 'technical_issue', 'account', 'other']),
  urgency: z.enum(['low', 'medium', 'high']),
  language: z.string().min(2),
  summary: z.string().min(1),
});

/**
 * What {@link IntentSchema} accepts.
 *
 * @example
 * ```ts
 * const intent: Intent = { intent: 'order_status', urgency: 'low', language: 'en', summary: 'Where is my order?' };
 * ```
 */
export type Intent = z.infer<typeof IntentSchema>;

/**
 * Where a target of the policy is served, for the report.
 *
 * @example
 * ```ts
 * const w: TargetInfo = { id: 'mini', provider: 'acme', model: 'acme-mini', role: 'primary, cheap' };
 * ```
 */
export interface TargetInfo {
  id: string;
  provider: string;
  model: string;
  role: string;
}

/**
 * Everything the demo runs: timeline, traffic, fake providers and policy.
 *
 * @example
 * ```ts
 * const s = buildScenario({ mode: 'fake', scale: 1 });
 * s.durationS / s.speed; // real seconds of traffic (35)
 * ```
 */
export interface Scenario {
  mode: DemoMode;
  /** Scenario ms per real ms (1 in live mode). */
  speed: number;
  /** `DEMO_DURATION_SCALE`: traffic volumes and limits are multiplied by it, `speed` divided by it. */
  scale: number;
  /** Scenario seconds of traffic. */
  durationS: number;
  /** Longest scenario time to wait for queued and in-flight work after the traffic stops. */
  drainS: number;
  phases: Phase[];
  traffic: TrafficSpec[];
  /** Fake providers by name (empty in live mode). */
  providers: Record<string, FakeProviderConfig>;
  targets: TargetInfo[];
  policy: PolicyInput;
  /** Lines printed before the run (compressed time, what to expect). */
  notes: string[];
}

/**
 * Options of {@link buildScenario}.
 *
 * @example
 * ```ts
 * buildScenario({ mode: 'live', scale: 1, models: ['gpt-4o-mini', 'gpt-4.1-mini', 'gpt-4.1'] });
 * ```
 */
export interface ScenarioOptions {
  mode: DemoMode;
  /** 0 < scale <= 1 (values above 1 make a longer, busier run). */
  scale: number;
  /** Live mode: [cheap, backup, premium] model names. */
  models?: readonly string[];
}

/**
 * Default live models: cheap, backup, premium (override with `DEMO_MODELS`).
 *
 * @example
 * ```ts
 * buildScenario({ mode: 'live', scale: 1, models: DEFAULT_LIVE_MODELS });
 * ```
 */
export const DEFAULT_LIVE_MODELS = ['gpt-4o-mini', 'gpt-4.1-mini', 'gpt-4.1'] as const;

/** USD per 1M tokens of the models the live mode knows; unknown models are priced at `LIVE_DEFAULT_PRICE`. */
const LIVE_PRICES: Record<string, { input: number; output: number }> = {
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1': { input: 2, output: 8 },
};
const LIVE_DEFAULT_PRICE = { input: 1, output: 4 };

const PHASES: Phase[] = [
  { name: 'normal', from: 0, to: 35, description: 'all providers healthy; a batch summarization flood lands at t=30s' },
  { name: 'throttling', from: 35, to: 75, description: 'acme throttles: 20% of acme-mini calls get 429 + Retry-After, on top of its own RPM/TPM limits' },
  { name: 'outage', from: 75, to: 125, description: 'acme is down: 503s and connection resets on every model' },
  { name: 'recovery', from: 125, to: 165, description: 'acme is back: breakers probe it, then ramp traffic up; citadel throttles briefly (t=140-155s)' },
  { name: 'steady', from: 165, to: 210, description: 'all healthy; the second batch wave drains' },
];

const TRAFFIC: TrafficSpec[] = [
  { route: 'chat', description: 'live web chat', ratePerSecond: 3, dataClass: 'public', team: 'web', users: 60, promptTokens: [60, 500], maxOutputTokens: 200 },
  { route: 'support', description: 'support replies (premium fallback under a cost ceiling)', ratePerSecond: 1.2, dataClass: 'internal', team: 'support', users: 40, promptTokens: [250, 2400], maxOutputTokens: 300 },
  { route: 'classify', description: 'intent classification, JSON validated with zod', ratePerSecond: 1, dataClass: 'internal', team: 'support', users: 40, promptTokens: [80, 400], maxOutputTokens: 150, structured: true },
  { route: 'records', description: "HR case notes: 'restricted', citadel only", ratePerSecond: 0.5, dataClass: 'restricted', team: 'hr', users: 15, promptTokens: [200, 900], maxOutputTokens: 250 },
  { route: 'analyst', description: 'premium analysis under a spend budget', ratePerSecond: 0.4, dataClass: 'internal', team: 'analytics', users: 8, promptTokens: [800, 1600], maxOutputTokens: 350 },
  {
    route: 'summarize',
    description: 'batch summarization flood (queued)',
    ratePerSecond: 0,
    bursts: [{ at: 30, count: 60 }, { at: 135, count: 40 }],
    dataClass: 'internal',
    team: 'docs',
    users: 3,
    promptTokens: [2000, 5000],
    maxOutputTokens: 400,
  },
];

/** Live mode: a handful of requests per route, a few seconds apart (times scaled), one phase, no faults. */
function liveTraffic(scale: number): TrafficSpec[] {
  return TRAFFIC.map((t, i) => ({
    ...t,
    ratePerSecond: 0,
    bursts: [{ at: Math.round((1 + i * 4) * scale * 10) / 10, count: t.route === 'chat' ? 4 : t.route === 'summarize' ? 2 : 3 }],
    maxOutputTokens: t.structured ? 120 : 80,
  }));
}

/**
 * Builds the scenario for a mode and scale.
 *
 * @example
 * ```ts
 * const s = buildScenario({ mode: 'fake', scale: 0.2 }); // 5x faster, a fifth of the traffic
 * ```
 */
export function buildScenario(options: ScenarioOptions): Scenario {
  const scale = options.scale;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`DEMO_DURATION_SCALE must be a positive number, got ${scale}.`);
  return options.mode === 'live' ? liveScenario(scale, options.models ?? DEFAULT_LIVE_MODELS) : fakeScenario(scale);
}

function fakeScenario(scale: number): Scenario {
  const speed = BASE_SPEED / scale;
  const n = (x: number) => Math.max(1, Math.round(x * scale));
  /** Latency given in scenario ms; the fake sleeps real ms. */
  const lat = (p50: number, p95: number) => ({ distribution: { p50: Math.max(1, Math.round(p50 / speed)), p95: Math.max(2, Math.round(p95 / speed)) } });
  const model = (m: FakeModelConfig): FakeModelConfig => m;

  const providers: Record<string, FakeProviderConfig> = {
    acme: {
      seed: 11,
      models: {
        'acme-mini': model({ contextWindow: 128_000, maxOutputTokens: 4096, replyTokens: 110, limits: { rpm: n(300), tpm: n(220_000) }, latency: lat(450, 1100) }),
        'acme-pro': model({ contextWindow: 128_000, maxOutputTokens: 4096, replyTokens: 280, limits: { rpm: n(40), tpm: n(80_000) }, latency: lat(1400, 3000) }),
        'acme-long': model({ contextWindow: 1_000_000, maxOutputTokens: 8192, replyTokens: 320, limits: { rpm: n(90), tpm: n(250_000) }, latency: lat(2500, 5000) }),
      },
      faults: [
        { model: 'acme-mini', from: 35, to: 75, kind: 'rate_limit', probability: 0.2, retryAfterSeconds: 1 },
        { model: '*', from: 75, to: 125, kind: 'connection_reset', probability: 0.35 },
        { model: '*', from: 75, to: 125, kind: 'overloaded_503' },
      ],
    },
    borealis: {
      seed: 22,
      models: {
        'swift-2': model({ provider: 'anthropic', contextWindow: 200_000, replyTokens: 120, limits: { rpm: n(400), itpm: n(400_000), otpm: n(80_000) }, latency: lat(600, 1400) }),
        'borealis-max': model({ provider: 'anthropic', contextWindow: 200_000, replyTokens: 260, limits: { rpm: n(60) }, latency: lat(1600, 3200) }),
        'swift-long': model({ provider: 'anthropic', contextWindow: 200_000, replyTokens: 300, limits: { rpm: n(60), itpm: n(300_000) }, latency: lat(2800, 5500) }),
      },
      // The structured-output fallback: a quarter of its JSON replies are not JSON.
      faults: [{ model: 'swift-2', kind: 'invalid_json_reply', probability: 0.25 }],
    },
    citadel: {
      seed: 33,
      models: {
        'vault-1': model({ contextWindow: 64_000, replyTokens: 150, limits: { rpm: n(45), tpm: n(60_000) }, latency: lat(500, 1200) }),
      },
      faults: [{ model: 'vault-1', from: 140, to: 155, kind: 'rate_limit', probability: 0.35, retryAfterSeconds: 2 }],
    },
  };

  const targets: TargetInfo[] = [
    { id: 'mini', provider: 'acme', model: 'acme-mini', role: 'primary, cheap' },
    { id: 'pro', provider: 'acme', model: 'acme-pro', role: 'premium' },
    { id: 'long', provider: 'acme', model: 'acme-long', role: 'long context (batch)' },
    { id: 'mini-backup', provider: 'borealis', model: 'swift-2', role: 'backup, cheap (sometimes invalid JSON)' },
    { id: 'pro-backup', provider: 'borealis', model: 'borealis-max', role: 'premium backup, the dearest' },
    { id: 'long-backup', provider: 'borealis', model: 'swift-long', role: 'long context backup' },
    { id: 'vault', provider: 'citadel', model: 'vault-1', role: "the only provider approved for 'restricted'" },
  ];

  return {
    mode: 'fake',
    speed,
    scale,
    durationS: 210,
    drainS: 90,
    phases: PHASES,
    traffic: TRAFFIC.map((t) => ({
      ...t,
      ratePerSecond: t.ratePerSecond * scale,
      ...(t.bursts ? { bursts: t.bursts.map((b) => ({ at: b.at, count: n(b.count) })) } : {}),
    })),
    providers,
    targets,
    policy: policyFor(
      targets,
      prices('fake'),
      { docsTokensPerMinute: Math.max(20_000, Math.round(150_000 * scale)), premiumBudgetUsd: 0.6 * scale },
      // No slow-provider phase here, so timeouts are generous: at 6-60x compression a busy machine's
      // event-loop lag would otherwise turn into scenario-time timeouts.
      '120s',
    ),
    notes: [
      `Compressed time: ${speed}x. 1 real second = ${speed} scenario seconds, so per-minute limits reset every ${(60 / speed).toFixed(1)} real seconds;`,
      `  limits, Retry-After hints, breaker periods and latencies below are in scenario time (${PHASES.at(-1)!.to} s of scenario in ~${Math.round(PHASES.at(-1)!.to / speed)} s).`,
      scale !== 1 ? `  DEMO_DURATION_SCALE=${scale}: traffic volumes, limits and budgets are multiplied by ${scale}.` : '',
    ].filter(Boolean),
  };
}

function liveScenario(scale: number, models: readonly string[]): Scenario {
  const [cheap, backup, premium] = [models[0] ?? DEFAULT_LIVE_MODELS[0], models[1] ?? models[0] ?? DEFAULT_LIVE_MODELS[1], models[2] ?? models[1] ?? models[0] ?? DEFAULT_LIVE_MODELS[2]];
  const targets: TargetInfo[] = [
    { id: 'mini', provider: 'openai', model: cheap, role: 'primary, cheap' },
    { id: 'pro', provider: 'openai', model: premium, role: 'premium' },
    { id: 'long', provider: 'openai', model: cheap, role: 'long context (batch)' },
    { id: 'mini-backup', provider: 'openai', model: backup, role: 'backup' },
    { id: 'pro-backup', provider: 'openai', model: premium, role: 'premium backup' },
    { id: 'long-backup', provider: 'openai', model: backup, role: 'long context backup' },
    { id: 'vault', provider: 'openai', model: cheap, role: "the only target approved for 'restricted'" },
  ];
  const traffic = liveTraffic(scale);
  const durationS = Math.ceil(Math.max(...traffic.flatMap((t) => (t.bursts ?? []).map((b) => b.at))) + 5 * scale);
  return {
    mode: 'live',
    speed: 1,
    scale,
    durationS,
    drainS: 60,
    phases: [{ name: 'live', from: 0, to: durationS, description: 'a real provider at a gentle rate, no faults injected' }],
    traffic,
    providers: {},
    targets,
    // A tiny premium budget so the downgrade shows after a couple of premium calls.
    policy: policyFor(targets, prices('live'), { docsTokensPerMinute: 200_000, premiumBudgetUsd: 0.002 }, '30s'),
    notes: [
      `Live mode: real time, models ${cheap} / ${backup} / ${premium} (cheap / backup / premium), ${traffic.reduce((n, t) => n + (t.bursts?.[0]?.count ?? 0), 0)} requests, no faults injected.`,
      '  Costs use list prices for known models (unknown models: $1 / $4 per 1M tokens).',
    ],
  };
}

function prices(mode: DemoMode): (t: TargetInfo) => { input: number; output: number } {
  if (mode === 'live') return (t) => LIVE_PRICES[t.model] ?? LIVE_DEFAULT_PRICE;
  const table: Record<string, { input: number; output: number }> = {
    mini: { input: 0.15, output: 0.6 },
    pro: { input: 5, output: 20 },
    long: { input: 0.3, output: 1.2 },
    'mini-backup': { input: 0.25, output: 1.25 },
    'pro-backup': { input: 3, output: 15 },
    'long-backup': { input: 0.5, output: 2 },
    vault: { input: 0.6, output: 2.4 },
  };
  return (t) => table[t.id]!;
}

/** The policy: same shape in both modes; only models, prices and volumes differ. */
function policyFor(
  targets: TargetInfo[],
  priceOf: (t: TargetInfo) => { input: number; output: number },
  volumes: { docsTokensPerMinute: number; premiumBudgetUsd: number },
  /** Per-attempt timeout and slow-call threshold. */
  timeout: string,
): PolicyInput {
  const approved: Record<string, string[]> = { vault: ['public', 'internal', 'restricted'] };
  const windowOf: Record<string, number> = { mini: 128_000, pro: 128_000, long: 1_000_000, vault: 64_000 };
  return {
    targets: Object.fromEntries(
      targets.map((t) => [
        t.id,
        {
          provider: t.provider,
          model: t.model,
          contextWindow: windowOf[t.id] ?? 200_000,
          price: priceOf(t),
          dataClasses: approved[t.id] ?? ['public', 'internal'],
        },
      ]),
    ),
    routes: {
      chat: { chain: ['mini', 'mini-backup'], priority: 'live', timeout, audience: 'customer' },
      // Customer impact is high: the premium backup is the first fallback, but only for tickets
      // whose worst-case cost stays under the ceiling; longer ones go to the cheap backup.
      support: { chain: ['mini', 'pro-backup', 'mini-backup'], priority: 'live', timeout, costCeilingUsd: 0.008 },
      classify: { chain: ['mini', 'mini-backup'], priority: 'live', timeout, output: IntentSchema, onInvalidOutput: 'retry-stricter' },
      // 'restricted' requests may only run on `vault`: `mini` is listed but never approved, so it is
      // skipped. With nowhere else to go, this route waits longer for vault's limits and hints.
      records: { chain: ['vault', 'mini'], priority: 'live', timeout, audience: 'internal', retry: { maxHint: '10s', maxLimiterWait: '10s' } },
      analyst: { chain: ['pro', 'pro-backup'], priority: 'live', timeout, audience: 'internal' },
      analyst_economy: { chain: ['mini', 'mini-backup'], priority: 'live', timeout, audience: 'internal' },
      summarize: { chain: ['long', 'long-backup'], priority: 'batch', timeout, audience: 'internal' },
    },
    limits: [
      { id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 30, window: '1m' },
      // The batch team may use this many tokens a minute: the flood waits in the queue, live traffic does not.
      { id: 'docs-tpm', scope: ['team'], match: { team: 'docs' }, metric: 'totalTokens', limit: volumes.docsTokensPerMinute, window: '1m' },
    ],
    budgets: [
      // Premium spend of the analytics team: past half of it, requests are downgraded to the economy route.
      { id: 'analytics-premium', scope: ['team'], match: { team: 'analytics' }, limitUsd: volumes.premiumBudgetUsd, window: '1h', downgradeAt: 0.5, downgradeTo: 'analyst_economy' },
    ],
    breaker: { window: '20s', errorRate: 0.2, minimumCalls: 10, consecutiveFailures: 5, openFor: '8s', halfOpenProbes: 2, rampUp: '15s', slowCall: timeout },
  };
}
