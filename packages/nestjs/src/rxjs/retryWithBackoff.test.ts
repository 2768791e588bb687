import { constantBackoff, definePolicy, exponentialBackoff, RetryBudget } from '@llm-resilience/core';
import { ForbiddenException, HttpException, ServiceUnavailableException } from '@nestjs/common';
import OpenAI from 'openai';
import { concat, defer, from, lastValueFrom, of, throwError, VirtualTimeScheduler } from 'rxjs';
import { NestConfigError } from '../NestConfigError';
import { retryWithBackoff, type RetryInfo } from './retryWithBackoff';

function apiError(status: number, headers: Record<string, string> = {}, error: Record<string, unknown> = { message: 'x' }) {
  return OpenAI.APIError.generate(status, { error }, undefined, new Headers(headers));
}

/** A source failing with `errors` in turn, then emitting 'ok'; counts subscriptions and their virtual times. */
function flaky(errors: unknown[], scheduler: VirtualTimeScheduler) {
  const at: number[] = [];
  const source = defer(() => {
    at.push(scheduler.now());
    const e = errors[at.length - 1];
    return e === undefined ? of('ok') : throwError(() => e);
  });
  return { source, at };
}

function run<T>(scheduler: VirtualTimeScheduler, o: import('rxjs').Observable<T>) {
  const out: { value?: T; error?: unknown } = {};
  o.subscribe({ next: (v) => (out.value = v), error: (e: unknown) => (out.error = e) });
  scheduler.flush();
  return out;
}

describe('retryWithBackoff', () => {
  it('waits for the provider hint (retry-after-ms) instead of the backoff', () => {
    const scheduler = new VirtualTimeScheduler();
    const { source, at } = flaky([apiError(429, { 'retry-after-ms': '850' })], scheduler);
    const retries: RetryInfo[] = [];
    const out = run(scheduler, source.pipe(retryWithBackoff({ scheduler, budget: false, onRetry: (r) => retries.push(r) })));
    expect(out.value).toBe('ok');
    expect(at).toEqual([0, 850]);
    expect(retries).toEqual([{ retry: 1, kind: 'rate_limited', delayMs: 850, source: 'hint' }]);
  });

  it('backs off after Retry-After: 0 instead of retrying at once, as the engine does', () => {
    const scheduler = new VirtualTimeScheduler();
    const { source, at } = flaky([apiError(503, { 'retry-after': '0' }), apiError(503, { 'retry-after-ms': '0' })], scheduler);
    const retries: RetryInfo[] = [];
    const out = run(
      scheduler,
      source.pipe(
        retryWithBackoff({ scheduler, budget: false, random: () => 0.5, perKind: { overloaded: 2 }, backoff: exponentialBackoff({ base: 100, max: 10_000 }), onRetry: (r) => retries.push(r) }),
      ),
    );
    expect(out.value).toBe('ok');
    expect(at).toEqual([0, 100, 300]);
    expect(retries.map((r) => r.source)).toEqual(['backoff', 'backoff']);
  });

  it('grows the backoff with every retry, whatever their kinds (a 503, then a 429), as the engine does', () => {
    const scheduler = new VirtualTimeScheduler();
    const { source, at } = flaky([apiError(503), apiError(429)], scheduler);
    const out = run(
      scheduler,
      source.pipe(retryWithBackoff({ scheduler, budget: false, random: () => 0.5, backoff: exponentialBackoff({ base: 100, max: 10_000 }) })),
    );
    expect(out.value).toBe('ok');
    // 0.5 * 100 * 2^1 = 100, then 0.5 * 100 * 2^2 = 200 (not 2^1 again for the new kind)
    expect(at).toEqual([0, 100, 300]);
  });

  it('uses the backoff without a hint, growing per retry of the same kind', () => {
    const scheduler = new VirtualTimeScheduler();
    const { source, at } = flaky([apiError(429), apiError(429)], scheduler);
    const out = run(
      scheduler,
      source.pipe(retryWithBackoff({ scheduler, budget: false, random: () => 0.5, backoff: exponentialBackoff({ base: 100, max: 10_000 }) })),
    );
    expect(out.value).toBe('ok');
    // 0.5 * 100 * 2^1 = 100, then 0.5 * 100 * 2^2 = 200
    expect(at).toEqual([0, 100, 300]);
  });

  it('retries each kind only as often as perKind allows, and never kinds not listed', () => {
    const scheduler = new VirtualTimeScheduler();
    const overloaded = flaky([apiError(503), apiError(503)], scheduler);
    const out = run(scheduler, overloaded.source.pipe(retryWithBackoff({ scheduler, budget: false, backoff: constantBackoff({ delay: 10 }) })));
    expect(out.error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(overloaded.at).toEqual([0, 10]);

    const policy = flaky([apiError(400, {}, { message: 'filtered', code: 'content_filter' })], scheduler);
    const out2 = run(scheduler, policy.source.pipe(retryWithBackoff({ scheduler, budget: false })));
    expect(out2.error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(policy.at).toHaveLength(1);
  });

  it('does not wait for a hint longer than maxHintMs', () => {
    const scheduler = new VirtualTimeScheduler();
    const { source, at } = flaky([apiError(429, { 'retry-after': '120' })], scheduler);
    const out = run(scheduler, source.pipe(retryWithBackoff({ scheduler, budget: false, maxHintMs: 60_000 })));
    expect(out.error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(at).toEqual([0]);
  });

  it('stops retrying when the shared retry budget runs low', () => {
    const scheduler = new VirtualTimeScheduler();
    const budget = new RetryBudget({ maxTokens: 4, tokenRatio: 1 });
    const op = retryWithBackoff<string>({ scheduler, budget, backoff: constantBackoff({ delay: 1 }) });
    const first = flaky([apiError(503)], scheduler);
    expect(run(scheduler, first.source.pipe(op)).value).toBe('ok'); // 4 -> 3 tokens, success gives one back
    expect(budget.available).toBe(4);
    const a = flaky([apiError(503), apiError(503)], scheduler);
    run(scheduler, a.source.pipe(op)); // two failures: 4 -> 2
    const b = flaky([apiError(503)], scheduler);
    const out = run(scheduler, b.source.pipe(op)); // 2 -> 1: not more than half left, no retry
    expect(out.error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(b.at).toHaveLength(1);
  });

  it("never retries the application's own HttpExceptions, whatever their status, and leaves the budget alone", () => {
    const budget = new RetryBudget({ maxTokens: 4, tokenRatio: 1 });
    const perKind = { rate_limited: 2, overloaded: 2, auth: 2 };
    for (const exception of [new ServiceUnavailableException('Maintenance.'), new HttpException('Slow down.', 429), new ForbiddenException('No access.')]) {
      const scheduler = new VirtualTimeScheduler();
      const { source, at } = flaky([exception], scheduler);
      const retries: RetryInfo[] = [];
      const out = run(scheduler, source.pipe(retryWithBackoff({ scheduler, budget, perKind, onRetry: (r) => retries.push(r) })));
      expect(out.error).toBe(exception);
      expect(at).toEqual([0]);
      expect(retries).toEqual([]);
    }
    expect(budget.available).toBe(4);
  });

  it('accepts a route RetryPolicy of the engine as is', () => {
    const policy = definePolicy({
      targets: { a: { provider: 'openai', model: 'm' } },
      routes: { r: { chain: ['a'], retry: { maxAttempts: 2, perKind: { overloaded: 5 }, backoff: { strategy: 'constant', delay: 7 } } } },
    });
    const scheduler = new VirtualTimeScheduler();
    const { source, at } = flaky([apiError(503), apiError(503)], scheduler);
    const out = run(scheduler, source.pipe(retryWithBackoff({ ...policy.routes.r!.retry, scheduler, budget: false })));
    expect(out.error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(at).toEqual([0, 7]); // maxAttempts 2 caps the 5 allowed retries
  });

  it('resolves with real timers too', async () => {
    const { source } = flaky([apiError(429, { 'retry-after-ms': '1' })], new VirtualTimeScheduler());
    await expect(lastValueFrom(source.pipe(retryWithBackoff({ budget: false })))).resolves.toBe('ok');
  });

  it('rejects a maxAttempts below 1', () => {
    expect(() => retryWithBackoff({ maxAttempts: 0 })).toThrow(NestConfigError);
  });

  it.each<[string, object, number[]]>([
    ['constant', { strategy: 'constant', delay: 1 }, [0, 1, 2]],
    ['constant, a duration string', { strategy: 'constant', delay: '1s' }, [0, 1000, 2000]],
    ['exponential', { strategy: 'exponential', base: 100, max: '10s' }, [0, 100, 300]], // 0.5 * 100 * 2^1, then 0.5 * 100 * 2^2
    ['decorrelated', { strategy: 'decorrelated', base: 100, max: 10_000 }, [0, 200, 550]], // 100 + 0.5 * (300 - 100), then 100 + 0.5 * (600 - 100)
  ])('accepts the policy config form of backoff (%s), built with the core factories', (_name, backoff, at) => {
    const scheduler = new VirtualTimeScheduler();
    const flakySource = flaky([apiError(429), apiError(429)], scheduler);
    const out = run(scheduler, flakySource.source.pipe(retryWithBackoff({ scheduler, budget: false, random: () => 0.5, backoff: backoff as never })));
    expect(out.value).toBe('ok');
    expect(flakySource.at).toEqual(at);
  });

  it.each<[string, unknown, string]>([
    ['null options', null, 'retryWithBackoff: expected an options object (or nothing), got null.'],
    ['an unknown key', { maxAttemps: 3 }, "retryWithBackoff maxAttemps: not an option (did you mean 'maxAttempts'?); known: maxAttempts, perKind,"],
    ['a maxAttempts string', { maxAttempts: '3' }, "retryWithBackoff maxAttempts: expected an integer >= 1 (subscriptions in all, the first included), got '3'."],
    ['a BigInt maxAttempts', { maxAttempts: 3n }, 'retryWithBackoff maxAttempts: expected an integer >= 1 (subscriptions in all, the first included), got a bigint.'],
    ['a negative perKind', { perKind: { overloaded: -1 } }, 'retryWithBackoff perKind.overloaded: expected an integer >= 0 (retries of that kind), got -1.'],
    ['a perKind string', { perKind: 'x' }, "retryWithBackoff perKind: expected an object of error kinds to retry counts, such as { rate_limited: 2 }, got 'x'."],
    ['an unknown kind in perKind', { perKind: { busy: 2 } }, 'retryWithBackoff perKind.busy: not an error kind; known: rate_limited,'],
    ['a backoff of unknown strategy', { backoff: { strategy: 'linear' } }, "retryWithBackoff backoff.strategy: expected 'exponential', 'decorrelated' or 'constant' (or a Backoff with a delay() method), got 'linear'."],
    ['a backoff config with a key of another strategy', { backoff: { strategy: 'constant', base: 5 } }, 'retryWithBackoff backoff.base: not an option; known: strategy, delay.'],
    ['a backoff config with a bad duration', { backoff: { strategy: 'constant', delay: -1 } }, "retryWithBackoff backoff.delay: expected a duration (ms, or '500ms', '1s', '1m', ...), got -1."],
    ['a backoff that is a number', { backoff: 500 }, 'retryWithBackoff backoff: expected a Backoff (exponentialBackoff(...)) or { strategy, ... }, got 500.'],
    ['maxHintMs NaN', { maxHintMs: Number.NaN }, 'retryWithBackoff maxHintMs: expected a number of ms (0 or more), got NaN.'],
    ['budget true', { budget: true }, 'retryWithBackoff budget: expected a RetryBudget (new RetryBudget(), engine.retryBudget(provider)) or false, got true.'],
    ['random a string', { random: 'x' }, "retryWithBackoff random: expected a function () => number in [0, 1), got 'x'."],
    ['a scheduler without now()', { scheduler: {} }, 'retryWithBackoff scheduler: expected an rxjs scheduler (with now() and schedule()), got an object.'],
    ['onRetry a number', { onRetry: 1 }, 'retryWithBackoff onRetry: expected a function (info) => void, got 1.'],
  ])('rejects %s when the operator is created', (_name, options, message) => {
    let caught: unknown;
    try {
      retryWithBackoff(options as never);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(NestConfigError);
    expect(caught).toMatchObject({ code: 'ERR_LLMR_NEST_INVALID_OPTIONS' });
    expect((caught as Error).message.startsWith(message)).toBe(true);
  });

  it('accepts the engine RetryBudget and a budget of another copy of the core', () => {
    expect(() => retryWithBackoff({ budget: new RetryBudget() })).not.toThrow();
    expect(() => retryWithBackoff({ budget: { canRetry: () => true, onSuccess() {}, onFailure() {} } as unknown as RetryBudget })).not.toThrow();
  });
  describe('after a 429 whose only hint is the reset of an exhausted quota', () => {
    /** OpenAI's headers on a 429 for tokens per minute: requests to spare, no tokens left, full again in `reset`. */
    const tokensSpent = (reset = '6m0s') => ({
      'x-ratelimit-limit-requests': '500',
      'x-ratelimit-remaining-requests': '499',
      'x-ratelimit-reset-requests': '120ms',
      'x-ratelimit-limit-tokens': '10000',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': reset,
    });
    const rateLimitError = (headers: Record<string, string>) =>
      new OpenAI.RateLimitError(429, { message: 'Rate limit reached for gpt-4o on tokens per min (TPM).', type: 'tokens', code: 'rate_limit_exceeded' }, undefined, new Headers(headers));

    it("retries once a request's share has refilled (seconds), not after the 6 min reset nor giving up over maxHintMs", () => {
      const scheduler = new VirtualTimeScheduler();
      const { source, at } = flaky([rateLimitError(tokensSpent())], scheduler);
      const retries: RetryInfo[] = [];
      const out = run(scheduler, source.pipe(retryWithBackoff({ scheduler, budget: false, random: () => 0.5, onRetry: (r) => retries.push(r) })));
      expect(out.value).toBe('ok');
      // 10 000 tokens in 6 min: one token and the 200-token margin are back after 7.236 s; 361 ms of spread (0.5 × 10%).
      expect(at).toEqual([0, 7_597]);
      expect(retries).toEqual([{ retry: 1, kind: 'rate_limited', delayMs: 7_597, source: 'quota_share' }]);
    });

    it("computes each retry's wait from that 429's own headers", () => {
      const scheduler = new VirtualTimeScheduler();
      // The second 429 comes 7.236 s later: full in 5m52.8s, 201 tokens back after 7.092 s.
      const { source, at } = flaky([rateLimitError(tokensSpent()), rateLimitError(tokensSpent('5m52.8s'))], scheduler);
      const retries: RetryInfo[] = [];
      const out = run(scheduler, source.pipe(retryWithBackoff({ scheduler, budget: false, random: () => 0, onRetry: (r) => retries.push(r) })));
      expect(out.value).toBe('ok');
      expect(at).toEqual([0, 7_236, 14_328]);
      expect(retries.map((r) => r.source)).toEqual(['quota_share', 'quota_share']);
    });

    it("does not retry when one request's share takes longer than maxHintMs", () => {
      const scheduler = new VirtualTimeScheduler();
      // 10 requests an hour: one back every 6 min.
      const hourly = rateLimitError({ 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1h' });
      const { source, at } = flaky([hourly], scheduler);
      const out = run(scheduler, source.pipe(retryWithBackoff({ scheduler, budget: false })));
      expect(out.error).toBe(hourly);
      expect(at).toEqual([0]);
    });

    it('waits for the reset itself when the headers show nothing back sooner (no limit, or a one-request quota)', () => {
      const scheduler = new VirtualTimeScheduler();
      const noLimit = rateLimitError({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '2s' });
      const { source, at } = flaky([noLimit], scheduler);
      const retries: RetryInfo[] = [];
      const out = run(scheduler, source.pipe(retryWithBackoff({ scheduler, budget: false, backoff: constantBackoff({ delay: 100 }), onRetry: (r) => retries.push(r) })));
      // A retry on the 100 ms backoff would only be refused again: the 2 s reset is the hint.
      expect(out.value).toBe('ok');
      expect(at).toEqual([0, 2_000]);
      expect(retries).toEqual([{ retry: 1, kind: 'rate_limited', delayMs: 2_000, source: 'hint' }]);
    });

    it.each([
      ['one request an hour, used (the share is the whole quota)', { 'x-ratelimit-limit-requests': '1', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1h' }],
      ['no requests left for 20 min, no limit reported (no refill rate)', { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '20m0s' }],
      ['no tokens left for 6 min, no limit reported (no refill rate)', { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' }],
    ])('%s: is not retried when the reset is over maxHintMs, as the engine decides', (_, headers) => {
      const scheduler = new VirtualTimeScheduler();
      const e = rateLimitError(headers);
      const { source, at } = flaky([e, e, e], scheduler);
      const retries: RetryInfo[] = [];
      const out = run(scheduler, source.pipe(retryWithBackoff({ scheduler, budget: false, random: () => 0.5, onRetry: (r) => retries.push(r) })));
      expect(retries).toEqual([]);
      expect(at).toEqual([0]);
      expect(out.error).toBe(e);
    });

    it('keeps a retry-after the provider sent beside the rate-limit headers, as before', () => {
      const scheduler = new VirtualTimeScheduler();
      const { source, at } = flaky([rateLimitError({ ...tokensSpent(), 'retry-after': '2' })], scheduler);
      const retries: RetryInfo[] = [];
      run(scheduler, source.pipe(retryWithBackoff({ scheduler, budget: false, onRetry: (r) => retries.push(r) })));
      expect(at).toEqual([0, 2_000]);
      expect(retries).toEqual([{ retry: 1, kind: 'rate_limited', delayMs: 2_000, source: 'hint' }]);

      // Exactly as long as the reset, and over maxHintMs: the provider's word, not waited for.
      const long = rateLimitError({ ...tokensSpent(), 'retry-after': '360' });
      const second = flaky([long], scheduler);
      const out = run(scheduler, second.source.pipe(retryWithBackoff({ scheduler, budget: false })));
      expect(out.error).toBe(long);
      expect(second.at).toHaveLength(1);
    });

    it("keeps the provider's own hint even when it is exactly as long as the reset", () => {
      const scheduler = new VirtualTimeScheduler();
      // "try again in 6m0s" and the 6 min token reset: the provider's word (over maxHintMs: not retried), not a quota reset.
      const text = new OpenAI.RateLimitError(
        429,
        { message: 'Rate limit reached for gpt-4o on tokens per min (TPM). Please try again in 6m0s.', type: 'tokens', code: 'rate_limit_exceeded' },
        undefined,
        new Headers(tokensSpent()),
      );
      const first = flaky([text], scheduler);
      expect(run(scheduler, first.source.pipe(retryWithBackoff({ scheduler, budget: false }))).error).toBe(text);
      expect(first.at).toHaveLength(1);
      // A retry-after on a wrapped 429: the provider's hint too.
      const wrapped = new Error('model call failed', { cause: rateLimitError({ ...tokensSpent(), 'retry-after': '360' }) });
      const second = flaky([wrapped], scheduler);
      expect(run(scheduler, second.source.pipe(retryWithBackoff({ scheduler, budget: false }))).error).toBe(wrapped);
      expect(second.at).toHaveLength(1);
    });

    it('waits for the share of a 429 wrapped in another error', () => {
      const scheduler = new VirtualTimeScheduler();
      const { source, at } = flaky([new Error('model call failed', { cause: rateLimitError(tokensSpent()) })], scheduler);
      const retries: RetryInfo[] = [];
      run(scheduler, source.pipe(retryWithBackoff({ scheduler, budget: false, random: () => 0, onRetry: (r) => retries.push(r) })));
      expect(at).toEqual([0, 7_236]);
      expect(retries.map((r) => r.source)).toEqual(['quota_share']);
    });

    it('uses the backoff for a 429 without any headers, as before', () => {
      const scheduler = new VirtualTimeScheduler();
      const { source, at } = flaky([rateLimitError({})], scheduler);
      const retries: RetryInfo[] = [];
      const op = retryWithBackoff<string>({ scheduler, budget: false, random: () => 0.5, backoff: exponentialBackoff({ base: 100, max: 10_000 }), onRetry: (r) => retries.push(r) });
      expect(run(scheduler, source.pipe(op)).value).toBe('ok');
      expect(at).toEqual([0, 100]);
      expect(retries).toEqual([{ retry: 1, kind: 'rate_limited', delayMs: 100, source: 'backoff' }]);
    });
  });

  it('does not re-run a source that already emitted (a stream would send its chunks twice): the error goes on', () => {
    const scheduler = new VirtualTimeScheduler();
    let subscriptions = 0;
    const stream = defer(() => {
      subscriptions++;
      return subscriptions === 1 ? concat(of('Hel', 'lo'), throwError(() => apiError(503))) : of('Hel', 'lo', ' world');
    });
    const seen: string[] = [];
    let error: unknown;
    stream.pipe(retryWithBackoff<string>({ scheduler, budget: false, backoff: constantBackoff({ delay: 1 }) })).subscribe({ next: (v) => seen.push(v), error: (e: unknown) => (error = e) });
    scheduler.flush();
    expect(seen).toEqual(['Hel', 'lo']);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(subscriptions).toBe(1);
  });

  it('gives the budget back once per source that completes, not once per value', () => {
    const scheduler = new VirtualTimeScheduler();
    const budget = new RetryBudget(); // 10 tokens, 0.1 back per success, retries while above 5
    for (let i = 0; i < 6; i++) budget.onFailure();
    const seen: string[] = [];
    from(Array.from({ length: 20 }, (_, i) => `chunk${i}`))
      .pipe(retryWithBackoff<string>({ scheduler, budget }))
      .subscribe((v) => seen.push(v));
    scheduler.flush();
    expect(seen).toHaveLength(20);
    expect(budget.available).toBeCloseTo(4.1, 5);
    expect(budget.canRetry()).toBe(false);
  });

  it('counts a stream that breaks after its first chunks against the budget, so a storm of them stops retries', () => {
    const scheduler = new VirtualTimeScheduler();
    const budget = new RetryBudget({ maxTokens: 10, tokenRatio: 0.1 });
    const breaking = defer(() => concat(from([1, 2, 3]), throwError(() => apiError(503))));
    for (let i = 0; i < 6; i++) {
      breaking.pipe(retryWithBackoff<number>({ scheduler, budget, backoff: constantBackoff({ delay: 1 }) })).subscribe({ error: () => undefined });
      scheduler.flush();
    }
    expect(budget.available).toBe(4);
    expect(budget.canRetry()).toBe(false);
  });
});
