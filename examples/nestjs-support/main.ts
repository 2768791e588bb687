/**
 * nestjs-support: a NestJS support-reply service whose model calls run through one llm-resilience
 * engine. A ticket gets a structured reply (intent, urgency, language, summary, reply) validated
 * against a zod schema; the reply walks a three-model chain on outages, rate limits and invalid JSON,
 * and a canned reply answers when no model can.
 *
 * Runs against the fake provider by default; set OPENAI_API_KEY to use OpenAI instead
 * (gpt-4o-mini, then gpt-4.1-mini, then gpt-4o).
 *
 *   npx tsx examples/nestjs-support/main.ts        # then see the printed curl command
 *   PORT=4000 OPENAI_API_KEY=sk-... npx tsx examples/nestjs-support/main.ts
 */
import 'reflect-metadata';
import {
  createResilience,
  definePolicy,
  toLogRecord,
  type AttemptContext,
  type Policy,
  type Resilience,
  type ResolvedTarget,
} from '@llm-resilience/core';
import {
  AttemptCtx,
  Fallback,
  RateLimited,
  ResilienceExceptionFilter,
  ResilienceGuard,
  ResilienceInterceptor,
  ResilienceModule,
  Target,
} from '@llm-resilience/nestjs';
import { createFakeProvider, type FakeProvider } from '@llm-resilience/testing';
import { BadRequestException, Body, Controller, Inject, Injectable, Logger, Module, Post, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import OpenAI from 'openai';
import { z } from 'zod';

// ------------------------------------------------------------------ the structured output

/** What every model of the chain must answer: the seed's structured-output example plus the reply text. */
export const SupportReplySchema = z.strictObject({
  intent: z.enum(['order_status', 'refund_request', 'complaint', 'other']),
  urgency: z.enum(['low', 'medium', 'high']),
  language: z.string().min(2).max(8),
  summary: z.string().max(300),
  reply: z.string().min(1),
});

/** A validated support reply. */
export type SupportReply = z.infer<typeof SupportReplySchema>;

/** The same schema as JSON Schema, for the provider's `response_format`. */
const SUPPORT_REPLY_JSON_SCHEMA = z.toJSONSchema(SupportReplySchema) as Record<string, unknown>;

/** A customer's ticket. */
export interface SupportTicket {
  customerId: string;
  message: string;
}

/** What customers get when no model can answer right now (no provider names, no quota numbers). */
export const CANNED_REPLY: Omit<SupportReply, 'language'> = {
  intent: 'other',
  urgency: 'medium',
  summary: 'Automatic reply: no model was available.',
  reply: 'Thanks for your message. We are a bit busy right now; a person from our team will answer you shortly.',
};

// ------------------------------------------------------------------ the policy

/** The three models of the chain, by role. */
export interface SupportModels {
  primary: string;
  backup: string;
  premium: string;
}

/**
 * The policy: one route with a three-model chain (a balanced model, a similar one, a premium one, as
 * the seed's table advises for customer support), structured output validated with the zod schema
 * (one stricter retry, then the next model), per-customer and per-model limits.
 */
export function supportPolicy(models: SupportModels): Policy {
  return definePolicy({
    targets: {
      primary: { provider: 'openai', model: models.primary, contextWindow: 128_000, price: { input: 0.15, output: 0.6 } },
      backup: { provider: 'openai', model: models.backup, contextWindow: 128_000, price: { input: 0.4, output: 1.6 } },
      premium: { provider: 'openai', model: models.premium, contextWindow: 128_000, price: { input: 2.5, output: 10 } },
    },
    routes: {
      support_reply: {
        chain: ['primary', 'backup', 'premium'],
        priority: 'live',
        timeout: '20s',
        audience: 'customer',
        output: SupportReplySchema,
        onInvalidOutput: 'retry-stricter',
        retry: { backoff: { strategy: 'exponential', base: '200ms', max: '2s' } },
      },
    },
    limits: [
      { id: 'customer-rpm', scope: ['user'], metric: 'requests', limit: 20, window: '1m' },
      { id: 'model-tpm', scope: ['model'], metric: 'totalTokens', limit: 400_000, window: '1m' },
    ],
  });
}

// ------------------------------------------------------------------ the Nest application

/** Injection token of the OpenAI SDK client. */
export const OPENAI = Symbol('OPENAI');

/**
 * The support service. Constructor parameters use explicit `@Inject` so the example also runs under
 * tsx/esbuild, which emit no decorator metadata.
 */
@Injectable()
export class SupportService {
  private readonly logger = new Logger(SupportService.name);

  constructor(@Inject(OPENAI) private readonly openai: OpenAI) {}

  /**
   * The public API: a validated structured reply, or the canned reply when every model is busy or
   * down (`@Fallback` without a route guards the method itself, resilience4j style).
   */
  // Capacity and reliability failures, invalid JSON on every model, and `unknown` (provider 500s, and
  // every model skipped while their circuit breakers are open). Policy rejections still fail.
  @Fallback({ method: 'cannedReply', on: ['rate_limited', 'overloaded', 'timeout', 'network', 'quota_exhausted', 'validation_failed', 'unknown'] })
  async reply(ticket: SupportTicket): Promise<SupportReply> {
    const json = await this.draft(ticket);
    // The engine already validated this JSON against the route's schema; parse it into the type.
    return SupportReplySchema.parse(JSON.parse(json));
  }

  /**
   * One model call per attempt: the engine admits the call against the customer's limits, then tries
   * the chain's models in turn (`@Target()` says which), retrying stricter when the JSON does not
   * match the schema.
   */
  @RateLimited({
    route: 'support_reply',
    key: (ticket: SupportTicket) => ticket.customerId,
    input: (ticket: SupportTicket) => ({ messages: [{ role: 'user', content: ticket.message }] }),
    maxOutputTokens: 400,
  })
  @Fallback({ chain: true })
  async draft(ticket: SupportTicket, @Target() target?: ResolvedTarget, @AttemptCtx() ctx?: AttemptContext): Promise<string> {
    const system =
      'You answer customer support tickets. Reply with JSON only: intent, urgency, language (ISO code of the ticket), ' +
      'a one-sentence summary and the reply to send to the customer.' +
      (ctx!.repair ? ` Your previous answer was rejected (${ctx!.repair.reason}); follow the JSON schema exactly.` : '');
    const completion = await this.openai.chat.completions.create(
      {
        model: target!.model,
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: ticket.message },
        ],
        max_tokens: ctx!.maxOutputTokens,
        response_format: { type: 'json_schema', json_schema: { name: 'support_reply', schema: SUPPORT_REPLY_JSON_SCHEMA, strict: true } },
      },
      { signal: ctx!.signal },
    );
    // Real usage settles the reservation; the text is what the engine validates.
    ctx!.reportUsage({ inputTokens: completion.usage?.prompt_tokens ?? 0, outputTokens: completion.usage?.completion_tokens ?? 0 });
    return completion.choices[0]?.message.content ?? '';
  }

  /** The fallback of `reply`: same parameters, then the error. */
  cannedReply(ticket: SupportTicket, error: unknown): SupportReply {
    this.logger.warn(`canned reply for a ticket of ${ticket.customerId}: ${(error as { code?: string }).code ?? 'error'}`);
    return { ...CANNED_REPLY, language: 'en' };
  }
}

/** The HTTP endpoint. Guard, interceptor and filter are registered globally in {@link supportModule}. */
@Controller('support')
export class SupportController {
  constructor(@Inject(SupportService) private readonly support: SupportService) {}

  @Post('tickets')
  async answer(@Body() body: Partial<SupportTicket> | undefined): Promise<SupportReply> {
    if (typeof body?.customerId !== 'string' || typeof body.message !== 'string' || body.message === '') {
      throw new BadRequestException('Send { "customerId": "...", "message": "..." }.');
    }
    return this.support.reply({ customerId: body.customerId, message: body.message });
  }
}

/** Who a request is for: the `x-customer-id` header here; use your authentication instead. */
function customerOf(ctx: ExecutionContext) {
  const id = ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers['x-customer-id'];
  return id ? { user: id } : undefined;
}

/** The application module, around one engine (which other adapters of the process could share). */
@Module({})
export class SupportAppModule {}

/** The module definition of the example app. */
export function supportModule(engine: Resilience, openai: OpenAI) {
  return {
    module: SupportAppModule,
    imports: [
      ResilienceModule.forRoot({
        engine,
        identity: customerOf,
        // Inbound limit, checked by the guard before the handler runs: 10 tickets a minute per customer.
        limits: [{ id: 'tickets-per-customer', scope: ['user'], limit: 10, window: '1m' }],
      }),
    ],
    controllers: [SupportController],
    providers: [
      { provide: OPENAI, useValue: openai },
      SupportService,
      { provide: APP_GUARD, useClass: ResilienceGuard },
      { provide: APP_INTERCEPTOR, useClass: ResilienceInterceptor },
      { provide: APP_FILTER, useClass: ResilienceExceptionFilter },
    ],
  };
}

// ------------------------------------------------------------------ start-up

/** Options of {@link startNestSupport}. */
export interface NestSupportOptions {
  /** Port to listen on; 0 picks a free one. Default `PORT` or 3000. */
  port?: number;
  /** Environment to read keys from. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Nest logging. Default: Nest's logger. */
  logger?: false;
}

/** A running example app. */
export interface NestSupport {
  url: string;
  app: INestApplication;
  engine: Resilience;
  /** The fake provider, when no real key was set. */
  fake?: FakeProvider;
  mode: 'fake' | 'openai';
  close(): Promise<void>;
}

/**
 * Starts the example (and the fake provider unless `OPENAI_API_KEY` is set).
 *
 * @example
 * ```ts
 * const support = await startNestSupport({ port: 0 });
 * await fetch(`${support.url}/support/tickets`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-customer-id': 'c1' }, body: JSON.stringify({ customerId: 'c1', message: 'Where is my order?' }) });
 * await support.close();
 * ```
 */
export async function startNestSupport(options: NestSupportOptions = {}): Promise<NestSupport> {
  const env = options.env ?? process.env;
  let fake: FakeProvider | undefined;
  let openai: OpenAI;
  let models: SupportModels;
  if (env.OPENAI_API_KEY) {
    openai = new OpenAI({ apiKey: env.OPENAI_API_KEY, baseURL: env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1', maxRetries: 0 });
    models = { primary: 'gpt-4o-mini', backup: 'gpt-4.1-mini', premium: 'gpt-4o' };
  } else {
    fake = createFakeProvider({
      seed: 1,
      models: {
        'support-a': { contextWindow: 128_000, limits: { rpm: 600 }, latency: { firstTokenMs: 20, perTokenMs: 1 } },
        'support-b': { contextWindow: 128_000, limits: { rpm: 300 }, latency: { firstTokenMs: 30, perTokenMs: 1 } },
        'support-c': { contextWindow: 128_000, limits: { rpm: 100 }, latency: { firstTokenMs: 60, perTokenMs: 2 } },
      },
    });
    const { baseURL } = await fake.start();
    // The engine does the retries, so the SDK must not.
    openai = new OpenAI({ apiKey: 'fake', baseURL, maxRetries: 0 });
    models = { primary: 'support-a', backup: 'support-b', premium: 'support-c' };
  }

  const engine = createResilience(supportPolicy(models));
  // One log line per request with the seed's fields (no prompt text).
  const requests = new Logger('llm-requests');
  engine.events.on('record', (r) => requests.log(JSON.stringify(toLogRecord(r))));

  const app = await NestFactory.create(supportModule(engine, openai), { logger: options.logger ?? undefined });
  await app.listen(options.port ?? Number(env.PORT ?? 3000), '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return {
    url,
    app,
    engine,
    mode: fake ? 'fake' : 'openai',
    ...(fake ? { fake } : {}),
    close: async () => {
      await app.close();
      // The module does not own an engine passed in: its creator shuts it down.
      await engine.shutdown({ drain: true });
      await fake?.stop();
    },
  };
}

async function main(): Promise<void> {
  const support = await startNestSupport();
  console.log(`nestjs-support listening on ${support.url} (${support.mode === 'fake' ? 'fake provider' : 'OpenAI'})`);
  console.log(
    `  curl -s ${support.url}/support/tickets -H 'content-type: application/json' -H 'x-customer-id: c1' ` +
      `-d '{"customerId":"c1","message":"My parcel arrived damaged, I want a refund."}'`,
  );
  const stop = () => void support.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
