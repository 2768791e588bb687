import type { Admission, Scheduled } from './types';

/*
 * Shared by the scheduler's tests: a promise's outcome read synchronously, and a limiter call that
 * hangs. (Like engine/engineTestKit.ts, a test helper: not exported by the package.)
 */

/** What a scheduled promise has come to so far. */
export interface Tracked<T> {
  status: 'pending' | 'resolved' | 'rejected';
  value?: Scheduled<T>;
  error?: unknown;
}

/** Follows `p`: its status, value or error can be read at any time without awaiting it. */
export function track<T>(p: Promise<Scheduled<T>>): Tracked<T> {
  const t: Tracked<T> = { status: 'pending' };
  p.then(
    (v) => {
      t.status = 'resolved';
      t.value = v;
    },
    (e: unknown) => {
      t.status = 'rejected';
      t.error = e;
    },
  );
  return t;
}

/** A `tryAdmit` denied on its first call (retry in `retryAfterMs`), then hanging until `answer` is called. */
export function hangsAfterDenial(retryAfterMs: number): {
  tryAdmit: () => Admission<string> | Promise<Admission<string>>;
  answer: (a: Admission<string>) => void;
  calls: () => number;
} {
  let calls = 0;
  let answer: (a: Admission<string>) => void = () => {};
  return {
    tryAdmit: () => {
      if (++calls === 1) return { ok: false, retryAfterMs, reason: 'rule:test' };
      return new Promise<Admission<string>>((r) => (answer = r));
    },
    answer: (a) => answer(a),
    calls: () => calls,
  };
}
