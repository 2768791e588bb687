import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import express, { type Request } from 'express';
import { unfinishedUsage, type RequestRecord, type StreamingResult } from '@llm-resilience/core';
import { resilience, resilienceErrorHandler, type ResilienceMiddlewareOptions } from '../src';
import { deferred, listen, nextRecord, testEngine, warningLog } from './support';

/*
 * Inbound token, cost and concurrency rules of `resilience()` are settled when the response has ended
 * and so have the calls made through `req.resilience.execute`, with what the engine charged for them.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const byHeader = (req: Request) => ({ user: req.get('x-user') ?? undefined, team: req.get('x-team') ?? undefined });

/** A streamed "model call": its first chunk at once (the engine only needs the call to resolve). */
const streamCall = async () => ({ first: 'Hello' });

const TEAM_TOKENS = { id: 'team-tokens', scope: ['team'] as Array<'team'>, metric: 'totalTokens' as const, limit: 100, window: '1h' as const };
const ONE_IN_FLIGHT = { id: 'inflight', scope: ['user'] as Array<'user'>, metric: 'concurrency' as const, limit: 1 };

function appWith(options: Partial<ResilienceMiddlewareOptions>) {
  const engine = testEngine();
  const a = express();
  a.use(express.json());
  a.use(resilience({ engine, identity: byHeader, validations: false, ...options }));
  a.get('/ping', (_req, res) => void res.json({ ok: true }));
  return { engine, a };
}

/** Opens a stream on the 'solo' route and writes its first chunk. */
async function openStream(req: Request, res: express.Response): Promise<StreamingResult<{ first: string }>> {
  const r = await req.resilience.execute('solo', streamCall, { stream: true, input: { prompt: 'tell me a long story' }, maxOutputTokens: 500 });
  res.status(200).setHeader('content-type', 'text/event-stream');
  res.write(`data: ${JSON.stringify(r.value)}\n\n`);
  return r;
}

describe('inbound limits settled with what the calls of the request used', () => {
  it('charges a stream that broke off after it started with the usage it was failed with', async () => {
    const { engine, a } = appWith({ limits: [TEAM_TOKENS] });
    a.get('/stream', async (req, res, next) => {
      try {
        const r = await openStream(req, res);
        // The upstream breaks off: the adapter fails the stream with what it used, as the gateway does.
        r.fail(new Error('stream cut'), unfinishedUsage(undefined, { inputTokens: r.record.input_tokens, outputTokens: 500 }));
        res.end('data: {"error":{}}\n\n');
      } catch (err) {
        next(err);
      }
    });
    a.use(resilienceErrorHandler());
    const { url, close } = await listen(a);
    try {
      const recorded = nextRecord(engine);
      await (await fetch(`${url}/stream`, { headers: { 'x-team': 't-broken' } })).text();
      expect(await recorded).toMatchObject({ outcome: 'failure', output_tokens: 500 });
      await new Promise((r) => setImmediate(r));
      // 500+ tokens against the team's 100: over budget.
      expect((await fetch(`${url}/ping`, { headers: { 'x-team': 't-broken' } })).status).toBe(429);
    } finally {
      await close();
    }
  });

  it('charges a stream whose client left, failed with its usage after the response closed', async () => {
    const { engine, a } = appWith({ limits: [TEAM_TOKENS] });
    const firstWritten = deferred();
    a.get('/stream', async (req, res, next) => {
      try {
        const r = await openStream(req, res);
        firstWritten.resolve();
        // Streams until the client goes away (the disconnect signal aborts after the response's 'close').
        req.resilience.signal.addEventListener('abort', () => {
          r.fail(req.resilience.signal.reason, unfinishedUsage(undefined, { inputTokens: r.record.input_tokens, outputTokens: 500 }));
        });
      } catch (err) {
        next(err);
      }
    });
    const { url, close } = await listen(a);
    try {
      const recorded = nextRecord(engine);
      const ac = new AbortController();
      const res = await fetch(`${url}/stream`, { headers: { 'x-team': 't-leaver' }, signal: ac.signal });
      await res.body!.getReader().read();
      await firstWritten.promise;
      ac.abort();
      expect(await recorded).toMatchObject({ outcome: 'failure', error_kind: 'cancelled', output_tokens: 500 });
      await new Promise((r) => setImmediate(r));
      expect((await fetch(`${url}/ping`, { headers: { 'x-team': 't-leaver' } })).status).toBe(429);
    } finally {
      await close();
    }
  });

  it('charges nothing for a stream failed without usage, and a completed one its usage', async () => {
    const { a } = appWith({ limits: [TEAM_TOKENS] });
    a.get('/stream', async (req, res) => {
      const r = await openStream(req, res);
      if (req.query.end === 'complete') r.complete({ inputTokens: r.record.input_tokens, outputTokens: 500 });
      else r.fail(new Error('refused before anything was generated'));
      res.end('data: [DONE]\n\n');
    });
    const { url, close } = await listen(a);
    try {
      await (await fetch(`${url}/stream?end=fail`, { headers: { 'x-team': 't-failed' } })).text();
      await new Promise((r) => setImmediate(r));
      expect((await fetch(`${url}/ping`, { headers: { 'x-team': 't-failed' } })).status).toBe(200);
      await (await fetch(`${url}/stream?end=complete`, { headers: { 'x-team': 't-done' } })).text();
      await new Promise((r) => setImmediate(r));
      expect((await fetch(`${url}/ping`, { headers: { 'x-team': 't-done' } })).status).toBe(429);
    } finally {
      await close();
    }
  });

  it('holds a concurrency slot until a call the handler left running after answering has ended', async () => {
    const { a } = appWith({ limits: [ONE_IN_FLIGHT] });
    const finish = deferred<{ choices: Array<{ message: { content: string } }> }>();
    const callEnded = deferred();
    a.post('/jobs', (req, res) => {
      // Answers at once and lets the call run on (a background job tied to the request).
      void req.resilience
        .execute('solo', () => finish.promise, { input: { prompt: 'summarise' }, maxOutputTokens: 50 })
        .finally(() => setImmediate(callEnded.resolve));
      res.status(202).json({ accepted: true });
    });
    const { url, close } = await listen(a);
    try {
      expect((await fetch(`${url}/jobs`, { method: 'POST', headers: { 'x-user': 'u-job' } })).status).toBe(202);
      expect((await fetch(`${url}/ping`, { headers: { 'x-user': 'u-job' } })).status).toBe(429);
      finish.resolve({ choices: [{ message: { content: 'done' } }] });
      await callEnded.promise;
      expect((await fetch(`${url}/ping`, { headers: { 'x-user': 'u-job' } })).status).toBe(200);
    } finally {
      await close();
    }
  });

  it('frees the slot of a stream dropped without complete() or fail() once it is garbage-collected', async () => {
    const { a } = appWith({ limits: [ONE_IN_FLIGHT] });
    a.get('/forgetful', async (req, res) => {
      await openStream(req, res); // and forgets it: no complete(), no fail()
      res.end();
    });
    const { url, close } = await listen(a);
    try {
      await (await fetch(`${url}/forgetful`, { headers: { 'x-user': 'u-forgets' } })).text();
      expect((await fetch(`${url}/ping`, { headers: { 'x-user': 'u-forgets' } })).status).toBe(429);
      let status = 429;
      for (let i = 0; i < 50 && status === 429; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 5));
        status = (await fetch(`${url}/ping`, { headers: { 'x-user': 'u-forgets' } })).status;
      }
      expect(status).toBe(200);
    } finally {
      await close();
    }
  });

  it('frees it too when a listener on req.resilience.signal holds the dropped result (the request must not keep it alive)', async () => {
    const errors: string[] = [];
    const engine = testEngine({}, { logger: { error: (m: string) => void errors.push(m) } });
    const a = express();
    a.use(resilience({ engine, identity: byHeader, validations: false, limits: [ONE_IN_FLIGHT] }));
    a.get('/ping', (_req, res) => void res.json({ ok: true }));
    a.get('/forgetful', async (req, res) => {
      const r = await req.resilience.execute('solo', streamCall, { stream: true, input: { prompt: 'story' }, maxOutputTokens: 500 });
      // Fails the stream if the client leaves; this path ends the response and forgets complete().
      req.resilience.signal.addEventListener('abort', () => r.fail(req.resilience.signal.reason));
      res.end(JSON.stringify(r.value));
    });
    const { url, close } = await listen(a);
    try {
      await (await fetch(`${url}/forgetful`, { headers: { 'x-user': 'u-listener' } })).text();
      let status = 429;
      for (let i = 0; i < 50 && status === 429; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 5));
        status = (await fetch(`${url}/ping`, { headers: { 'x-user': 'u-listener' } })).status;
      }
      expect(status).toBe(200);
      expect(errors.some((m) => m.includes('dropped without complete() or fail()'))).toBe(true);
    } finally {
      await close();
    }
  });

  it('charges the token budget for a call started after the response closed (answer 202, work later)', async () => {
    const { a } = appWith({ limits: [TEAM_TOKENS] });
    // A "model call" that reports 600 tokens (OpenAI shape), against the team's 100.
    const bigCall = async () => ({ choices: [{ message: { content: 'summary' } }], usage: { prompt_tokens: 300, completion_tokens: 300, total_tokens: 600 } });
    const lateRecord = deferred<RequestRecord>();
    a.post('/jobs', async (req, res) => {
      const closed = new Promise((r) => res.once('close', r));
      res.status(202).json({ accepted: true });
      // The request is settled on close, with no call made yet.
      await closed;
      const { record } = await req.resilience.execute('solo', bigCall, { input: { prompt: 'summarise the document' }, maxOutputTokens: 50 });
      lateRecord.resolve(record);
    });
    // Control: the same call made before answering.
    a.post('/sync', async (req, res) => {
      await req.resilience.execute('solo', bigCall, { input: { prompt: 'summarise the document' }, maxOutputTokens: 50 });
      res.json({ ok: true });
    });
    const { url, close } = await listen(a);
    try {
      expect((await fetch(`${url}/sync`, { method: 'POST', headers: { 'x-team': 't-sync' } })).status).toBe(200);
      await new Promise((r) => setImmediate(r));
      expect((await fetch(`${url}/ping`, { headers: { 'x-team': 't-sync' } })).status).toBe(429);

      expect((await fetch(`${url}/jobs`, { method: 'POST', headers: { 'x-team': 't-late' } })).status).toBe(202);
      const record = await lateRecord.promise;
      expect(record.outcome).toBe('success');
      expect(record.input_tokens + record.output_tokens).toBeGreaterThan(100);
      await new Promise((r) => setImmediate(r));
      // Charged when it ended, past the settled reservation (debt, never denied): over budget, as for /sync.
      expect((await fetch(`${url}/ping`, { headers: { 'x-team': 't-late' } })).status).toBe(429);
    } finally {
      await close();
    }
  });
});

describe('resilience() on the app with limits and again on a router without', () => {
  // docs/express.md (ERR_LLMR_EXPRESS_DOUBLE_COUNT): "Keep limits in one of them". The handler's
  // calls go through the router's req.resilience; the app's middleware must still settle on them.
  function stacked(limits: NonNullable<ResilienceMiddlewareOptions['limits']>) {
    const { engine, a } = appWith({ limits });
    const router = express.Router();
    router.use(resilience({ engine, identity: byHeader, validations: false, route: 'solo' }));
    a.use('/api', router);
    return { a, router };
  }

  it("charges the app's token budget with the real usage of the calls made through the router's req.resilience", async () => {
    const { a, router } = stacked([TEAM_TOKENS]);
    router.post('/chat', async (req, res) => {
      const r = await req.resilience.execute('solo', streamCall, { stream: true, input: { prompt: 'hello' }, maxOutputTokens: 50 });
      r.complete({ inputTokens: 20, outputTokens: 30 });
      res.json({ usage: req.resilience.usage(), limits: req.resilience.limits });
    });
    const { url, close } = await listen(a);
    try {
      const chat = await fetch(`${url}/api/chat`, { method: 'POST', headers: { 'x-team': 'stacked' } });
      const body = (await chat.json()) as { usage: { inputTokens: number; outputTokens: number }; limits: Array<{ id: string; remaining: number }> };
      expect(body.usage).toMatchObject({ inputTokens: 20, outputTokens: 30 });
      // The router's req.resilience shows the app's limits as they stood at admission.
      expect(body.limits.map((l) => [l.id, l.remaining])).toEqual([['team-tokens', 98]]);
      // 100 - 50 used - the ping's own 2.
      expect((await fetch(`${url}/ping`, { headers: { 'x-team': 'stacked' } })).headers.get('ratelimit')).toMatch(/^limit=100, remaining=48, /);
      await fetch(`${url}/api/chat`, { method: 'POST', headers: { 'x-team': 'stacked' } });
      expect((await fetch(`${url}/ping`, { headers: { 'x-team': 'stacked' } })).status).toBe(429);
    } finally {
      await close();
    }
  });

  it("holds the app's concurrency slot until a call started through the router's req.resilience has ended", async () => {
    const { a, router } = stacked([ONE_IN_FLIGHT]);
    const finish = deferred<{ choices: Array<{ message: { content: string } }> }>();
    const callEnded = deferred();
    router.post('/jobs', (req, res) => {
      void req.resilience
        .execute('solo', () => finish.promise, { input: { prompt: 'summarise' }, maxOutputTokens: 50 })
        .finally(() => setImmediate(callEnded.resolve));
      res.status(202).json({ accepted: true });
    });
    const { url, close } = await listen(a);
    try {
      expect((await fetch(`${url}/api/jobs`, { method: 'POST', headers: { 'x-user': 'u-stacked' } })).status).toBe(202);
      expect((await fetch(`${url}/ping`, { headers: { 'x-user': 'u-stacked' } })).status).toBe(429);
      finish.resolve({ choices: [{ message: { content: 'done' } }] });
      await callEnded.promise;
      expect((await fetch(`${url}/ping`, { headers: { 'x-user': 'u-stacked' } })).status).toBe(200);
    } finally {
      await close();
    }
  });
});

describe('resilience() estimate(req)', () => {
  function estimating(warnings = warningLog()) {
    const { a } = appWith({
      validations: { default: false, estimate: true },
      logger: warnings.logger,
      // Reserves what the client asks for: nothing, or not a number, when it sends no valid max_tokens.
      estimate: (req) => ({ outputTokens: (req.body as { max_tokens?: number }).max_tokens }),
      limits: [{ id: 'user-tokens', scope: ['user'], metric: 'totalTokens', limit: 10_000, window: '1h' }],
    });
    a.post('/chat', (_req, res) => void res.json({ ok: true }));
    return { a, warnings };
  }
  const post = (url: string, body: object) =>
    fetch(`${url}/chat`, { method: 'POST', headers: { 'x-user': 'u1', 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('keeps the default for a field given as undefined, silently', async () => {
    const { a, warnings } = estimating();
    const { url, close } = await listen(a);
    try {
      expect((await post(url, { max_tokens: 300 })).status).toBe(200);
      const without = await post(url, {});
      expect(without.status).toBe(200);
      // The default (1 input and 1 output token) reserved: the first request's 301 were given back.
      expect(without.headers.get('ratelimit')).toContain('remaining=9998,');
      expect(warnings.codes()).toEqual([]);
    } finally {
      await close();
    }
  });

  it('still checks a token budget when estimate(req) gives 0 tokens: an over-budget team is denied however little its clients ask for', async () => {
    const { a } = appWith({
      estimate: () => ({ inputTokens: 0, outputTokens: 0, costUsd: 0 }),
      limits: [
        { id: 'team-tokens', scope: ['team'], metric: 'totalTokens', limit: 30, window: '1h' },
        { id: 'team-out', scope: ['team'], metric: 'outputTokens', limit: 1000, window: '1h' },
      ],
    });
    a.post('/chat', async (req, res) => {
      const r = await req.resilience.execute('solo', streamCall, { stream: true, input: { prompt: 'hello' }, maxOutputTokens: 0 });
      r.complete({ inputTokens: 10, outputTokens: 15 });
      res.json({ limits: req.resilience.limits });
    });
    const { url, close } = await listen(a);
    try {
      const first = await fetch(`${url}/chat`, { method: 'POST', headers: { 'x-team': 'zero' } });
      // Each rule was reserved the least unit (1 token per field) instead of being skipped.
      const reserved = ((await first.json()) as { limits: Array<{ id: string; remaining: number }> }).limits.map((l) => [l.id, Math.floor(l.remaining)]);
      expect(reserved).toEqual([
        ['team-tokens', 28],
        ['team-out', 999],
      ]);
      // Settled with the 25 used: 5 left, enough for one more request that uses 25.
      expect((await fetch(`${url}/chat`, { method: 'POST', headers: { 'x-team': 'zero' } })).status).toBe(200);
      // 50 of 30 spent: denied, though the estimate is still 0.
      const denied = await fetch(`${url}/chat`, { method: 'POST', headers: { 'x-team': 'zero' } });
      expect(denied.status).toBe(429);
      expect(denied.headers.get('ratelimit')).toMatch(/^limit=30, remaining=0, /);
    } finally {
      await close();
    }
  });

  it('reserves the default for a field that is not a finite number >= 0, with one warning, instead of failing the request', async () => {
    const { a, warnings } = estimating();
    const { url, close } = await listen(a);
    try {
      expect((await post(url, { max_tokens: 'lots' })).status).toBe(200);
      expect((await post(url, { max_tokens: -5 })).status).toBe(200);
      expect(warnings.codes()).toEqual(['ERR_LLMR_EXPRESS_INVALID_ESTIMATE']);
      expect(warnings.messages()[0]).toContain('estimate(req) returned outputTokens: a string');
      expect(warnings.messages()[0]).not.toContain('lots');
    } finally {
      await close();
    }
  });
});
