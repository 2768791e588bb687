import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { anthropicProtocol } from './anthropicHandler';
import { validateConfig, validateFaults } from './config';
import { emptyCounters, snapshotCounters } from './counters';
import { FaultSchedule } from './faults';
import { ModelLimiter } from './limits';
import { openAIProtocol } from './openaiHandler';
import { handleChat, isAuthorized, sendJson, type PipelineContext } from './pipeline';
import type { Protocol } from './protocol';
import { createRandom } from './random';
import type { FakeClock, FakeModelConfig, FakeProvider, FakeProviderAddress, FakeProviderConfig, FakeProviderOptions, FaultRule } from './types';

const MAX_BODY_BYTES = 32 * 1024 * 1024;
const systemClock: FakeClock = { now: () => Date.now() };

const ROUTES: Record<string, Protocol> = {
  '/v1/chat/completions': openAIProtocol,
  '/chat/completions': openAIProtocol,
  '/v1/messages': anthropicProtocol,
  '/messages': anthropicProtocol,
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) req.destroy(new Error('request body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

class FakeProviderServer implements FakeProvider {
  readonly config: FakeProviderConfig;
  private readonly clock: FakeClock;
  private readonly seed: number;
  private epochMs: number;
  private state = emptyCounters();
  private schedule: FaultSchedule;
  private latencyRandom;
  private limiters = new Map<string, ModelLimiter>();
  private seq = 0;
  private server: Server | undefined;
  /** The `start()` in progress: a second call while it runs is refused instead of listening twice. */
  private starting: Promise<FakeProviderAddress> | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly inFlight = new Set<AbortController>();

  constructor(
    config: FakeProviderConfig,
    private readonly options: FakeProviderOptions,
  ) {
    this.config = validateConfig(config);
    this.clock = options.clock ?? systemClock;
    this.seed = this.config.seed ?? 1;
    this.epochMs = options.epochMs ?? this.clock.now();
    this.schedule = new FaultSchedule(this.config.faults ?? [], createRandom(this.seed));
    this.latencyRandom = createRandom((this.seed ^ 0x9e3779b9) >>> 0);
  }

  get counters() {
    return snapshotCounters(this.state);
  }

  elapsedSeconds(): number {
    return (this.clock.now() - this.epochMs) / 1000;
  }

  start(opts: { port?: number; host?: string } = {}): Promise<FakeProviderAddress> {
    if (this.server || this.starting) return Promise.reject(new Error('The fake provider is already started; call stop() first.'));
    const starting = this.listen(opts).finally(() => {
      this.starting = undefined;
    });
    this.starting = starting;
    return starting;
  }

  private async listen(opts: { port?: number; host?: string }): Promise<FakeProviderAddress> {
    if (this.options.epochMs === undefined) this.epochMs = this.clock.now();
    this.limiters.clear();
    const server = createServer((req, res) => void this.onRequest(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    const host = opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Once listening, an 'error' (e.g. EMFILE on accept) must not crash the process: report it as a
    // warning; the server keeps serving the connections it has.
    server.on('error', (err) => process.emitWarning(`llm-resilience fake provider: server error: ${err.message}`, { code: 'LLMR_FAKE_PROVIDER_SERVER_ERROR' }));
    this.server = server;
    const { port } = server.address() as AddressInfo;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    return { url, baseURL: `${url}/v1`, port };
  }

  async stop(): Promise<void> {
    if (this.starting) await this.starting.catch(() => undefined);
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const c of this.inFlight) c.abort(new Error('The fake provider was stopped.'));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  reset(): void {
    this.state = emptyCounters();
    this.seq = 0;
    this.limiters.clear();
    this.epochMs = this.clock.now();
    this.schedule = new FaultSchedule(this.schedule.rules, createRandom(this.seed));
    this.latencyRandom = createRandom((this.seed ^ 0x9e3779b9) >>> 0);
  }

  setFaults(faults: FaultRule[]): void {
    const rules = validateFaults(faults, this.config);
    this.config.faults = rules;
    this.schedule = new FaultSchedule(rules, createRandom(this.seed));
  }

  addFault(fault: FaultRule): void {
    const [rule] = validateFaults([fault], this.config);
    this.config.faults = [...(this.config.faults ?? []), rule!];
    this.schedule.add(rule!);
  }

  private context(): PipelineContext {
    return {
      config: this.config,
      clock: this.clock,
      epochMs: this.epochMs,
      seed: this.seed,
      counters: this.state,
      faults: this.schedule,
      latencyRandom: this.latencyRandom,
      limiter: (model: string, settings: FakeModelConfig) => {
        let l = this.limiters.get(model);
        if (!l) this.limiters.set(model, (l = new ModelLimiter(settings.limits, settings.provider ?? 'openai', this.epochMs)));
        return l;
      },
      nextId: () => ++this.seq,
    };
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const controller = new AbortController();
    this.inFlight.add(controller);
    res.on('close', () => {
      this.inFlight.delete(controller);
      if (!res.writableFinished) controller.abort(new Error('The client went away.'));
    });
    try {
      const path = (req.url ?? '/').split('?')[0]!;
      const protocol = ROUTES[path];
      if (req.method === 'GET' && (path === '/v1/models' || path === '/models')) {
        if (!isAuthorized(this.config, req)) {
          const { status, body } = openAIProtocol.error({ type: 'auth' });
          return sendJson(res, this.state, status, {}, body);
        }
        const names = Object.keys(this.config.models);
        return sendJson(res, this.state, 200, {}, { object: 'list', data: names.map((id) => ({ id, object: 'model', created: 0, owned_by: 'llm-resilience-fake' })) });
      }
      if (!protocol || req.method !== 'POST') {
        const p = protocol ?? (path.endsWith('/messages') ? anthropicProtocol : openAIProtocol);
        const { status, body } = p.error({ type: 'not_found', path: `${req.method} ${path}` });
        return sendJson(res, this.state, status, {}, body);
      }
      const raw = await readBody(req);
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      await handleChat(this.context(), req, res, protocol, body, controller.signal);
    } catch (err) {
      if (controller.signal.aborted || res.destroyed) return;
      if (!res.headersSent) sendJson(res, this.state, 500, {}, { error: { message: `fake provider bug: ${(err as Error).message}`, type: 'server_error', param: null, code: null } });
      else res.destroy();
    }
  }
}

/**
 * Creates a fake OpenAI/Anthropic-compatible provider from a scenario (validated; throws
 * `FakeProviderConfigError` listing every problem). Serves `POST /v1/chat/completions`,
 * `POST /v1/messages` and `GET /v1/models` over real sockets.
 *
 * @example
 * ```ts
 * const fake = createFakeProvider(
 *   { seed: 1, models: { 'fast-a': { contextWindow: 16_000, limits: { rpm: 2 } } }, faults: [] },
 *   { clock: new ManualClock(0) },
 * );
 * const { baseURL } = await fake.start();
 * const openai = new OpenAI({ apiKey: 'test', baseURL, maxRetries: 0 });
 * await openai.chat.completions.create({ model: 'fast-a', messages: [{ role: 'user', content: 'hi' }] });
 * fake.counters.requestsByModel['fast-a']; // 1
 * await fake.stop();
 * ```
 */
export function createFakeProvider(config: FakeProviderConfig, options: FakeProviderOptions = {}): FakeProvider {
  return new FakeProviderServer(config, options);
}
