/**
 * The writer of a LangChain log handler (`LogStreamCallbackHandler.writer`, which `streamLog()` and
 * `streamEvents` v1 read) that drops what is written once the log was closed. When a log is left early,
 * LangChain's stream wrappers stop waiting for the stream on the abort and close the log, while the
 * stream's runs still end (an attempt failed as cancelled, the call's own run): their callbacks write to
 * a closed writer, which Node's web streams answer with an `ERR_INTERNAL_ASSERTION` that LangChain logs
 * as a warning ("Error in handler LogStreamCallbackHandler, ..."). Nobody reads a log after it closed,
 * so those writes are dropped. Everything else is the wrapped writer's.
 *
 * @example
 * ```ts
 * handler.writer = new LogWriter(handler.writer);
 * await handler.writer.close();
 * await handler.writer.write(patch); // dropped: resolves, writes nothing
 * ```
 */
export class LogWriter<W = unknown> implements WritableStreamDefaultWriter<W> {
  private ended = false;

  constructor(private readonly writer: WritableStreamDefaultWriter<W>) {}

  get closed(): WritableStreamDefaultWriter<W>['closed'] {
    return this.writer.closed;
  }

  get desiredSize(): number | null {
    return this.writer.desiredSize;
  }

  get ready(): WritableStreamDefaultWriter<W>['ready'] {
    return this.writer.ready;
  }

  write(chunk?: W): Promise<void> {
    return this.ended ? Promise.resolve() : this.writer.write(chunk);
  }

  close(): Promise<void> {
    this.ended = true;
    return this.writer.close();
  }

  abort(reason?: unknown): Promise<void> {
    this.ended = true;
    return this.writer.abort(reason);
  }

  releaseLock(): void {
    this.writer.releaseLock();
  }
}
