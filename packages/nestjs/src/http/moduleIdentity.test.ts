import type { Identity } from '@llm-resilience/core';
import type { ExecutionContext } from '@nestjs/common';
import { moduleIdentity } from './moduleIdentity';

/** The part of Nest's ExecutionContext the function reads: the HTTP request. */
function contextOf(req: unknown): ExecutionContext {
  return { switchToHttp: () => ({ getRequest: () => req }) } as unknown as ExecutionContext;
}

/** An identity function like an application's: counts its calls, answers with `answer(req, call)`. */
function counted(answer: (req: { user?: { id: string } }, call: number) => Identity | undefined) {
  const fn = Object.assign(
    async (context: ExecutionContext): Promise<Identity | undefined> => answer(context.switchToHttp().getRequest(), ++fn.calls),
    { calls: 0 },
  );
  return fn;
}

describe('moduleIdentity', () => {
  it("calls the module's identity once per request, later asks getting its first answer", async () => {
    // A session that changes between two reads: each call answers differently.
    const identity = counted((_req, call) => ({ user: `reading-${call}` }));
    const req = {};
    await expect(moduleIdentity(contextOf(req), identity)).resolves.toEqual({ user: 'reading-1' });
    await expect(moduleIdentity(contextOf(req), identity)).resolves.toEqual({ user: 'reading-1' });
    expect(identity.calls).toBe(1);
    // Another request is read on its own.
    await expect(moduleIdentity(contextOf({}), identity)).resolves.toEqual({ user: 'reading-2' });
    expect(identity.calls).toBe(2);
  });

  it('shares one call between asks made while it is still running', async () => {
    const identity = counted(() => ({ user: 'u1' }));
    const req = {};
    const both = await Promise.all([moduleIdentity(contextOf(req), identity), moduleIdentity(contextOf(req), identity)]);
    expect(both).toEqual([{ user: 'u1' }, { user: 'u1' }]);
    expect(identity.calls).toBe(1);
  });

  it('calls it again when req.user changed since (an auth guard ran in between), then reuses the new answer', async () => {
    const identity = counted((req) => ({ user: req.user?.id ?? '10.0.0.7' }));
    const req: { user?: { id: string } } = {};
    await expect(moduleIdentity(contextOf(req), identity)).resolves.toEqual({ user: '10.0.0.7' });
    req.user = { id: 'alice' };
    await expect(moduleIdentity(contextOf(req), identity)).resolves.toEqual({ user: 'alice' });
    await expect(moduleIdentity(contextOf(req), identity)).resolves.toEqual({ user: 'alice' });
    expect(identity.calls).toBe(2);
    // Another user object (a second auth guard replacing it): read again.
    req.user = { id: 'alice' };
    await moduleIdentity(contextOf(req), identity);
    expect(identity.calls).toBe(3);
  });

  it('calls it again when it gave no identity, keeping the first identity it gives', async () => {
    const req: { principal?: string } = {};
    const identity = counted(() => (req.principal ? { user: req.principal } : undefined));
    await expect(moduleIdentity(contextOf(req), identity)).resolves.toBeUndefined();
    await expect(moduleIdentity(contextOf(req), identity)).resolves.toBeUndefined();
    expect(identity.calls).toBe(2);
    // An auth guard that leaves its principal elsewhere than req.user.
    req.principal = 'bob';
    await expect(moduleIdentity(contextOf(req), identity)).resolves.toEqual({ user: 'bob' });
    await expect(moduleIdentity(contextOf(req), identity)).resolves.toEqual({ user: 'bob' });
    expect(identity.calls).toBe(3);
    // An identity with no value in it counts as none.
    const blank = counted(() => ({ user: '' }));
    await moduleIdentity(contextOf(req), blank);
    await moduleIdentity(contextOf(req), blank);
    expect(blank.calls).toBe(2);
  });

  it('turns a synchronous throw into a rejection, and calls it again after a failed reading', async () => {
    let calls = 0;
    const identity = (): Identity => {
      if (++calls === 1) throw new Error('no session store');
      return { user: 'u1' };
    };
    const req = {};
    const first = moduleIdentity(contextOf(req), identity);
    await expect(first).rejects.toThrow('no session store');
    await expect(moduleIdentity(contextOf(req), identity)).resolves.toEqual({ user: 'u1' });
    expect(calls).toBe(2);
  });

  it("keeps the readings of different identity functions apart (the last one read is kept)", async () => {
    const a = counted(() => ({ user: 'a' }));
    const b = counted(() => ({ user: 'b' }));
    const req = {};
    await expect(moduleIdentity(contextOf(req), a)).resolves.toEqual({ user: 'a' });
    await expect(moduleIdentity(contextOf(req), b)).resolves.toEqual({ user: 'b' });
    await expect(moduleIdentity(contextOf(req), b)).resolves.toEqual({ user: 'b' });
    expect([a.calls, b.calls]).toEqual([1, 1]);
  });

  it('calls it on every ask when the request is not an object (nothing to keep the reading beside)', async () => {
    const identity = counted(() => ({ user: 'u1' }));
    await moduleIdentity(contextOf(undefined), identity);
    await moduleIdentity(contextOf(undefined), identity);
    expect(identity.calls).toBe(2);
  });
});
