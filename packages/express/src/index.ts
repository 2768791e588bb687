/**
 * `@llm-resilience/express`: Express middleware and an OpenAI-compatible gateway router for the
 * `@llm-resilience/core` engine.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createResilience, definePolicy } from '@llm-resilience/core';
 * import { openAIGateway, resilience, resilienceErrorHandler } from '@llm-resilience/express';
 *
 * const engine = createResilience(definePolicy(config));
 * const app = express();
 * app.use(express.json());
 * app.use(resilience({ engine, identity: (req) => ({ user: req.get('x-user-id') }) }));
 * app.post('/chat', async (req, res) => res.json((await req.resilience.execute('chat', callModel)).value));
 * app.use(openAIGateway({ engine, upstreams, auth }));
 * app.use(resilienceErrorHandler());
 * ```
 *
 * @packageDocumentation
 */
export { resilience, sendLimited } from './resilience';
export { ipKey } from './ipKey';
export { resilienceErrorHandler } from './resilienceErrorHandler';
export { openAIGateway, upstreamNameOf, TARGET_HEADER, ATTEMPTS_HEADER, REQUEST_ID_HEADER } from './gateway/openAIGateway';
export { RequestResilience, type ExecuteOverrides } from './RequestResilience';
export { ClientDisconnectedError } from './ClientDisconnectedError';
export { ExpressConfigError } from './ExpressConfigError';
export { ValidationWarning, VALIDATION_CODES, type ValidationName } from './Validations';
export { httpErrorOf, retryAfterSeconds, type HttpErrorInfo as HttpError } from '@llm-resilience/core';
export { toAnthropicRequest, fromAnthropicMessage, AnthropicStreamTranslator } from './gateway/anthropicTranslate';
export { ANTHROPIC_IGNORED_OPTIONS } from './gateway/anthropicOptions';
export { ChatRequestError, type ChatRequestErrorCode } from './gateway/ChatRequestError';
export { UpstreamHttpError, UpstreamReplyError, UpstreamStreamError, StreamIdleError } from './gateway/UpstreamError';
export type {
  Audience,
  ErrorHandlerOptions,
  GatewayAuth,
  InboundLimitRule,
  InboundLimitStatus,
  LimitedInfo,
  OpenAIGatewayOptions,
  ResilienceMiddlewareOptions,
  StandardHeadersDraft,
  UpstreamConfig,
  ValidationsConfig,
  WindowDuration,
} from './types';
