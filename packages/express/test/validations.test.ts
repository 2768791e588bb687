import express, { type RequestHandler } from 'express';
import request from 'supertest';
import type { Resilience } from '@llm-resilience/core';
import { ExpressConfigError, openAIGateway, resilience, type OpenAIGatewayOptions, type ResilienceMiddlewareOptions } from '../src';
import { testEngine, warningLog } from './support';

const engine = testEngine();

function configError(fn: () => unknown): ExpressConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ExpressConfigError);
    return e as ExpressConfigError;
  }
  throw new Error('expected an ExpressConfigError');
}

describe('resilience() start-up errors', () => {
  it('needs an engine', () => {
    expect(configError(() => resilience({} as ResilienceMiddlewareOptions)).code).toBe('ERR_LLMR_EXPRESS_NO_ENGINE');
    expect(configError(() => resilience(undefined as unknown as ResilienceMiddlewareOptions)).code).toBe('ERR_LLMR_EXPRESS_NO_ENGINE');
  });

  it('names an unknown route and the known ones', () => {
    const e = configError(() => resilience({ engine, route: 'suport_reply' }));
    expect(e.code).toBe('ERR_LLMR_EXPRESS_UNKNOWN_ROUTE');
    expect(e.message).toContain('support_reply');
    expect(e.help).toBe('docs/express.md#err_llmr_express_unknown_route');
  });

  it('rejects unsupported header drafts, bad limits and unknown checks', () => {
    expect(configError(() => resilience({ engine, standardHeaders: 'draft-9' as never })).code).toBe('ERR_LLMR_EXPRESS_HEADERS_DRAFT');
    expect(configError(() => resilience({ engine, limits: [{ scope: ['model' as never], metric: 'requests', limit: 1, window: '1m' }] })).code).toBe(
      'ERR_LLMR_EXPRESS_INVALID_LIMIT',
    );
    expect(configError(() => resilience({ engine, validations: { trustproxy: false } as never })).code).toBe('ERR_LLMR_EXPRESS_UNKNOWN_VALIDATION');
  });
});

describe('resilience() checks on live requests (warned once)', () => {
  const limits: ResilienceMiddlewareOptions['limits'] = [{ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 100, window: '1m' }];

  function appWith(options: Partial<ResilienceMiddlewareOptions>) {
    const log = warningLog();
    const app = express();
    app.use(resilience({ engine, logger: log.logger, ...options }));
    app.get('/', (_req, res) => void res.send('ok'));
    return { app, log };
  }

  it('warns when X-Forwarded-For arrives but trust proxy is off (IP identity)', async () => {
    const { app, log } = appWith({ limits });
    await request(app).get('/').expect(200);
    expect(log.codes()).toEqual([]);
    await request(app).get('/').set('X-Forwarded-For', '203.0.113.9').expect(200);
    await request(app).get('/').set('X-Forwarded-For', '203.0.113.10').expect(200);
    expect(log.codes()).toEqual(['ERR_LLMR_EXPRESS_UNEXPECTED_X_FORWARDED_FOR']);
    expect(log.messages()[0]).toContain('docs/express.md#err_llmr_express_unexpected_x_forwarded_for');
  });

  it('warns when trust proxy is true, and not when the identity ignores the IP', async () => {
    const { app, log } = appWith({});
    app.set('trust proxy', true);
    await request(app).get('/').expect(200);
    expect(log.codes()).toEqual(['ERR_LLMR_EXPRESS_PERMISSIVE_TRUST_PROXY']);
    const byHeader = appWith({ identity: (req) => ({ user: req.get('x-user') }) });
    byHeader.app.set('trust proxy', true);
    await request(byHeader.app).get('/').set('x-user', 'u1').set('X-Forwarded-For', '1.2.3.4').expect(200);
    expect(byHeader.log.codes()).toEqual([]);
  });

  it('warns when the identity resolves to nothing and when a limit dimension is missing', async () => {
    const { app, log } = appWith({ identity: (req) => (req.get('x-user') ? { user: req.get('x-user') } : undefined), limits: [...limits!, { id: 'team-rpm', scope: ['team'], metric: 'requests', limit: 5, window: '1m' }] });
    await request(app).get('/').set('x-user', 'u1').expect(200);
    expect(log.codes()).toEqual(['ERR_LLMR_EXPRESS_LIMIT_SCOPE_UNDEFINED']);
    expect(log.messages()[0]).toContain("'team-rpm' is scoped by 'team'");
    await request(app).get('/').expect(200);
    expect(log.codes()).toEqual(['ERR_LLMR_EXPRESS_LIMIT_SCOPE_UNDEFINED', 'ERR_LLMR_EXPRESS_UNDEFINED_IDENTITY']);
  });

  it('warns when two limiting middlewares count one request', async () => {
    const log = warningLog();
    const app = express();
    const identity = () => ({ user: 'same' });
    app.use(resilience({ engine, identity, limits, logger: log.logger }));
    app.use(resilience({ engine, identity, limits: [{ id: 'again', scope: ['user'], metric: 'requests', limit: 100, window: '1m' }], logger: log.logger }));
    app.get('/', (_req, res) => void res.send('ok'));
    await request(app).get('/').expect(200);
    expect(log.codes()).toEqual(['ERR_LLMR_EXPRESS_DOUBLE_COUNT']);
  });

  it('warns about unknown options and middlewares created inside a handler', async () => {
    const log = warningLog();
    resilience({ engine, standardHeader: 'draft-7', logger: log.logger } as unknown as ResilienceMiddlewareOptions);
    expect(log.codes()).toEqual(['ERR_LLMR_EXPRESS_UNKNOWN_OPTION']);
    const app = express();
    app.get('/', (req, res, next) => {
      const inner: RequestHandler = resilience({ engine, identity: () => ({ user: 'x' }), logger: log.logger });
      inner(req, res, next);
    });
    app.get('/', (_req, res) => void res.send('ok'));
    await request(app).get('/').expect(200);
    expect(log.codes()).toContain('ERR_LLMR_EXPRESS_CREATED_IN_REQUEST_HANDLER');
  });

  it('stays quiet when the checks are switched off', async () => {
    const { app, log } = appWith({ validations: false, identity: () => undefined, limits });
    app.set('trust proxy', true);
    await request(app).get('/').set('X-Forwarded-For', '1.2.3.4').expect(200);
    expect(log.codes()).toEqual([]);
  });
});

describe('openAIGateway() start-up errors', () => {
  const base = (e: Resilience = engine): OpenAIGatewayOptions => ({
    engine: e,
    auth: { k: { user: 'u' } },
    upstreams: {
      primary: { kind: 'openai', baseURL: 'http://127.0.0.1:9/v1' },
      backup: { kind: 'openai', baseURL: 'http://127.0.0.1:9/v1' },
      anthropic: { kind: 'anthropic', baseURL: 'http://127.0.0.1:9/v1' },
    },
  });

  it('checks aliases, upstreams and auth', () => {
    expect(configError(() => openAIGateway({ ...base(), models: { support: 'nope' } })).code).toBe('ERR_LLMR_EXPRESS_GATEWAY_UNKNOWN_ROUTE');
    const noUpstream = configError(() => openAIGateway({ ...base(), upstreams: { primary: base().upstreams.primary! }, models: { support: 'support_reply' } }));
    expect(noUpstream.code).toBe('ERR_LLMR_EXPRESS_GATEWAY_NO_UPSTREAM');
    expect(noUpstream.message).toContain("'backup'");
    expect(configError(() => openAIGateway({ ...base(), upstreams: { primary: { kind: 'gemini' as never, baseURL: 'http://x' } } })).code).toBe(
      'ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM',
    );
    expect(configError(() => openAIGateway({ ...base(), upstreams: { primary: { kind: 'openai', baseURL: 'not a url' } } })).code).toBe(
      'ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM',
    );
    // A key put where an upstream or a URL belongs is never quoted in the error.
    const key = 'sk-proj-SECRETsecretSECRET1234';
    const misplaced = configError(() => openAIGateway({ ...base(), upstreams: { primary: key as never } }));
    expect(misplaced.message).toBe("openAIGateway(): upstreams.primary.kind must be 'openai' or 'anthropic', got a string, not an object. See docs/express.md#err_llmr_express_gateway_bad_upstream.");
    const inUrl = configError(() => openAIGateway({ ...base(), upstreams: { primary: { kind: 'openai', baseURL: `api.example.com/v1?key=${key}` } } }));
    expect(inUrl.message).toBe('openAIGateway(): upstreams.primary.baseURL must be an http(s) URL, got a string that is not one. See docs/express.md#err_llmr_express_gateway_bad_upstream.');
    expect(configError(() => openAIGateway({ ...base(), auth: undefined as never })).code).toBe('ERR_LLMR_EXPRESS_GATEWAY_NO_AUTH');
    expect(configError(() => openAIGateway({ ...base(), engine: undefined as never })).code).toBe('ERR_LLMR_EXPRESS_NO_ENGINE');
  });
});
