import { concat, defer, lastValueFrom, of, throwError, toArray } from 'rxjs';
import { catchBeforeFirstValue } from './catchBeforeFirstValue';

describe('catchBeforeFirstValue', () => {
  it('replaces an error that comes before any value, and lets it go on when replace gives undefined', async () => {
    const boom = new Error('boom');
    await expect(lastValueFrom(throwError(() => boom).pipe(catchBeforeFirstValue(() => of('instead'))))).resolves.toBe('instead');
    await expect(lastValueFrom(throwError(() => boom).pipe(catchBeforeFirstValue(() => undefined)))).rejects.toBe(boom);
  });

  it('lets an error after a value go on, per subscription', async () => {
    let subscriptions = 0;
    const source = defer(() => (++subscriptions === 1 ? concat(of('a'), throwError(() => new Error('late'))) : throwError(() => new Error('early'))));
    const guarded = source.pipe(catchBeforeFirstValue(() => of('instead')), toArray());
    await expect(lastValueFrom(guarded)).rejects.toThrow('late');
    await expect(lastValueFrom(guarded)).resolves.toEqual(['instead']);
  });
});
