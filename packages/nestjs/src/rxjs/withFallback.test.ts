import { RateLimitExceededError } from '@llm-resilience/core';
import { ForbiddenException, ServiceUnavailableException } from '@nestjs/common';
import OpenAI from 'openai';
import { resilienceHttpResponse } from '../http/toHttpException';
import { concat, defer, lastValueFrom, of, throwError, type Observable } from 'rxjs';
import { NestConfigError } from '../NestConfigError';
import { withFallback } from './withFallback';

const overloaded = () => OpenAI.APIError.generate(503, { error: { message: 'busy' } }, undefined, new Headers());
const filtered = () => OpenAI.APIError.generate(400, { error: { message: 'no', code: 'content_filter' } }, undefined, new Headers());
const fail = (e: () => unknown): Observable<string> => throwError(e);

describe('withFallback', () => {
  it('switches to the alternatives in order on fallback kinds, subscribing them lazily', async () => {
    let subscribed = 0;
    const third = defer(() => {
      subscribed++;
      return of('third');
    });
    await expect(lastValueFrom(fail(overloaded).pipe(withFallback(fail(overloaded), of('second'), third)))).resolves.toBe('second');
    expect(subscribed).toBe(0);
  });

  it('passes errors whose kind is not in `on`', async () => {
    await expect(lastValueFrom(fail(filtered).pipe(withFallback(of('backup'))))).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(lastValueFrom(fail(overloaded).pipe(withFallback(of('backup'), { on: ['rate_limited'] })))).rejects.toBeInstanceOf(
      OpenAI.InternalServerError,
    );
  });

  it('gives function alternatives the error and its kind; understands the engine errors', async () => {
    const limited = new RateLimitExceededError({ ruleId: 'user-rpm', metric: 'requests', scope: { user: 'u1' }, retryAfterMs: 1000 });
    const seen: string[] = [];
    const result = lastValueFrom(
      fail(() => limited).pipe(
        withFallback((err, kind) => {
          seen.push(kind);
          expect(err).toBe(limited);
          return of('canned');
        }, { on: ['rate_limited'], onFallback: (i) => seen.push(`fallback ${i.index}`) }),
      ),
    );
    await expect(result).resolves.toBe('canned');
    expect(seen).toEqual(['fallback 0', 'rate_limited']);
  });

  it("passes the application's own HttpExceptions on as thrown, whatever `on` says", async () => {
    const forbidden = new ForbiddenException('You cannot read this document.');
    const maintenance = new ServiceUnavailableException('Down for maintenance.');
    const fallbacks: unknown[] = [];
    const op = withFallback<string>(of('canned'), { on: ['auth', 'overloaded', 'invalid_request'], onFallback: (i) => fallbacks.push(i) });
    await expect(lastValueFrom(fail(() => forbidden).pipe(op))).rejects.toBe(forbidden);
    await expect(lastValueFrom(fail(() => maintenance).pipe(op))).rejects.toBe(maintenance);
    expect(fallbacks).toEqual([]);
  });

  it('still falls back on an engine error that ResilienceInterceptor rendered as an HttpException', async () => {
    const limited = new RateLimitExceededError({ ruleId: 'user-rpm', metric: 'requests', scope: { user: 'u1' }, retryAfterMs: 1000 });
    const rendered = resilienceHttpResponse(limited, 'customer', undefined)!.exception;
    expect(rendered.getStatus()).toBe(429);
    await expect(lastValueFrom(fail(() => rendered).pipe(withFallback(of('canned'), { on: ['rate_limited'] })))).resolves.toBe('canned');
  });

  it('errors with the last alternative error when every one fails', async () => {
    const last = new Error('socket hang up');
    await expect(lastValueFrom(fail(overloaded).pipe(withFallback(fail(overloaded), fail(() => last))))).rejects.toBe(last);
  });

  it('takes promises and arrays as alternatives', async () => {
    await expect(lastValueFrom(fail(overloaded).pipe(withFallback(Promise.resolve('p'))))).resolves.toBe('p');
    await expect(lastValueFrom(fail(overloaded).pipe(withFallback(['a', 'b'])))).resolves.toBe('b');
  });

  it.each<[string, unknown[], string]>([
    ['`on` given as a string', [of('x'), { on: 'overloaded' }], "withFallback options.on: expected an array of error kinds, such as ['overloaded'], got 'overloaded'."],
    ['an unknown kind in `on`', [of('x'), { on: ['busy'] }], "withFallback options.on[0]: 'busy' is not an error kind; known: rate_limited,"],
    ['an unknown option', [of('x'), { onn: ['overloaded'] }], "withFallback options.onn: not an option (did you mean 'on'?); known: on, onFallback."],
    ['onFallback not a function', [of('x'), { onFallback: 'log' }], 'withFallback options.onFallback: expected a function ({ index, kind, error }) => void, got a string.'],
    ['no alternative', [{ on: ['overloaded'] }], 'withFallback: expected at least one alternative'],
    ['an undefined alternative', [undefined], 'withFallback alternatives[0]: expected an ObservableInput (Observable, Promise, array, iterable) or a function (error, kind) => ObservableInput, got undefined.'],
    ['a number alternative', [of('x'), 5], 'withFallback alternatives[1]: expected an ObservableInput'],
    ['a string alternative', ['Sorry, we are busy.'], "withFallback alternatives[0]: a string would be emitted character by character; pass of('...') or ['...']."],
  ])('rejects %s when the operator is created', (_name, args, message) => {
    let caught: unknown;
    try {
      withFallback(...(args as never[]));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(NestConfigError);
    expect((caught as Error).message.startsWith(message)).toBe(true);
  });

  it('takes an array-like object as an alternative, not as options', async () => {
    await expect(lastValueFrom(fail(overloaded).pipe(withFallback({ length: 1, 0: 'from array-like' } as never)))).resolves.toBe('from array-like');
  });

  it('does not splice an alternative after values the source already emitted: the error goes on', async () => {
    const seen: string[] = [];
    let error: unknown;
    let fellBack = 0;
    const stream = concat(of('The primary ', 'answer is'), throwError(overloaded));
    stream.pipe(withFallback(of('Sorry, we are busy.'), { onFallback: () => fellBack++ })).subscribe({ next: (v) => seen.push(v), error: (e: unknown) => (error = e) });
    await Promise.resolve();
    expect(seen).toEqual(['The primary ', 'answer is']);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(fellBack).toBe(0);
    // An alternative that fails before emitting still hands over to the next one, once per subscription.
    const chained = fail(overloaded).pipe(withFallback(fail(overloaded), of('second')));
    await expect(lastValueFrom(chained)).resolves.toBe('second');
    await expect(lastValueFrom(chained)).resolves.toBe('second');
  });
});
