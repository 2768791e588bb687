import { NEVER, Observable, of, Subject, throwError } from 'rxjs';
import { collect, isObservableType, valuesOf } from './collect';

describe('collect', () => {
  it('resolves with every value once complete, rejects on error', async () => {
    await expect(collect(of(1, 2, 3))).resolves.toEqual([1, 2, 3]);
    await expect(collect(throwError(() => new Error('boom')))).rejects.toThrow('boom');
  });

  it('unsubscribes and rejects with the reason when the signal aborts', async () => {
    const subject = new Subject<number>();
    const controller = new AbortController();
    const p = collect(subject, controller.signal);
    subject.next(1);
    controller.abort(new Error('timeout'));
    await expect(p).rejects.toThrow('timeout');
    expect(subject.observed).toBe(false);
    await expect(collect(NEVER, controller.signal)).rejects.toThrow('timeout');
  });
});

describe('valuesOf / isObservableType', () => {
  it('turns observables, promises and values into value lists', async () => {
    await expect(valuesOf(of('a', 'b'))).resolves.toEqual(['a', 'b']);
    await expect(valuesOf(Promise.resolve('p'))).resolves.toEqual(['p']);
    await expect(valuesOf('v')).resolves.toEqual(['v']);
  });

  it('recognises Observable classes only', () => {
    expect(isObservableType(Observable)).toBe(true);
    expect(isObservableType(Subject)).toBe(true);
    expect(isObservableType(Promise)).toBe(false);
    expect(isObservableType(Object)).toBe(false);
    expect(isObservableType(undefined)).toBe(false);
  });
});
