import { EventEmitter } from 'node:events';
import { clientDisconnectSignal } from './disconnectSignal';

/** The parts of Node's ServerResponse and IncomingMessage the signal reads. */
function connection(state: { finished?: boolean; resDestroyed?: boolean; socketDestroyed?: boolean } = {}) {
  const res = Object.assign(new EventEmitter(), { writableFinished: state.finished ?? false, destroyed: state.resDestroyed ?? false });
  const req = { socket: { destroyed: state.socketDestroyed ?? false } };
  return { req, res };
}

describe('clientDisconnectSignal', () => {
  it('aborts when the connection closes before the response finished', () => {
    const { req, res } = connection();
    const signal = clientDisconnectSignal(req, res)!;
    expect(signal.aborted).toBe(false);
    res.emit('close');
    expect(signal.aborted).toBe(true);
    expect((signal.reason as DOMException).name).toBe('AbortError');
  });

  it('does not abort when the connection closes after the response finished', () => {
    const { req, res } = connection();
    const signal = clientDisconnectSignal(req, res)!;
    res.writableFinished = true;
    res.emit('close');
    expect(signal.aborted).toBe(false);
    expect(clientDisconnectSignal(req, connection({ finished: true, resDestroyed: true }).res)!.aborted).toBe(false);
  });

  it('is already aborted when the client left before it was made (its close will not fire again)', () => {
    const byResponse = connection({ resDestroyed: true });
    expect(clientDisconnectSignal(byResponse.req, byResponse.res)!.aborted).toBe(true);
    const bySocket = connection({ socketDestroyed: true });
    const signal = clientDisconnectSignal(bySocket.req, bySocket.res)!;
    expect(signal.aborted).toBe(true);
    expect((signal.reason as DOMException).name).toBe('AbortError');
  });

  it("reads Fastify's request and reply through their raw objects", () => {
    const { req, res } = connection({ socketDestroyed: true });
    expect(clientDisconnectSignal({ raw: req }, { raw: res })!.aborted).toBe(true);
    const open = connection();
    const signal = clientDisconnectSignal({ raw: open.req }, { raw: open.res })!;
    open.res.emit('close');
    expect(signal.aborted).toBe(true);
  });

  it('gives no signal for a response it cannot listen to', () => {
    expect(clientDisconnectSignal({}, {})).toBeUndefined();
    expect(clientDisconnectSignal(undefined, undefined)).toBeUndefined();
  });
});
