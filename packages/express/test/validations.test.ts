import express, { type RequestHandler } from 'express';
import request from 'supertest';
import type { Resilience } from '@llm-resilience/core';
import { ExpressConfigError, openAIGateway, resilience, resilienceErrorHandler, type OpenAIGatewayOptions, type ResilienceMiddlewareOptions } from '../src';
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

  it('checks the type of every option, naming it and what it must be', () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ identity: 'user' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'resilience(): identity must be a function (req) => identity, got a string.'],
      [{ estimate: 5 }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'resilience(): estimate must be a function (req) => { inputTokens?, outputTokens?, costUsd? }, got a number.'],
      [{ routeFor: 'chat' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'resilience(): routeFor must be a function (req) => route name, got a string.'],
      [{ priority: 'batch' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'priority must be a function'],
      [{ requestId: 'x' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'requestId must be a function'],
      [{ onLimited: true }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'resilience(): onLimited must be a function (req, res, next, info) => void, got a boolean.'],
      [{ audience: 'everyone' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "resilience(): audience must be 'customer' or 'internal', or a function (req) => audience, got 'everyone'."],
      [{ legacyHeaders: 'yes' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "resilience(): legacyHeaders must be true or false, got 'yes'."],
      [{ limitMessages: 'x' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'limitMessages must be an object'],
      [{ limitMessages: { customers: 'Slow down' } }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "got a key 'customers'"],
      [{ limitMessages: { customer: 5 } }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'limitMessages.customer must be a string'],
      [{ logger: 'console' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'logger must be an object with a warn(message, fields) function, got a string.'],
      [{ logger: { warn: 'x' } }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'logger.warn must be a function'],
      // Without warn every validation warning would be dropped silently: resilience() has no fallback for it.
      [{ logger: {} }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'resilience(): logger must be an object with a warn(message, fields) function, got an object without warn.'],
      [{ logger: { error: () => undefined } }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'logger must be an object with a warn(message, fields) function'],
      [{ validations: 'yes' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "validations must be true, false or an object of checks"],
      [{ validations: { identity: 'no' } }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "validations.identity must be true or false, got 'no'."],
      [{ route: 42 }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'route must be the name of a route of the policy, got a number.'],
      [{ route: 'toString' }, 'ERR_LLMR_EXPRESS_UNKNOWN_ROUTE', "route 'toString' is not in the policy"],
      [{ standardHeaders: null }, 'ERR_LLMR_EXPRESS_HEADERS_DRAFT', 'got null'],
      [{ limits: { id: 'x' } }, 'ERR_LLMR_EXPRESS_INVALID_LIMIT', 'limits must be an array of rules, got an object.'],
      [{ limits: [{ scope: ['user'], metric: 'requests', limit: 1, window: '1m', match: { usr: 'x' } }] }, 'ERR_LLMR_EXPRESS_INVALID_LIMIT', "limits[0].match: 'usr' is not a dimension"],
      [{ limits: [{ scope: ['user'], metric: 'requests', limit: 1, window: '1m', match: { team: 5 } }] }, 'ERR_LLMR_EXPRESS_INVALID_LIMIT', 'limits[0].match.team: expected a string, got number'],
    ];
    for (const [options, code, message] of cases) {
      const e = configError(() => resilience({ engine, ...options } as unknown as ResilienceMiddlewareOptions));
      expect([e.code, e.message]).toEqual([code, expect.stringContaining(message)]);
      expect(e.help).toBe(`docs/express.md#${code.toLowerCase()}`);
    }
  });

  it('accepts every option in its documented form', () => {
    const fn = () => undefined;
    expect(() =>
      resilience({
        engine,
        identity: () => ({ user: 'u' }),
        route: 'support_reply',
        routeFor: fn,
        priority: fn,
        audience: () => 'internal',
        limits: [{ scope: ['user'], metric: 'requests', limit: 1, window: '1m', match: { team: 'a' } }],
        limitMessages: { customer: 'Slow down.', internal: 'Rule hit.' },
        estimate: () => ({ outputTokens: 10 }),
        standardHeaders: false,
        legacyHeaders: true,
        validations: { default: false, identity: true },
        onLimited: fn,
        logger: { warn: fn },
        requestId: fn,
      }),
    ).not.toThrow();
    expect(() => resilience({ engine, audience: 'customer', limits: [] })).not.toThrow();
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

  it('still warns when a middleware without limits sits between two with limits, and not for one with limits and one without', async () => {
    const log = warningLog();
    const identity = () => ({ user: 'same' });
    const app = express();
    app.use(resilience({ engine, identity, limits, logger: log.logger }));
    app.use(resilience({ engine, identity, logger: log.logger }));
    app.get('/single', (_req, res) => void res.send('ok'));
    app.use(resilience({ engine, identity, limits: [{ id: 'again', scope: ['user'], metric: 'requests', limit: 100, window: '1m' }], logger: log.logger }));
    app.get('/', (_req, res) => void res.send('ok'));
    await request(app).get('/single').expect(200);
    expect(log.codes()).toEqual([]);
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
    // Credentials in the URL: fetch would refuse it on every call with an error quoting it, password included.
    const withUserinfo = configError(() => openAIGateway({ ...base(), upstreams: { ...base().upstreams, primary: { kind: 'openai', baseURL: 'https://user:Sup3rSecretPassw0rd@api.example.com/v1' } } }));
    expect(withUserinfo.code).toBe('ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM');
    expect(withUserinfo.message).toContain('upstreams.primary.baseURL must not carry credentials');
    expect(withUserinfo.message).not.toContain('Sup3rSecretPassw0rd');
    expect(configError(() => openAIGateway({ ...base(), auth: undefined as never })).code).toBe('ERR_LLMR_EXPRESS_GATEWAY_NO_AUTH');
    expect(configError(() => openAIGateway({ ...base(), engine: undefined as never })).code).toBe('ERR_LLMR_EXPRESS_NO_ENGINE');
  });

  it('checks the type and range of every option, naming it and what it must be', () => {
    const up = (extra: Record<string, unknown>) => ({ upstreams: { ...base().upstreams, primary: { kind: 'openai', baseURL: 'http://127.0.0.1:9/v1', ...extra } } });
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ fetch: 'undici' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'openAIGateway(): fetch must be a function (url, init) => Promise<Response>, like globalThis.fetch, got a string.'],
      [{ streamIdleTimeoutMs: '30s' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "openAIGateway(): streamIdleTimeoutMs must be a number of milliseconds from 0 (off) to 2147483647, got '30s'."],
      [{ streamIdleTimeoutMs: -1 }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'streamIdleTimeoutMs must be a number of milliseconds from 0 (off) to 2147483647, got -1.'],
      [{ streamIdleTimeoutMs: Number.NaN }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'got NaN.'],
      // Node fires a longer timer at once: it would end every slow stream on its first pause.
      [{ streamIdleTimeoutMs: 3e9 }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'got 3000000000.'],
      [{ priority: 'batch' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'openAIGateway(): priority must be a function (req, identity) => traffic class, got a string.'],
      [{ dataClass: 1 }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'dataClass must be a function'],
      [{ audience: 'everyone' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "openAIGateway(): audience must be 'customer' or 'internal', got 'everyone'."],
      [{ prefix: 42 }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "openAIGateway(): prefix must be a path such as '/v1'"],
      [{ prefix: 'v1' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "got 'v1'."],
      [{ prefix: '/v1/:tenant' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'prefix must be a path'],
      [{ bodyLimit: 'lots' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "bodyLimit must be a number of bytes > 0 or a size such as '4mb' or '100kb', got 'lots'."],
      [{ bodyLimit: 0 }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'bodyLimit must be'],
      [{ upstreamBodyLimit: '32 MiB' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "openAIGateway(): upstreamBodyLimit must be a whole number of bytes >= 1 or a size such as '64mb' or '512kb', got '32 MiB'."],
      // 0 (or a fraction of a byte) would fail every reply; NaN would compare as no bound at all.
      [{ upstreamBodyLimit: 0 }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'upstreamBodyLimit must be a whole number of bytes >= 1'],
      [{ upstreamBodyLimit: '0.5b' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "got '0.5b'."],
      [{ upstreamBodyLimit: 1.5 }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'got 1.5.'],
      [{ upstreamBodyLimit: -1 }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'got -1.'],
      [{ upstreamBodyLimit: Number.NaN }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'got NaN.'],
      [{ upstreamBodyLimit: Infinity }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'got Infinity.'],
      [{ upstreamBodyLimit: true }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'got true.'],
      [{ exposeRoutes: 'no' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', "exposeRoutes must be true or false, got 'no'."],
      [{ models: 'support' }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'models must be an object of model aliases to route names, got a string.'],
      [{ models: { gpt: 5 } }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'models.gpt must be the name of a route of the policy, got a number.'],
      [{ models: { gpt: 'constructor' } }, 'ERR_LLMR_EXPRESS_GATEWAY_UNKNOWN_ROUTE', "models.gpt names route 'constructor', which is not in the policy"],
      [{ logger: { error: true } }, 'ERR_LLMR_EXPRESS_INVALID_OPTION', 'logger.error must be a function'],
      [up({ headers: 'x' }), 'ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM', 'openAIGateway(): upstreams.primary.headers must be an object of header names to string values, got a string.'],
      [up({ headers: { 'x-team': 5 } }), 'ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM', "upstreams.primary.headers['x-team'] must be a string, got a number."],
      [up({ apiKey: 123 }), 'ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM', 'upstreams.primary.apiKey must be a string, got a number.'],
      [up({ anthropicVersion: 2023 }), 'ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM', 'upstreams.primary.anthropicVersion must be a string'],
      // A misspelt field would be ignored (no key sent upstream, every call a 401): refused by name, value never quoted.
      [up({ apikey: 'sk-upstream-secret-123' }), 'ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM', "openAIGateway(): upstreams.primary.apikey is not an upstream option (did you mean 'apiKey'?); known: kind, baseURL, apiKey, headers, anthropicVersion."],
      [up({ api_key: 'sk-upstream-secret-123' }), 'ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM', "upstreams.primary.api_key is not an upstream option (did you mean 'apiKey'?)"],
      [up({ header: { 'x-a': 'b' } }), 'ERR_LLMR_EXPRESS_GATEWAY_BAD_UPSTREAM', "upstreams.primary.header is not an upstream option (did you mean 'headers'?)"],
      [{ auth: { k: 'alice' } }, 'ERR_LLMR_EXPRESS_GATEWAY_NO_AUTH', "openAIGateway(): the identity of client key 1 of 1 in options.auth must be an object such as { user: 'alice', team: 'support' }, got a string."],
      [{ auth: { k: { user: 'a' }, j: { user: 42 } } }, 'ERR_LLMR_EXPRESS_GATEWAY_NO_AUTH', 'the identity of client key 2 of 2 in options.auth: user must be a string, got a number.'],
      [{ auth: { k: { name: 'alice' } } }, 'ERR_LLMR_EXPRESS_GATEWAY_NO_AUTH', 'has no user, team, tenant or environment'],
      [{ auth: [] }, 'ERR_LLMR_EXPRESS_GATEWAY_NO_AUTH', 'options.auth must map client API keys to identities'],
    ];
    for (const [options, code, message] of cases) {
      const e = configError(() => openAIGateway({ ...base(), ...options } as unknown as OpenAIGatewayOptions));
      expect([e.code, e.message]).toEqual([code, expect.stringContaining(message)]);
      expect(e.help).toBe(`docs/express.md#${code.toLowerCase()}`);
      expect(e.message).not.toContain('sk-upstream-secret-123');
    }
  });

  it('never quotes client keys, upstream keys or header values, only their types', () => {
    const secret = 'sk-proj-SECRETsecretSECRET1234';
    const messages = [
      configError(() => openAIGateway({ ...base(), auth: { [secret]: 'alice' } as never })).message,
      configError(() => openAIGateway({ ...base(), auth: { [secret]: { user: [secret] } } as never })).message,
      configError(() => openAIGateway({ ...base(), upstreams: { primary: { kind: 'openai', baseURL: 'http://x/v1', apiKey: [secret] as never } } })).message,
      configError(() => openAIGateway({ ...base(), upstreams: { primary: { kind: 'openai', baseURL: 'http://x/v1', headers: { authorization: [secret] as never } } } })).message,
      configError(() => openAIGateway({ ...base(), upstreams: { primary: { kind: 'openai', baseURL: 'http://x/v1', headers: secret as never } } })).message,
      configError(() => openAIGateway({ ...base(), fetch: secret as never })).message,
      configError(() => openAIGateway({ ...base(), prefix: `/v1?key=${secret}` })).message,
    ];
    for (const m of messages) expect(m).not.toContain('SECRET');
  });

  it('accepts every option in its documented form', () => {
    const fn = () => undefined;
    for (const extra of [
      { prefix: '', bodyLimit: 1024, streamIdleTimeoutMs: 0, exposeRoutes: false, upstreamBodyLimit: 1 },
      { prefix: '/', bodyLimit: '100kb', streamIdleTimeoutMs: 30_000, audience: 'internal' as const, upstreamBodyLimit: '64mb' },
      { upstreamBodyLimit: '512KB' },
      { upstreamBodyLimit: 1.5 * 1024 ** 3 },
      { prefix: '/api/openai/v1/', bodyLimit: '4mb', fetch: globalThis.fetch, priority: fn, dataClass: fn, logger: { error: fn }, models: { support: 'support_reply' } },
      { auth: async () => undefined, upstreams: { ...base().upstreams, primary: { kind: 'openai' as const, baseURL: 'http://x/v1', apiKey: 'k', headers: { 'x-org': 'o' } } } },
    ]) {
      expect(() => openAIGateway({ ...base(), ...extra })).not.toThrow();
    }
  });
});

describe('resilienceErrorHandler() start-up errors', () => {
  it('checks its options', () => {
    expect(configError(() => resilienceErrorHandler({ audience: 'everyone' as never })).message).toContain("audience must be 'customer' or 'internal', got 'everyone'.");
    expect(configError(() => resilienceErrorHandler({ onError: 'log' as never })).message).toContain('onError must be a function (err, req) => void, got a string.');
    expect(configError(() => resilienceErrorHandler({ engine: {} as never })).message).toContain('engine must be the engine from createResilience(policy), got an object.');
    expect(() => resilienceErrorHandler({ engine, audience: 'internal', onError: () => undefined })).not.toThrow();
  });
});
