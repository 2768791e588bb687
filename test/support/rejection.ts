/**
 * What a promise rejected with; throws when it resolved. Shared by every package's test support.
 *
 * @example
 * ```ts
 * const err = await rejection(engine.execute(request, call));
 * expect(err).toBeInstanceOf(RequestFailedError);
 * ```
 */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}
